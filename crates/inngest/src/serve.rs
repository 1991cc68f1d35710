//! The HTTP endpoint Inngest calls: GET (introspection), PUT (sync), POST (calls, trust probe).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::client::{SDK_IDENT, now_secs};
use crate::config::{Mode, SigningKey};
use crate::error::Retry;
use crate::exec::{CallInput, CallOutcome, CallRequest, execute};
use crate::signature::{self, SignatureError};
use crate::sync::{in_band_body, introspection, public_serve_url, register_with};
use crate::{Client, Error, ServableFunction};

/// Options of [`serve_with`].
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Largest accepted request body. Inngest sends up to 4 MiB before switching to
    /// `use_api`, plus envelope; axum's own default (2 MB) is too small.
    pub body_limit: usize,
    /// Longest one `step.run` body may take in a call. Past it the step fails as a retriable
    /// `StepTimeout` step error (logged, with the SDK headers), so Inngest retries it like any
    /// other failure. `None`: no limit.
    pub step_timeout: Option<Duration>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            step_timeout: None,
        }
    }
}

/// [`ServeOptions::body_limit`] by default: 8 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

struct Handler {
    client: Client,
    functions: Vec<ServableFunction>,
    by_composite: HashMap<String, ServableFunction>,
    local_ids: Arc<HashSet<String>>,
    opts: ServeOptions,
}

/// An axum router answering GET/PUT/POST on `config.serve_path` (405 otherwise); merge it
/// into any axum 0.8 app with `.merge()`.
pub fn serve(client: Client, functions: Vec<ServableFunction>) -> Router {
    serve_with(client, functions, ServeOptions::default())
}

/// [`serve`] with explicit options.
pub fn serve_with(client: Client, functions: Vec<ServableFunction>, opts: ServeOptions) -> Router {
    let app_id = client.config().app_id.clone();
    let by_composite = functions
        .iter()
        .map(|f| (format!("{app_id}-{}", f.id()), f.clone()))
        .collect();
    let local_ids = Arc::new(functions.iter().map(|f| f.id().to_owned()).collect());
    let path = client.config().serve_path.clone();
    let handler = Arc::new(Handler {
        client,
        functions,
        by_composite,
        local_ids,
        opts,
    });
    Router::new()
        .route(
            &path,
            get(handle_get)
                .put(handle_put)
                .post(handle_post)
                .fallback(handle_other)
                .with_state(handler),
        )
        // Bodies are read with an explicit limit in `read_body`; this only lifts axum's
        // default for any extractor layered on top by the host app.
        .layer(axum::extract::DefaultBodyLimit::max(opts.body_limit))
}

/// Response headers every authenticated answer carries.
fn base_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert("x-inngest-sdk", HeaderValue::from_static(SDK_IDENT));
    h.insert(header::USER_AGENT, HeaderValue::from_static(SDK_IDENT));
    h.insert("x-inngest-req-version", HeaderValue::from_static("2"));
    h.insert("x-inngest-framework", HeaderValue::from_static("axum"));
    h.insert("x-inngest-sdk-handled", HeaderValue::from_static("true"));
}

/// Builds an answer; in cloud mode it is signed with the key that verified the request.
fn reply(
    status: StatusCode,
    body: &Value,
    extra: &[(&'static str, String)],
    sign_with: Option<&SigningKey>,
) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"null".to_vec());
    let mut resp = Response::builder().status(status);
    let headers = resp.headers_mut().expect("fresh builder");
    base_headers(headers);
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    if let Some(key) = sign_with {
        let sig = signature::sign(key, &bytes, now_secs());
        headers.insert(
            "x-inngest-signature",
            HeaderValue::from_str(&sig).expect("signature is ASCII"),
        );
    }
    resp.body(Body::from(bytes)).expect("valid response parts")
}

