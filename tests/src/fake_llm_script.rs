//! Scripted fake of an OpenAI-compatible chat-completions endpoint, for driving the REAL
//! OpenCode binary offline. It answers in the streaming (SSE) shape OpenCode 1.18.x requires;
//! a plain JSON body would make OpenCode loop forever.
//!
//! Several scripts can share one fake: each is chosen by a marker in the newest user message, so
//! one OpenCode server can run different scenarios in different sessions.
//!
//! The step to play is derived from the conversation itself (how many tool-call turns follow
//! the newest user message), not from a request counter, so a retried request replays the same
//! step instead of skipping ahead.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::served::Served;

/// One scripted assistant turn.
#[derive(Clone, Debug)]
pub enum ScriptStep {
    /// Call a tool (`bash`, `write`, `edit`, …) with these arguments.
    ToolCall { name: String, arguments: Value },
    /// A final text answer (ends OpenCode's loop).
    Text(String),
    /// Never answer (until the client goes away): a stalled provider, for deadline + abort.
    Hang,
}

impl ScriptStep {
    pub fn bash(command: &str) -> Self {
        Self::ToolCall {
            name: "bash".to_owned(),
            arguments: json!({ "command": command, "description": "scripted step" }),
        }
    }
}

/// What one chat-completions request looked like.
#[derive(Clone, Debug)]
pub struct RecordedChat {
    pub authorization: Option<String>,
    pub model: String,
    pub stream: bool,
    /// Whether the request offered tools (title generation does not).
    pub with_tools: bool,
    /// The step index answered (`None` for tool-less requests).
    pub step: Option<usize>,
    /// `role: tool` message contents of the request, i.e. the outputs OpenCode sent back.
    pub tool_results: Vec<String>,
}

/// Text sent once the script is exhausted, so a misbehaving run ends instead of looping.
pub const SCRIPT_EXHAUSTED_TEXT: &str = "Script exhausted; stopping.";

struct Inner {
    /// `(marker, steps)`: the first whose marker occurs in the newest user message plays.
    scripts: Vec<(String, Vec<ScriptStep>)>,
    recorded: Vec<RecordedChat>,
}

pub struct FakeLlmScript {
    base: String,
    shared: Arc<Mutex<Inner>>,
    /// Only held: dropping it stops the server.
    _server: Served,
}

impl FakeLlmScript {
    /// One script for every conversation.
    pub async fn start(steps: Vec<ScriptStep>) -> Self {
        Self::start_routed(vec![(String::new(), steps)]).await
    }

    /// Scripts chosen by a marker in the newest user message (first match; `""` matches all).
    pub async fn start_routed(scripts: Vec<(String, Vec<ScriptStep>)>) -> Self {
        let shared = Arc::new(Mutex::new(Inner {
            scripts,
            recorded: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(shared.clone());
        let server = Served::start("fake llm", app).await;
        Self {
            base: server.url("/v1"),
            shared,
            _server: server,
        }
    }

    /// The provider `baseURL` (ends in `/v1`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn recorded(&self) -> Vec<RecordedChat> {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recorded
            .clone()
    }
}

/// Text of the newest user message (a plain string, or text parts).
fn latest_user_text(messages: &[Value]) -> String {
    let Some(user) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    else {
        return String::new();
    };
    match user.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Tool-call turns after the newest user message = how many steps were already played.
fn step_index(messages: &[Value]) -> usize {
    let last_user = messages
        .iter()
        .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map_or(0, |i| i + 1);
    messages[last_user.min(messages.len())..]
        .iter()
        .filter(|m| {
            m.get("role").and_then(Value::as_str) == Some("assistant")
                && m.get("tool_calls")
                    .and_then(Value::as_array)
                    .is_some_and(|calls| !calls.is_empty())
        })
        .count()
}

async fn chat(
    State(shared): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error":{"message":"body is not JSON","type":"invalid_request_error"}}),
            ),
        )
            .into_response();
    };
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let with_tools = request
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let tool_results = messages
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
        .map(|m| match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        })
        .collect();

    let (step_no, step) = {
        let mut inner = shared.lock().unwrap_or_else(|p| p.into_inner());
        let (step_no, step) = if with_tools {
            let i = step_index(&messages);
            let prompt = latest_user_text(&messages);
            let step = inner
                .scripts
                .iter()
                .find(|(marker, _)| prompt.contains(marker.as_str()))
                .and_then(|(_, steps)| steps.get(i).cloned())
                .unwrap_or_else(|| ScriptStep::Text(SCRIPT_EXHAUSTED_TEXT.to_owned()));
            (Some(i), step)
        } else {
            // Title generation and other helper calls.
            (None, ScriptStep::Text("Autofix session".to_owned()))
        };
        inner.recorded.push(RecordedChat {
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            model: model.clone(),
            stream: request.get("stream").and_then(Value::as_bool) == Some(true),
            with_tools,
            step: step_no,
            tool_results,
        });
        (step_no, step)
    };
    if matches!(step, ScriptStep::Hang) {
        // The handler future is dropped when OpenCode closes the connection (abort).
        std::future::pending::<()>().await;
    }
    let id = format!(
        "chatcmpl-{}",
        step_no.map_or("aux".to_owned(), |i| i.to_string())
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        sse_body(&id, &model, &step),
    )
        .into_response()
}

