//! Fake Slack, Discord, Teams and generic webhook receivers on one server, recording every
//! request. Each route checks the payload the way its real service does (Slack: `text` or
//! `blocks`, a header of at most 150 characters; Discord: `content` or `embeds`; Teams workflow:
//! an Adaptive Card attachment) and answers like it (Slack `200 ok`, Discord `204`, Teams `202`),
//! unless a scripted reply is queued for that sink.
//!
//! Routes: `/slack/services/T0/B0/<token>`, `/discord/api/webhooks/<id>/<token>`,
//! `/teams/workflows/<id>`, `/webhook`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use crate::served::Served;

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    /// `slack`, `discord`, `teams` or `webhook`.
    pub sink: String,
    /// Lower-case header names.
    pub headers: BTreeMap<String, String>,
    /// The raw body, as signed.
    pub body: String,
    /// What the fake answered.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Scripted {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            body: String::new(),
        }
    }

    pub fn rate_limited(retry_after: &str) -> Self {
        Self {
            status: 429,
            retry_after: Some(retry_after.into()),
            body: "rate_limited".into(),
        }
    }
}

#[derive(Clone, Default)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<BTreeMap<String, VecDeque<Scripted>>>>,
    /// Sinks that fail every request with this status.
    broken: Arc<Mutex<BTreeMap<String, u16>>>,
}

pub struct FakeSinks {
    server: Served,
    shared: Shared,
}

impl FakeSinks {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let app = Router::new()
            .route("/slack/services/T0/B0/{token}", post(slack))
            .route("/discord/api/webhooks/{id}/{token}", post(discord))
            .route("/teams/workflows/{id}", post(teams))
            .route("/webhook", post(webhook))
            .with_state(shared.clone());
        Self {
            server: Served::start("fake sinks", app).await,
            shared,
        }
    }

    pub fn slack_url(&self) -> String {
        self.server.url("/slack/services/T0/B0/slacksecrettoken")
    }

    pub fn discord_url(&self) -> String {
        self.server
            .url("/discord/api/webhooks/123/discordsecrettoken")
    }

    pub fn teams_url(&self) -> String {
        self.server.url("/teams/workflows/flow1?sig=teamssecretsig")
    }

    pub fn webhook_url(&self) -> String {
        self.server.url("/webhook")
    }

    /// Queue answers for the next requests to `sink`.
    pub fn script(&self, sink: &str, replies: Vec<Scripted>) {
        self.shared
            .script
            .lock()
            .unwrap()
            .entry(sink.into())
            .or_default()
            .extend(replies);
    }

    /// Make `sink` answer `status` to every request from now on.
    pub fn break_sink(&self, sink: &str, status: u16) {
        self.shared
            .broken
            .lock()
            .unwrap()
            .insert(sink.into(), status);
    }

    /// Every request, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Requests to `sink` that were accepted (2xx).
    pub fn accepted(&self, sink: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.sink == sink && (200..300).contains(&r.status))
            .collect()
    }
}

fn record(
    shared: &Shared,
    sink: &str,
    headers: &HeaderMap,
    body: &Bytes,
    valid: Result<(), &'static str>,
    ok: (StatusCode, &'static str),
) -> Response {
    let scripted = shared
        .script
        .lock()
        .unwrap()
        .get_mut(sink)
        .and_then(VecDeque::pop_front);
    let broken = shared.broken.lock().unwrap().get(sink).copied();
    let response = match (scripted, broken, valid) {
        (Some(s), _, _) => {
            let status = StatusCode::from_u16(s.status).unwrap();
            let mut resp = (status, s.body).into_response();
            if let Some(ra) = s.retry_after {
                resp.headers_mut()
                    .insert("retry-after", ra.parse().unwrap());
            }
            resp
        }
        (None, Some(status), _) => {
            (StatusCode::from_u16(status).unwrap(), "broken").into_response()
        }
        (None, None, Err(why)) => (StatusCode::BAD_REQUEST, why).into_response(),
        (None, None, Ok(())) => ok.into_response(),
    };
    shared.received.lock().unwrap().push(Received {
        sink: sink.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(body).into_owned(),
        status: response.status().as_u16(),
    });
    response
}

fn parse(body: &Bytes) -> Result<Value, &'static str> {
    serde_json::from_slice(body).map_err(|_| "invalid_payload")
}

async fn slack(
    State(s): State<Shared>,
    Path(_token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let valid = parse(&body).and_then(|v| {
        if v.get("text").is_none() && v.get("blocks").is_none() {
            return Err("no_text");
        }
        let blocks = v["blocks"].as_array().cloned().unwrap_or_default();
        if blocks.len() > 50 {
            return Err("invalid_blocks");
        }
        for b in &blocks {
            if b["type"] == "header"
                && b["text"]["text"]
                    .as_str()
                    .is_none_or(|t| t.chars().count() > 150)
            {
                return Err("invalid_blocks");
            }
        }
        Ok(())
    });
    record(&s, "slack", &headers, &body, valid, (StatusCode::OK, "ok"))
}

async fn discord(
    State(s): State<Shared>,
    Path((_id, _token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let valid = parse(&body).and_then(|v| {
        let has_content = v["content"].as_str().is_some_and(|c| !c.is_empty());
        let embeds = v["embeds"].as_array().map(Vec::len).unwrap_or(0);
        if !has_content && embeds == 0 {
            return Err(r#"{"message": "Cannot send an empty message", "code": 50006}"#);
        }
        if embeds > 10
            || v["content"]
                .as_str()
                .is_some_and(|c| c.chars().count() > 2000)
        {
            return Err(r#"{"message": "Invalid Form Body", "code": 50035}"#);
        }
        Ok(())
    });
    record(
        &s,
        "discord",
        &headers,
        &body,
        valid,
        (StatusCode::NO_CONTENT, ""),
    )
}

async fn teams(
    State(s): State<Shared>,
    Path(_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let valid = parse(&body).and_then(|v| {
        let card = v["attachments"]
            .as_array()
            .and_then(|a| a.first())
            .ok_or("no attachments")?;
        if card["contentType"] != "application/vnd.microsoft.card.adaptive"
            || card["content"]["type"] != "AdaptiveCard"
        {
            return Err("attachment is not an Adaptive Card");
        }
        Ok(())
    });
    record(
        &s,
        "teams",
        &headers,
        &body,
        valid,
        (StatusCode::ACCEPTED, ""),
    )
}

async fn webhook(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let valid = parse(&body).map(|_| ());
    record(&s, "webhook", &headers, &body, valid, (StatusCode::OK, ""))
}