/// 401 without identifying headers, like the official SDKs.
fn unauthorized() -> Response {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-inngest-sdk-handled", "true")
        .body(Body::from(r#"{"message":"Unauthorized"}"#))
        .expect("valid response parts")
}

enum Auth<'a> {
    /// Dev mode: nothing to check, nothing to sign.
    Dev,
    /// Cloud mode, signature verified with this key.
    Verified(&'a SigningKey),
}

impl Auth<'_> {
    fn key(&self) -> Option<&SigningKey> {
        match self {
            Auth::Dev => None,
            Auth::Verified(k) => Some(k),
        }
    }
}

impl Handler {
    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<Auth<'_>, SignatureError> {
        let config = self.client.config();
        if config.mode == Mode::Dev {
            return Ok(Auth::Dev);
        }
        let header = headers
            .get("x-inngest-signature")
            .and_then(|v| v.to_str().ok());
        let keys: Vec<&SigningKey> = config.keys().collect();
        let idx = signature::verify(header, body, keys.iter().copied(), now_secs())?;
        Ok(Auth::Verified(keys[idx]))
    }

    async fn read_body(&self, body: Body) -> Result<Bytes, Response> {
        axum::body::to_bytes(body, self.opts.body_limit)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, limit = self.opts.body_limit, "request body refused");
                reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &json!({"message": format!("request body larger than {} bytes", self.opts.body_limit)}),
                    &[("x-inngest-no-retry", "false".into())],
                    None,
                )
            })
    }
}

fn query_params(uri: &axum::http::Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

async fn handle_other() -> Response {
    reply(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"message": "method not allowed; use GET, PUT or POST"}),
        &[("allow", "GET, PUT, POST".into())],
        None,
    )
}

async fn handle_get(State(h): State<Arc<Handler>>, headers: HeaderMap) -> Response {
    match h.authenticate(&headers, b"") {
        Ok(Auth::Dev) => reply(
            StatusCode::OK,
            &introspection(&h.client, h.functions.len(), false),
            &[],
            None,
        ),
        Ok(auth @ Auth::Verified(_)) => reply(
            StatusCode::OK,
            &introspection(&h.client, h.functions.len(), true),
            &[],
            auth.key(),
        ),
        Err(e) => {
            tracing::debug!(error = %e, "introspection refused");
            unauthorized()
        }
    }
}

async fn handle_put(
    State(h): State<Arc<Handler>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match h.read_body(body).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let config = h.client.config();
    let auth = h.authenticate(&headers, &body);
    let in_band = headers
        .get("x-inngest-sync-kind")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("in_band"));

    if in_band && config.allow_in_band_sync {
        let auth = match auth {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "in-band sync refused");
                return unauthorized();
            }
        };
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct InBand {
            url: String,
        }
        if body.is_empty() {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"message": "in-band sync request has no body"}),
                &[],
                auth.key(),
            );
        }
        let url = match serde_json::from_slice::<InBand>(&body)
            .ok()
            .and_then(|b| url::Url::parse(&b.url).ok())
        {
            Some(u) => u,
            None => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &json!({"message": "in-band sync body must be {\"url\": \"<serve url>\"}"}),
                    &[],
                    auth.key(),
                );
            }
        };
        tracing::info!(functions = h.functions.len(), "answering in-band sync");
        return reply(
            StatusCode::OK,
            &in_band_body(&h.client, &h.functions, &url),
            &[("x-inngest-sync-kind", "in_band".into())],
            auth.key(),
        );
    }

    let sign_with = match &auth {
        Ok(a) => a.key(),
        Err(e) if !config.allow_unsigned_sync => {
            tracing::debug!(error = %e, "sync refused");
            return unauthorized();
        }
        Err(_) => None,
    };
    let oob = [("x-inngest-sync-kind", "out_of_band".to_owned())];
    let query = query_params(&uri);
    let url = match public_serve_url(config.serve_origin.as_deref(), &headers, uri.path()) {
        Ok(u) => u,
        Err(e) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"message": e.to_string(), "modified": false}),
                &oob,
                sign_with,
            );
        }
    };
    let server_kind = headers
        .get("x-inngest-server-kind")
        .and_then(|v| v.to_str().ok());
    let deploy_id = query.get("deployId").map(String::as_str);
    match register_with(&h.client, &h.functions, &url, deploy_id, server_kind).await {
        Ok(outcome) => reply(
            StatusCode::OK,
            &json!({"message": "Successfully synced.", "modified": outcome.modified}),
            &oob,
            sign_with,
        ),
        Err(e) => {
            tracing::warn!(error = %e, "sync failed");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"message": e.to_string(), "modified": false}),
                &oob,
                sign_with,
            )
        }
    }
}

