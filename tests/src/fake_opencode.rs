//! Fake OpenCode server: the classic session routes the `opencode` client uses, scriptable.
//!
//! A prompted session reports `busy` (or `retry`) for `busy_polls` status polls and then
//! disappears from `/session/status` (idle) with the scripted final reply; `busy_polls: None`
//! never finishes until aborted. Every request is recorded; basic auth is enforced when a
//! password is configured, exactly like `OPENCODE_SERVER_PASSWORD`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, body::Bytes};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::served::Served;

/// How the fake behaves.
#[derive(Clone, Debug)]
pub struct FakeOpenCodeConfig {
    /// Require basic auth with this user/password.
    pub auth: Option<(String, String)>,
    /// Status polls answered busy after a prompt before the session goes idle; `None` = never.
    pub busy_polls: Option<usize>,
    /// While running, report `{"type":"retry",...}` with this message instead of busy.
    pub retry_message: Option<String>,
    /// The final assistant turn once the session is idle.
    pub reply: FakeReply,
    /// The `model` of `GET /config` (`None`: the server has no default model).
    pub model: Option<String>,
}

#[derive(Clone, Debug)]
pub struct FakeReply {
    pub text: String,
    pub finish: Option<String>,
    /// `(name, message)`, e.g. `("APIError", "rate limited")`.
    pub error: Option<(String, String)>,
}

impl Default for FakeOpenCodeConfig {
    fn default() -> Self {
        Self {
            auth: None,
            busy_polls: Some(2),
            retry_message: None,
            reply: FakeReply {
                text: "Fixed it. PR: https://github.com/acme/api/pull/7".to_owned(),
                finish: Some("stop".to_owned()),
                error: None,
            },
            model: Some("anthropic/claude-sonnet-4-5".to_owned()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordedPrompt {
    pub session_id: String,
    pub directory: Option<String>,
    pub body: Value,
}

/// Everything the fake saw.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    /// `(directory, title)` per `POST /session`.
    pub sessions: Vec<(Option<String>, Option<String>)>,
    pub prompts: Vec<RecordedPrompt>,
    /// `(session id, directory)` per abort.
    pub aborts: Vec<(String, Option<String>)>,
    pub deletes: Vec<String>,
    pub status_polls: usize,
    /// Requests turned away with 401.
    pub unauthorized: usize,
}

#[derive(Default)]
struct FakeSession {
    directory: Option<String>,
    title: String,
    prompt_text: Option<String>,
    polls: usize,
    finished: bool,
    aborted: bool,
}

impl FakeSession {
    fn running(&self) -> bool {
        self.prompt_text.is_some() && !self.finished && !self.aborted
    }
}

struct Inner {
    config: FakeOpenCodeConfig,
    /// `(requests, seconds)`: the next `requests` requests are answered 429 with that `Retry-After`.
    throttle: (usize, u64),
    expected_auth: Option<HeaderValue>,
    sessions: HashMap<String, FakeSession>,
    next_id: usize,
    recorded: Recorded,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct FakeOpenCode {
    server: Served,
    shared: Shared,
}

impl FakeOpenCode {
    pub async fn start(config: FakeOpenCodeConfig) -> Self {
        // Build the exact header value reqwest produces, instead of re-implementing base64.
        let expected_auth = config.auth.as_ref().map(|(user, password)| {
            reqwest::Client::new()
                .get("http://127.0.0.1/")
                .basic_auth(user, Some(password))
                .build()
                .expect("request with basic auth")
                .headers()[header::AUTHORIZATION]
                .clone()
        });
        let shared: Shared = Arc::new(Mutex::new(Inner {
            config,
            throttle: (0, 0),
            expected_auth,
            sessions: HashMap::new(),
            next_id: 0,
            recorded: Recorded::default(),
        }));
        let app = Router::new()
            .route("/global/health", get(health))
            .route("/config", get(server_config))
            .route("/session", post(create_session))
            .route("/session/status", get(status))
            .route("/session/{id}", axum::routing::delete(delete_session))
            .route("/session/{id}/prompt_async", post(prompt_async))
            .route("/session/{id}/message", get(messages))
            .route("/session/{id}/abort", post(abort))
            .layer(middleware::from_fn_with_state(shared.clone(), basic_auth))
            .layer(middleware::from_fn_with_state(shared.clone(), throttle))
            .with_state(shared.clone());
        Self {
            server: Served::start("fake opencode", app).await,
            shared,
        }
    }

    pub fn base_url(&self) -> reqwest::Url {
        reqwest::Url::parse(&self.server.url("/")).expect("url")
    }

    pub fn recorded(&self) -> Recorded {
        lock(&self.shared).recorded.clone()
    }

    /// Answers the next `requests` requests with 429 and `Retry-After: <retry_after_secs>`,
    /// as a rate-limiting proxy in front of the server would.
    pub fn throttle_next(&self, requests: usize, retry_after_secs: u64) {
        lock(&self.shared).throttle = (requests, retry_after_secs);
    }
}

async fn throttle(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let retry_after = {
        let mut inner = lock(&shared);
        match inner.throttle {
            (0, _) => None,
            (n, secs) => {
                inner.throttle = (n - 1, secs);
                Some(secs)
            }
        }
    };
    match retry_after {
        Some(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            "rate limited",
        )
            .into_response(),
        None => next.run(request).await,
    }
}

#[derive(Deserialize)]
struct DirQuery {
    directory: Option<String>,
}

async fn basic_auth(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let rejected = {
        let mut inner = lock(&shared);
        let rejected = match &inner.expected_auth {
            Some(expected) => request.headers().get(header::AUTHORIZATION) != Some(expected),
            None => false,
        };
        if rejected {
            inner.recorded.unauthorized += 1;
        }
        rejected
    };
    if rejected {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"Secure Area\"")],
        )
            .into_response();
    }
    next.run(request).await
}

fn not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(
            json!({"name":"NotFoundError","data":{"message": format!("Session not found: {id}")}}),
        ),
    )
        .into_response()
}

