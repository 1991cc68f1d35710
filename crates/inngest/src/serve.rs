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
    /// Longest the client may take to send a body; slower bodies are cut off with a 408.
    pub body_timeout: Duration,
    /// Bodies buffered at once, in bytes, across all requests: a request waits for its share
    /// (its `Content-Length`, else `body_limit`) before reading, so many large bodies sent at
    /// once cost at most this much memory.
    pub body_budget: usize,
    /// Largest body whose JCS form is tried when the raw-bytes MAC fails (sync pings are small).
    pub canonicalize_limit: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            step_timeout: None,
            body_timeout: Duration::from_secs(30),
            body_budget: 24 * 1024 * 1024,
            canonicalize_limit: 64 * 1024,
        }
    }
}

/// [`ServeOptions::body_limit`] by default: 8 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Signatures accepted within the skew window, keyed with the path and query they came with:
/// a captured signed request cannot be replayed, on the same or another method.
#[derive(Default)]
struct ReplayCache {
    seen: std::sync::Mutex<HashMap<(String, String), i64>>,
}

impl ReplayCache {
    /// Records `(signature, target)`; false when it was already seen within the window.
    fn first_use(&self, signature: &str, target: &str, now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // Entries older than the window can never verify again: drop them as we go.
        if seen.len() > 1024 {
            seen.retain(|_, at| now - *at <= 2 * signature::MAX_SKEW_SECS);
        }
        seen.insert((signature.to_owned(), target.to_owned()), now)
            .is_none_or(|at| now - at > 2 * signature::MAX_SKEW_SECS)
    }
}

struct Handler {
    client: Client,
    functions: Vec<ServableFunction>,
    by_composite: HashMap<String, ServableFunction>,
    local_ids: Arc<HashSet<String>>,
    opts: ServeOptions,
    replay: ReplayCache,
    /// Body bytes that may be buffered at once, in KiB permits.
    budget: Arc<tokio::sync::Semaphore>,
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
        replay: ReplayCache::default(),
        budget: Arc::new(tokio::sync::Semaphore::new(kib(opts.body_budget).max(1))),
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

/// Whole KiB covering `bytes`, the unit of the body budget.
fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

/// What the body-free checks found.
enum Precheck {
    Dev,
    /// Cloud mode: header well-formed and fresh; the MAC is checked once the body is read.
    Signed(signature::Signature, String),
    Refused(SignatureError),
}

impl Handler {
    /// Runs before the body is read: a missing, malformed or stale signature never costs a
    /// body read.
    fn precheck(&self, headers: &HeaderMap) -> Precheck {
        let config = self.client.config();
        if config.mode == Mode::Dev {
            return Precheck::Dev;
        }
        if config.keys().next().is_none() {
            return Precheck::Refused(SignatureError::NoKey);
        }
        let header = headers
            .get("x-inngest-signature")
            .and_then(|v| v.to_str().ok());
        match signature::check_header(header, now_secs()) {
            Ok(sig) => Precheck::Signed(sig, header.unwrap_or_default().to_owned()),
            Err(e) => Precheck::Refused(e),
        }
    }

    /// The MAC check over the read body, then the replay check.
    fn authenticate(
        &self,
        pre: &Precheck,
        body: &[u8],
        target: &str,
    ) -> Result<Auth<'_>, SignatureError> {
        let (sig, header) = match pre {
            Precheck::Dev => return Ok(Auth::Dev),
            Precheck::Refused(e) => return Err(e.clone()),
            Precheck::Signed(sig, header) => (sig, header),
        };
        let keys: Vec<&SigningKey> = self.client.config().keys().collect();
        let idx = signature::verify_body(
            sig,
            body,
            keys.iter().copied(),
            self.opts.canonicalize_limit,
        )?;
        if !self.replay.first_use(header, target, now_secs()) {
            return Err(SignatureError::Replayed);
        }
        Ok(Auth::Verified(keys[idx]))
    }