async fn handle_post(
    State(h): State<Arc<Handler>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match h.read_body(body).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let auth = match h.authenticate(&headers, &body) {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(error = %e, "call refused");
            return unauthorized();
        }
    };
    let key = auth.key();
    let query = query_params(&uri);
    if let Some(probe) = query.get("probe") {
        return if probe == "trust" {
            reply(StatusCode::OK, &json!({}), &[], key)
        } else {
            reply(
                StatusCode::BAD_REQUEST,
                &json!({"message": format!("unknown probe {probe:?}")}),
                &[],
                key,
            )
        };
    }
    let fn_id = query.get("fnId").cloned().unwrap_or_default();
    let Some(function) = h.by_composite.get(&fn_id).cloned() else {
        let e = Error::retriable(format!(
            "function {fn_id:?} was not found in this app; is the app synced correctly?"
        ));
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &e.to_json(),
            &[("x-inngest-no-retry", "false".into())],
            key,
        );
    };
    let mut request: CallRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let e = Error::retriable(format!("call request body is not understood: {e}"));
            return reply(
                StatusCode::BAD_REQUEST,
                &e.to_json(),
                &[("x-inngest-no-retry", "false".into())],
                key,
            );
        }
    };
    let step_id = query
        .get("stepId")
        .cloned()
        .unwrap_or_else(|| "step".into());
    let call = CallLog {
        fn_id: fn_id.clone(),
        attempt: request.ctx.attempt,
    };
    let span = tracing::info_span!(
        "inngest.call",
        fn_id = %fn_id,
        run_id = %request.ctx.run_id,
        step.id = %step_id,
        attempt = request.ctx.attempt,
    );
    async {
        if (request.use_api || request.ctx.use_api)
            && let Err(e) = load_from_api(&h.client, &mut request).await
        {
            tracing::warn!(error = %e, "loading run state from the API failed");
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &Error::retriable(e.to_string()).to_json(),
                &[("x-inngest-no-retry", "false".into())],
                key,
            );
        }
        let target = (step_id != "step" && !step_id.is_empty()).then_some(step_id);
        let outcome = execute(
            &function,
            &h.client,
            h.local_ids.clone(),
            CallInput {
                request,
                target,
                step_timeout: h.opts.step_timeout,
            },
        )
        .await;
        outcome_response(outcome, key, &call)
    }
    .instrument(span)
    .await
}

/// Large runs arrive with `events`/`steps` stripped; fetch them from the REST API.
async fn load_from_api(
    client: &Client,
    request: &mut CallRequest,
) -> Result<(), crate::client::ApiError> {
    let run_id = request.ctx.run_id.clone();
    let events = client.api_get(&format!("/v0/runs/{run_id}/batch")).await?;
    let steps = client
        .api_get(&format!("/v0/runs/{run_id}/actions"))
        .await?;
    request.events = match events {
        Value::Array(list) => list,
        _ => Vec::new(),
    };
    if let Some(first) = request.events.first() {
        request.event = first.clone();
    }
    request.steps = match steps {
        Value::Object(map) => Some(map),
        _ => None,
    };
    Ok(())
}

fn retry_headers(retry: Retry) -> Vec<(&'static str, String)> {
    match retry {
        Retry::NonRetriable => vec![("x-inngest-no-retry", "true".into())],
        Retry::Retriable => vec![("x-inngest-no-retry", "false".into())],
        Retry::After(d) => vec![
            ("x-inngest-no-retry", "false".into()),
            ("retry-after", retry_after_secs(d).to_string()),
        ],
    }
}

