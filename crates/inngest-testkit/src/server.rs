//! The fake Inngest API the SDK talks to: `POST /fn/register`, the Event API
//! `POST /e/{key}`, the run-state API for `use_api` and a health route.
//! Every request is recorded as an [`Exchange`].

use crate::engine::State;
use crate::ids::ulid;
use crate::model::{Exchange, ExchangeKind, RecordedRequest, RecordedResponse, RunId, ServerKind};
use crate::registration::validate_registration;
use crate::sign;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub(crate) type Shared = Arc<Mutex<State>>;

pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/fn/register", post(register))
        .route("/e/{key}", post(event))
        .route("/v0/runs/{run_id}/{part}", get(run_part))
        .route("/health", get(health))
        .fallback(other)
        // Inngest accepts 4 MiB bodies; allow some headroom over that.
        .layer(DefaultBodyLimit::max(8 * 1024 * 1024))
        .with_state(state)
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock only happens in a failing test; keep
    // serving so the test reports its own failure rather than a poison error.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lower-cased headers with credentials redacted.
pub(crate) fn recorded_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| {
            let name = k.as_str().to_ascii_lowercase();
            let value = v.to_str().unwrap_or("<non-utf8>").to_string();
            let value = if name == "authorization" {
                match value.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} [redacted]"),
                    None => "[redacted]".to_string(),
                }
            } else {
                value
            };
            (name, value)
        })
        .collect()
}

fn parse_body(bytes: &[u8]) -> Value {
    let text = String::from_utf8_lossy(bytes);
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned()))
    }
}

struct Inbound {
    kind: ExchangeKind,
    method: String,
    url: String,
    headers: BTreeMap<String, String>,
    body: Value,
    raw_body: String,
}

impl Inbound {
    fn new(
        kind: ExchangeKind,
        method: &Method,
        url: String,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Self {
        Inbound {
            kind,
            method: method.to_string(),
            url,
            headers: recorded_headers(headers),
            body: parse_body(body),
            raw_body: String::from_utf8_lossy(body).into_owned(),
        }
    }

    /// Record the exchange and build the HTTP answer.
    fn answer(
        self,
        st: &mut State,
        status: StatusCode,
        body: Value,
        auth_ok: Option<bool>,
    ) -> Response {
        let raw = body.to_string();
        let mut headers = BTreeMap::new();
        headers.insert("content-type".to_string(), "application/json".to_string());
        headers.insert(
            "x-inngest-server-kind".to_string(),
            st.opts.server_kind.as_str().to_string(),
        );
        st.record(Exchange {
            seq: 0,
            kind: self.kind,
            run_id: None,
            fn_id: None,
            step_id: None,
            attempt: None,
            request: RecordedRequest {
                method: self.method,
                url: self.url,
                headers: self.headers,
                body: self.body,
                raw_body: self.raw_body,
            },
            response: Some(RecordedResponse {
                status: status.as_u16(),
                headers: headers.clone(),
                body,
                raw_body: raw.clone(),
            }),
            error: None,
            auth_ok,
            response_signature_ok: None,
        });
        let mut resp = (status, raw).into_response();
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                axum::http::HeaderName::from_bytes(k.as_bytes()),
                axum::http::HeaderValue::from_str(&v),
            ) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }
}

/// Cloud mode: the bearer token must be the hashed signing key. Dev: anything.
fn bearer_ok(st: &State, headers: &HeaderMap) -> bool {
    if st.opts.server_kind == ServerKind::Dev {
        return true;
    }
    let Some(expected) = st
        .opts
        .signing_key
        .as_deref()
        .and_then(sign::hashed_signing_key)
    else {
        return false;
    };
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token == expected)
}