fn bad_request() -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"_tag":"BadRequest"}))).into_response()
}

async fn server_config(State(shared): State<Shared>) -> Json<Value> {
    let model = lock(&shared).config.model.clone();
    let mut config = json!({"$schema": "https://opencode.ai/config.json", "share": "disabled"});
    if let Some(model) = model {
        config["model"] = json!(model);
    }
    Json(config)
}

async fn health() -> Json<Value> {
    Json(json!({"healthy": true, "version": "1.18.33"}))
}

fn session_json(id: &str, s: &FakeSession) -> Value {
    json!({
        "id": id, "slug": "fake-slug", "projectID": "fakeproject",
        "directory": s.directory.clone().unwrap_or_else(|| "/".to_owned()),
        "title": s.title, "version": "1.18.33",
        "time": {"created": 1, "updated": 1}
    })
}

async fn create_session(
    State(shared): State<Shared>,
    Query(q): Query<DirQuery>,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad_request();
    };
    let title = body.get("title").and_then(Value::as_str).map(str::to_owned);
    let mut inner = lock(&shared);
    inner.next_id += 1;
    let id = format!("ses_fake{:04}", inner.next_id);
    let session = FakeSession {
        directory: q.directory.clone(),
        title: title.clone().unwrap_or_else(|| "New session".to_owned()),
        ..FakeSession::default()
    };
    let out = session_json(&id, &session);
    inner.sessions.insert(id, session);
    inner.recorded.sessions.push((q.directory, title));
    Json(out).into_response()
}

/// Mirrors the real schema's strictness (`additionalProperties: false`, `parts` required).
fn valid_prompt_body(body: &Value) -> Option<String> {
    const ALLOWED: &[&str] = &[
        "parts",
        "model",
        "agent",
        "system",
        "tools",
        "noReply",
        "messageID",
        "format",
        "variant",
    ];
    let object = body.as_object()?;
    if object.keys().any(|k| !ALLOWED.contains(&k.as_str())) {
        return None;
    }
    let parts = object.get("parts")?.as_array()?;
    let texts: Vec<&str> = parts
        .iter()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
        .map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Option<_>>()?;
    if let Some(model) = object.get("model") {
        model.get("providerID")?.as_str()?;
        model.get("modelID")?.as_str()?;
    }
    Some(texts.join("\n"))
}

async fn prompt_async(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<DirQuery>,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad_request();
    };
    let Some(text) = valid_prompt_body(&body) else {
        return bad_request();
    };
    let mut inner = lock(&shared);
    let Some(session) = inner.sessions.get_mut(&id) else {
        return not_found(&id);
    };
    session.prompt_text = Some(text);
    session.polls = 0;
    session.finished = false;
    session.aborted = false;
    inner.recorded.prompts.push(RecordedPrompt {
        session_id: id,
        directory: q.directory,
        body,
    });
    StatusCode::NO_CONTENT.into_response()
}