/// Seconds for `Retry-After`, clamped to what the executor honours (1 s to 24 h).
fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().clamp(1.0, 86_400.0) as u64
}

/// What every failure line of one call names besides its cause.
struct CallLog {
    /// Composite function id (`<app>-<function>`).
    fn_id: String,
    /// 0-based attempt of the step or function this call runs.
    attempt: u32,
}

/// Logs a failed function once: at `warn` while Inngest will retry, at `error` when it will not.
fn log_function_failure(e: &Error, call: &CallLog) {
    let (fn_id, attempt) = (call.fn_id.as_str(), call.attempt);
    if e.is_retriable() {
        tracing::warn!(fn_id, attempt, error.name = %e.name(), error = %e.message(), "function failed; Inngest will retry it");
    } else {
        tracing::error!(fn_id, attempt, error.name = %e.name(), error = %e.message(), "function failed for good");
    }
}

/// Logs a failed step once, with its human name (the wire id is a hash): `StepError` at `warn`
/// (Inngest retries it), `StepFailed` at `error`.
fn log_step_failure(op: &crate::step::Op, retry: Option<Retry>, call: &CallLog) {
    let (fn_id, attempt) = (call.fn_id.as_str(), call.attempt);
    let field = |k: &str| {
        op.error
            .as_ref()
            .and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (name, message) = (field("name"), field("message"));
    let step_name = op.userland.id.as_str();
    let retry_after_s = match retry {
        Some(Retry::After(d)) => Some(retry_after_secs(d)),
        _ => None,
    };
    if op.op == "StepError" {
        tracing::warn!(fn_id, step.name = step_name, step.id = %op.id, attempt, error.name = %name, error = %message, retry_after_s, "step failed; Inngest will retry it");
    } else {
        tracing::error!(fn_id, step.name = step_name, step.id = %op.id, attempt, error.name = %name, error = %message, "step failed for good");
    }
}

fn outcome_response(outcome: CallOutcome, key: Option<&SigningKey>, call: &CallLog) -> Response {
    match outcome {
        CallOutcome::Done(Ok(v)) => {
            tracing::info!("function completed");
            reply(StatusCode::OK, &v, &[], key)
        }
        CallOutcome::Done(Err(e)) => {
            let (status, retry) = if e.is_retriable() {
                (StatusCode::INTERNAL_SERVER_ERROR, e.retry())
            } else {
                (StatusCode::BAD_REQUEST, Retry::NonRetriable)
            };
            log_function_failure(&e, call);
            reply(status, &e.to_json(), &retry_headers(retry), key)
        }
        CallOutcome::Step(executed) => {
            if executed.op.error.is_some() {
                log_step_failure(&executed.op, executed.retry, call);
            } else {
                tracing::info!(step.name = %executed.op.userland.id, step.id = %executed.op.id, op = executed.op.op, "step executed");
            }
            let headers = executed.retry.map(retry_headers).unwrap_or_default();
            let body = serde_json::to_value([&executed.op]).unwrap_or(Value::Null);
            reply(StatusCode::PARTIAL_CONTENT, &body, &headers, key)
        }
        CallOutcome::Ops(ops) => {
            tracing::info!(ops = ops.len(), "steps planned");
            let body = serde_json::to_value(&ops).unwrap_or(Value::Null);
            reply(StatusCode::PARTIAL_CONTENT, &body, &[], key)
        }
        CallOutcome::TargetNotFound(target) => {
            let msg = format!(
                "step {target} was not found while replaying the function; is the code deterministic?"
            );
            tracing::warn!(fn_id = %call.fn_id, step.id = %target, attempt = call.attempt, "targeted step not reached");
            let mut body = Error::retriable(&msg).to_json();
            body["error"] = json!(msg);
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &body,
                &retry_headers(Retry::Retriable),
                key,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_clamped() {
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(90)), 90);
        assert_eq!(retry_after_secs(Duration::from_secs(100_000)), 86_400);
    }
}