    /// Reads the body within the size limit, the time limit and the shared memory budget.
    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
        use http_body_util::BodyExt as _;
        let limit = self.opts.body_limit;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        let share = kib(declared.unwrap_or(limit)).clamp(1, kib(self.opts.body_budget).max(1));
        let read = async {
            let _permit = self
                .budget
                .clone()
                .acquire_many_owned(share as u32)
                .await
                .map_err(|_| too_large(limit))?;
            let mut buf: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0));
            let mut body = body;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| {
                    tracing::debug!(error = %e, "request body read failed");
                    bad_request("the request body could not be read")
                })?;
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > limit {
                        return Err(too_large(limit));
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Ok(Bytes::from(buf))
        };
        match tokio::time::timeout(self.opts.body_timeout, read).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    timeout_secs = self.opts.body_timeout.as_secs(),
                    "request body too slow; cut off"
                );
                Err(no_retry_reply(
                    StatusCode::REQUEST_TIMEOUT,
                    Error::retriable(format!(
                        "request body not received within {}s",
                        self.opts.body_timeout.as_secs()
                    ))
                    .with_name("BodyTimeout"),
                    false,
                ))
            }
        }
    }
}

/// An answer in the SDK's error shape (`{"name","message","__serialized"}`) with SDK headers,
/// for requests refused before any function ran.
fn no_retry_reply(status: StatusCode, e: Error, no_retry: bool) -> Response {
    reply(
        status,
        &e.to_json(),
        &[("x-inngest-no-retry", no_retry.to_string())],
        None,
    )
}

/// 413: a larger body will never fit, so Inngest must not retry.
fn too_large(limit: usize) -> Response {
    no_retry_reply(
        StatusCode::PAYLOAD_TOO_LARGE,
        Error::non_retriable(format!("request body larger than {limit} bytes"))
            .with_name("PayloadTooLarge"),
        true,
    )
}

/// 400 for a body that can never be understood, however often it is sent.
fn bad_request(message: &str) -> Response {
    no_retry_reply(
        StatusCode::BAD_REQUEST,
        Error::non_retriable(message).with_name("BadRequest"),
        true,
    )
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

/// What a signature is bound to in the replay cache: the path and query it was sent to.
fn target_of(uri: &axum::http::Uri) -> String {
    uri.path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default()
}

async fn handle_get(
    State(h): State<Arc<Handler>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let pre = h.precheck(&headers);
    match h.authenticate(&pre, b"", &target_of(&uri)) {
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
    let config = h.client.config();
    let in_band = headers
        .get("x-inngest-sync-kind")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("in_band"));
    let pre = h.precheck(&headers);
    if let Precheck::Refused(e) = &pre
        && ((in_band && config.allow_in_band_sync) || !config.allow_unsigned_sync)
    {
        tracing::debug!(reason = %e, "sync refused before reading its body");
        return unauthorized();
    }
    if let Some(refusal) = foreign_host(config, &headers) {
        return refusal;
    }
    let body = match h.read_body(&headers, body).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let auth = h.authenticate(&pre, &body, &target_of(&uri));

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
    let pre = h.precheck(&headers);
    if let Precheck::Refused(e) = &pre {
        tracing::debug!(reason = %e, "call refused before reading its body");
        return unauthorized();
    }
    let body = match h.read_body(&headers, body).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let auth = match h.authenticate(&pre, &body, &target_of(&uri)) {
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
            // The same bytes will never parse: retrying cannot help.
            let e = Error::non_retriable(format!("call request body is not understood: {e}"))
                .with_name("BadRequest");
            return reply(
                StatusCode::BAD_REQUEST,
                &e.to_json(),
                &[("x-inngest-no-retry", "true".into())],
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

/// Cloud mode with a configured public origin: a sync sent to any other host is refused, and
/// the URL registered is always the configured one, never the request's `Host`.
fn foreign_host(config: &crate::Config, headers: &HeaderMap) -> Option<Response> {
    if config.mode != Mode::Cloud {
        return None;
    }
    let origin = url::Url::parse(config.serve_origin.as_deref()?).ok()?;
    let expected = origin.host_str()?.to_ascii_lowercase();
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_ascii_lowercase())
    };
    let given = first("x-forwarded-host").or_else(|| first("host"))?;
    let host = given
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(given.as_str(), |(h, _)| h);
    if host == expected {
        return None;
    }
    tracing::warn!(host = %given, "sync for a foreign host refused");
    Some(bad_request(
        "sync refused: the request's host is not the configured serve origin",
    ))
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
