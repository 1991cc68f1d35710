//! Scriptable fakes of the two LLM wire shapes the `llm` crate speaks: OpenAI-compatible chat
//! completions (`POST /v1/chat/completions`, plain JSON, not streaming) and Anthropic Messages
//! (`POST /v1/messages`). Each request consumes the next scripted [`Reply`] and is recorded with
//! its headers and JSON body, so tests can assert what was sent and how many calls were made.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::served::Served;

/// Which API the fake imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    Anthropic,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The model's JSON text. OpenAI: the message content. Anthropic: the input of a `tool_use`
    /// block named after the request's forced tool when the text is a JSON object, otherwise a
    /// plain text block.
    Answer(String),
    /// Any status, body and extra headers (errors, rate limits, odd bodies).
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Wait this long, then answer with the inner reply (for client timeouts).
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    pub fn answer(value: &Value) -> Self {
        Self::Answer(value.to_string())
    }

    pub fn status(status: u16, body: &str) -> Self {
        Self::Raw {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    /// Lower-case header names.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

struct Shared {
    flavor: Flavor,
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    /// What `GET /v1/models` lists.
    models: Mutex<Vec<String>>,
}

/// A running fake; stops when dropped.
pub struct FakeLlm {
    /// What to configure as the provider's base URL (`…/v1` for OpenAI, the root for Anthropic).
    pub base_url: String,
    shared: Arc<Shared>,
    /// Only held: dropping it stops the server.
    _server: Served,
}

impl FakeLlm {
    pub async fn start(flavor: Flavor, replies: Vec<Reply>) -> Self {
        let shared = Arc::new(Shared {
            flavor,
            script: Mutex::new(replies.into()),
            requests: Mutex::new(Vec::new()),
            models: Mutex::new(vec![
                llm::OPENAI_DEFAULT_MODEL.to_owned(),
                llm::ANTHROPIC_DEFAULT_MODEL.to_owned(),
            ]),
        });
        let path = match flavor {
            Flavor::OpenAi => "/v1/chat/completions",
            Flavor::Anthropic => "/v1/messages",
        };
        let app = Router::new()
            .route(path, post(handle))
            .route("/v1/models", axum::routing::get(models))
            .with_state(shared.clone());
        let server = Served::start("fake LLM", app).await;
        let base_url = match flavor {
            Flavor::OpenAi => server.url("/v1"),
            Flavor::Anthropic => server.url(""),
        };
        Self {
            base_url,
            shared,
            _server: server,
        }
    }

    /// Replaces the model list `GET /v1/models` answers with.
    pub fn set_models(&self, models: &[&str]) {
        *self.shared.models.lock().expect("models lock") =
            models.iter().map(|m| (*m).to_owned()).collect();
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// A provider pointing at this fake.
    pub fn provider(&self, api_key: &str, model: &str) -> llm::Provider {
        match self.shared.flavor {
            Flavor::OpenAi => llm::Provider::OpenAi {
                base_url: self.base_url.clone(),
                api_key: Some(api_key.to_owned()),
                model: model.to_owned(),
            },
            Flavor::Anthropic => llm::Provider::Anthropic {
                base_url: self.base_url.clone(),
                api_key: api_key.to_owned(),
                model: model.to_owned(),
            },
        }
    }
}

async fn models(State(shared): State<Arc<Shared>>) -> Response {
    let data: Vec<Value> = shared
        .models
        .lock()
        .expect("models lock")
        .iter()
        .map(|id| json!({"id": id, "object": "model", "type": "model"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let recorded_headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or("<binary>").to_owned(),
            )
        })
        .collect();
    let tool = body
        .pointer("/tool_choice/name")
        .and_then(Value::as_str)
        .unwrap_or("answer")
        .to_owned();
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake")
        .to_owned();
    shared
        .requests
        .lock()
        .expect("requests lock")
        .push(Recorded {
            path: uri.path().to_owned(),
            headers: recorded_headers,
            body,
        });
    let next = shared.script.lock().expect("script lock").pop_front();
    let Some(mut reply) = next else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "fake LLM: script exhausted",
        )
            .into_response();
    };
    while let Reply::Delayed(wait, inner) = reply {
        tokio::time::sleep(wait).await;
        reply = *inner;
    }
    match reply {
        Reply::Answer(text) => answer(shared.flavor, &model, &tool, text).into_response(),
        Reply::Raw {
            status,
            headers,
            body,
        } => {
            let mut response =
                (StatusCode::from_u16(status).expect("status code"), body).into_response();
            for (k, v) in headers {
                response.headers_mut().insert(
                    HeaderName::try_from(k).expect("header name"),
                    HeaderValue::try_from(v).expect("header value"),
                );
            }
            response
        }
        Reply::Delayed(..) => unreachable!("unwrapped above"),
    }
}

fn answer(flavor: Flavor, model: &str, tool: &str, text: String) -> axum::Json<Value> {
    axum::Json(match flavor {
        Flavor::OpenAi => json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": null},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        }),
        Flavor::Anthropic => {
            let block = match serde_json::from_str::<Value>(&text) {
                Ok(input @ Value::Object(_)) => {
                    json!({"type": "tool_use", "id": "toolu_fake", "name": tool, "input": input})
                }
                _ => json!({"type": "text", "text": text}),
            };
            let stop = if block["type"] == "tool_use" {
                "tool_use"
            } else {
                "end_turn"
            };
            json!({
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": stop,
                "usage": {"input_tokens": 0, "output_tokens": 0}
            })
        }
    })
}