fn chunk(id: &str, model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": id, "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    })
}

/// The complete SSE stream for one turn, in the chunk sequence OpenCode 1.18.33 accepts.
/// Panics for [`ScriptStep::Hang`], which by definition sends nothing.
pub fn sse_body(id: &str, model: &str, step: &ScriptStep) -> String {
    let mut chunks = vec![chunk(
        id,
        model,
        json!({"role": "assistant", "content": ""}),
        None,
    )];
    let finish = match step {
        ScriptStep::Hang => unreachable!("a hanging step sends no body"),
        ScriptStep::Text(text) => {
            chunks.push(chunk(id, model, json!({"content": text}), None));
            "stop"
        }
        ScriptStep::ToolCall { name, arguments } => {
            chunks.push(chunk(
                id,
                model,
                json!({"tool_calls": [{"index": 0, "id": format!("call_{id}"), "type": "function",
                                       "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            chunks.push(chunk(
                id,
                model,
                json!({"tool_calls": [{"index": 0, "function": {"arguments": arguments.to_string()}}]}),
                None,
            ));
            "tool_calls"
        }
    };
    let mut last = chunk(id, model, json!({}), Some(finish));
    last["usage"] = json!({"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120});
    chunks.push(last);
    let mut out = String::new();
    for c in chunks {
        out.push_str("data: ");
        out.push_str(&c.to_string());
        out.push_str("\n\n");
    }
    out.push_str("data: [DONE]\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_count_from_the_newest_user_message() {
        let msgs = vec![
            json!({"role":"system","content":"x"}),
            json!({"role":"user","content":"first"}),
            json!({"role":"assistant","content":"","tool_calls":[{"id":"a"}]}),
            json!({"role":"tool","tool_call_id":"a","content":"out"}),
            json!({"role":"assistant","content":"done"}),
            json!({"role":"user","content":"second"}),
            json!({"role":"assistant","content":"","tool_calls":[{"id":"b"}]}),
            json!({"role":"tool","tool_call_id":"b","content":"out"}),
        ];
        assert_eq!(step_index(&msgs), 1);
        assert_eq!(step_index(&msgs[..6]), 0);
        assert_eq!(step_index(&[]), 0);
    }

    #[test]
    fn latest_user_text_reads_strings_and_parts() {
        let msgs = vec![
            json!({"role":"user","content":"old [hang]"}),
            json!({"role":"user","content":[{"type":"text","text":"new"},{"type":"text","text":"two"}]}),
            json!({"role":"assistant","content":"x"}),
        ];
        assert_eq!(latest_user_text(&msgs), "new\ntwo");
        assert_eq!(latest_user_text(&msgs[..1]), "old [hang]");
        assert_eq!(latest_user_text(&[]), "");
    }

    #[test]
    fn tool_call_stream_shape() {
        let body = sse_body("c1", "m", &ScriptStep::bash("git status"));
        let events: Vec<Value> = body
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(events.len(), 4);
        let args = events[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(args).unwrap()["command"],
            "git status"
        );
        assert_eq!(events[3]["choices"][0]["finish_reason"], "tool_calls");
        assert!(body.ends_with("data: [DONE]\n\n"));
    }
}