async fn register(
    AxState(state): AxState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let inbound = Inbound::new(
        ExchangeKind::Register,
        &method,
        uri.to_string(),
        &headers,
        &body,
    );
    let mut st = lock(&state);
    let auth_ok = bearer_ok(&st, &headers);
    if !auth_ok {
        st.last_register = Some(Err(vec![
            "register request is not authorized (Authorization must be `Bearer <hashed signing key>`)".into(),
        ]));
        return inbound.answer(
            &mut st,
            StatusCode::UNAUTHORIZED,
            json!({"error": "unauthorized"}),
            Some(false),
        );
    }
    let kind = st.opts.server_kind.as_str();
    if let Some(expected) = headers
        .get("x-inngest-expected-server-kind")
        .and_then(|v| v.to_str().ok())
        && expected != kind
    {
        let msg = format!("Expected server kind {expected}, got {kind}");
        st.last_register = Some(Err(vec![msg.clone()]));
        return inbound.answer(
            &mut st,
            StatusCode::BAD_REQUEST,
            json!({"error": msg, "status": 400}),
            Some(true),
        );
    }
    let sdk_header = headers.get("x-inngest-sdk").and_then(|v| v.to_str().ok());
    match validate_registration(&inbound.body, sdk_header) {
        Ok(reg) => {
            let app_id = format!("app-{}", reg.app_id);
            let modified = st.install(reg.clone());
            st.last_register = Some(Ok(reg));
            let body =
                json!({"ok": true, "modified": modified, "app_id": app_id, "sync_id": ulid()});
            inbound.answer(&mut st, StatusCode::OK, body, Some(true))
        }
        Err(errs) => {
            let body =
                json!({"error": "At least one function is invalid", "data": errs, "status": 400});
            st.last_register = Some(Err(errs));
            inbound.answer(&mut st, StatusCode::BAD_REQUEST, body, Some(true))
        }
    }
}

async fn event(
    AxState(state): AxState<Shared>,
    Path(key): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The key is a credential: never recorded.
    let inbound = Inbound::new(
        ExchangeKind::Event,
        &method,
        "/e/[redacted]".into(),
        &headers,
        &body,
    );
    let mut st = lock(&state);
    let auth_ok = match (st.opts.server_kind, &st.opts.event_key) {
        (ServerKind::Cloud, Some(expected)) => &key == expected,
        _ => !key.is_empty(),
    };
    if !auth_ok {
        return inbound.answer(
            &mut st,
            StatusCode::UNAUTHORIZED,
            json!({"error": "Event key not found"}),
            Some(false),
        );
    }
    let payload = inbound.body.clone();
    match st.ingest(&payload) {
        Ok((ids, _)) => inbound.answer(
            &mut st,
            StatusCode::OK,
            json!({"ids": ids, "status": 200}),
            Some(true),
        ),
        Err(e) => inbound.answer(
            &mut st,
            StatusCode::BAD_REQUEST,
            json!({"ids": [], "status": 400, "error": e}),
            Some(true),
        ),
    }
}

/// `GET /v0/runs/{id}/batch` (the triggering events) and `/actions` (the step memo): the two
/// reads the SDK makes when a run's state is too large to travel in the call request.
async fn run_part(
    AxState(state): AxState<Shared>,
    Path((run_id, part)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let batch = match part.as_str() {
        "batch" => true,
        "actions" => false,
        _ => return other(AxState(state), method, uri, headers, Bytes::new()).await,
    };
    let inbound = Inbound::new(ExchangeKind::Other, &method, uri.to_string(), &headers, &[]);
    let mut st = lock(&state);
    if !bearer_ok(&st, &headers) {
        return inbound.answer(
            &mut st,
            StatusCode::UNAUTHORIZED,
            json!({"error": "unauthorized"}),
            Some(false),
        );
    }
    match st.run_state(&RunId(run_id)) {
        Some((event, memo)) => {
            let body = if batch {
                json!([event])
            } else {
                Value::Object(memo)
            };
            inbound.answer(&mut st, StatusCode::OK, body, Some(true))
        }
        None => inbound.answer(
            &mut st,
            StatusCode::NOT_FOUND,
            json!({"error": "run not found"}),
            Some(true),
        ),
    }
}

async fn health() -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"message": "OK", "status": 200})),
    )
        .into_response()
}

async fn other(
    AxState(state): AxState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let inbound = Inbound::new(
        ExchangeKind::Other,
        &method,
        uri.to_string(),
        &headers,
        &body,
    );
    let mut st = lock(&state);
    inbound.answer(
        &mut st,
        StatusCode::NOT_FOUND,
        json!({"error": format!("no route for {method} {}", uri.path())}),
        None,
    )
}