async fn status(State(shared): State<Shared>, Query(q): Query<DirQuery>) -> Json<Value> {
    let mut inner = lock(&shared);
    inner.recorded.status_polls += 1;
    let busy_polls = inner.config.busy_polls;
    let retry = inner.config.retry_message.clone();
    let mut out = serde_json::Map::new();
    for (id, session) in inner.sessions.iter_mut() {
        if session.directory != q.directory || !session.running() {
            continue;
        }
        session.polls += 1;
        if busy_polls.is_some_and(|n| session.polls > n) {
            session.finished = true;
            continue;
        }
        let state = match &retry {
            Some(message) => {
                json!({"type":"retry","attempt": session.polls,"message": message,"next": 0})
            }
            None => json!({"type":"busy"}),
        };
        out.insert(id.clone(), state);
    }
    Json(Value::Object(out))
}

fn message(id: &str, session_id: &str, info: Value, parts: Vec<Value>) -> Value {
    let mut info = info;
    info["id"] = json!(id);
    info["sessionID"] = json!(session_id);
    json!({"info": info, "parts": parts})
}

fn assistant_info(
    finish: Option<&str>,
    error: Option<&(String, String)>,
    completed: bool,
) -> Value {
    let mut info = json!({
        "role": "assistant", "parentID": "msg_user1", "providerID": "fake", "modelID": "fake-model",
        "mode": "build", "agent": "build", "path": {"cwd": "/", "root": "/"}, "cost": 0,
        "tokens": {"input": 10, "output": 5, "reasoning": 0, "cache": {"read": 0, "write": 0}},
        "time": {"created": 2}
    });
    if completed {
        info["time"]["completed"] = json!(3);
    }
    if let Some(finish) = finish {
        info["finish"] = json!(finish);
    }
    if let Some((name, text)) = error {
        info["error"] = json!({"name": name, "data": {"message": text}});
    }
    info
}

#[derive(Deserialize)]
struct MessagesQuery {
    limit: Option<usize>,
}

async fn messages(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> Response {
    let inner = lock(&shared);
    let Some(session) = inner.sessions.get(&id) else {
        return not_found(&id);
    };
    let Some(prompt) = &session.prompt_text else {
        return Json(json!([])).into_response();
    };
    let mut out = vec![message(
        "msg_user1",
        &id,
        json!({"role":"user","time":{"created":1},"agent":"build",
               "model":{"providerID":"fake","modelID":"fake-model"}}),
        vec![
            json!({"type":"text","text": prompt,"id":"prt_u1","sessionID": id,"messageID":"msg_user1"}),
        ],
    )];
    // A finished tool turn is always there once the loop started, as with the real server.
    out.push(message(
        "msg_asst1",
        &id,
        assistant_info(Some("tool-calls"), None, true),
        vec![json!({"type":"tool","tool":"bash","callID":"call_1",
                    "state":{"status":"completed","input":{"command":"git status"},"output":"clean"}})],
    ));
    if session.aborted {
        let aborted = ("MessageAbortedError".to_owned(), "Aborted".to_owned());
        out.push(message(
            "msg_asst2",
            &id,
            assistant_info(None, Some(&aborted), false),
            vec![],
        ));
    } else if session.finished {
        let reply = &inner.config.reply;
        out.push(message(
            "msg_asst2",
            &id,
            assistant_info(reply.finish.as_deref(), reply.error.as_ref(), true),
            vec![json!({"type":"text","text": reply.text})],
        ));
    }
    // Like the real server: `limit` keeps the newest messages, still oldest first.
    let skip = q.limit.map_or(0, |n| out.len().saturating_sub(n));
    Json(Value::Array(out.split_off(skip))).into_response()
}

async fn abort(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<DirQuery>,
) -> Response {
    let mut inner = lock(&shared);
    inner.recorded.aborts.push((id.clone(), q.directory));
    match inner.sessions.get_mut(&id) {
        Some(session) => {
            let was_running = session.running();
            if was_running {
                session.aborted = true;
            }
            Json(json!(was_running)).into_response()
        }
        None => not_found(&id),
    }
}

async fn delete_session(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let mut inner = lock(&shared);
    inner.recorded.deletes.push(id.clone());
    match inner.sessions.remove(&id) {
        Some(_) => Json(json!(true)).into_response(),
        None => not_found(&id),
    }
}
