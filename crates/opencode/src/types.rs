use serde::{Deserialize, Serialize};

/// A session as returned by `POST /session` (only the fields we use; the server sends more).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Session id (`ses_…`), the path segment of every session route.
    pub id: String,
    /// Short human-readable name the server gives the session.
    #[serde(default)]
    pub slug: String,
    /// Id of the OpenCode project (the repository) the session belongs to.
    #[serde(rename = "projectID", default)]
    pub project_id: String,
    /// Working directory of the session on the server's machine: the checked-out repository.
    pub directory: String,
    /// Title the server generates from the first prompt.
    #[serde(default)]
    pub title: String,
    /// OpenCode version that created the session; lets us notice version drift.
    #[serde(default)]
    pub version: String,
}

/// Where a session's agent loop is, per `GET /session/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SessionState {
    /// Not listed as busy. Right after `prompt_async` a session is still `Idle` for a moment,
    /// so idle alone does not mean "finished": see [`crate::judge`].
    Idle,
    /// An agent loop is running (an LLM call or a tool).
    Busy,
    /// OpenCode is retrying a failing LLM call, indefinitely; `message` says why.
    Retry {
        /// How many times the call has been retried so far.
        attempt: u32,
        /// The failure OpenCode is retrying (a rate limit, an authentication error, …).
        message: String,
    },
}

/// `provider/model` as OpenCode names models, e.g. `openai` + `gpt-4.1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Provider id, e.g. `openai`.
    #[serde(rename = "providerID")]
    pub provider_id: String,
    /// Model id within the provider, e.g. `gpt-4.1`; may contain `/`.
    #[serde(rename = "modelID")]
    pub model_id: String,
}

impl ModelRef {
    /// From the two halves.
    pub fn new(provider_id: impl Into<String>, model_id: impl Into<String>) -> Self {
        Self {
            provider_id: provider_id.into(),
            model_id: model_id.into(),
        }
    }

    /// Parses OpenCode's `provider/model` notation. Model ids may themselves contain `/`
    /// (`openrouter/anthropic/claude-sonnet-4`), so only the first `/` separates.
    pub fn parse(spec: &str) -> Option<Self> {
        let (provider, model) = spec.split_once('/')?;
        if provider.is_empty() || model.is_empty() {
            return None;
        }
        Some(Self::new(provider, model))
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider_id, self.model_id)
    }
}

/// One prompt for `prompt_async`. `model`/`agent` default to the server config (`build`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptRequest {
    /// The user message text.
    pub text: String,
    /// Model for this prompt; `None` uses the server's configured model.
    pub model: Option<ModelRef>,
    /// Agent (`build`, `plan`, …); `None` uses the server's default.
    pub agent: Option<String>,
    /// Extra system prompt text appended to OpenCode's own.
    pub system: Option<String>,
}

impl PromptRequest {
    /// A prompt with only its text; the server's defaults for the rest.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// The wire body. The server's schema has `additionalProperties: false`, so absent options
    /// must be omitted, not sent as `null`.
    pub(crate) fn body(&self) -> PromptBody<'_> {
        PromptBody {
            parts: [TextPartInput {
                kind: "text",
                text: &self.text,
            }],
            model: self.model.as_ref(),
            agent: self.agent.as_deref(),
            system: self.system.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct PromptBody<'a> {
    parts: [TextPartInput<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a ModelRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
}

#[derive(Serialize)]
struct TextPartInput<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

/// An assistant turn, reduced to what deciding "done?" and reporting need. Tool outputs are left
/// out on purpose: they can contain anything the agent printed, secrets included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// Message id (`msg_…`).
    pub id: String,
    /// The user message this turn answers.
    pub parent_id: Option<String>,
    /// Text parts of this turn joined by blank lines (the final answer for the last turn).
    pub text: String,
    /// `stop` when the loop ended normally; `tool-calls` while it continues; absent on abort.
    pub finish: Option<String>,
    /// The turn's error when it failed (LLM error, abort, output limit).
    pub error: Option<MessageError>,
    /// Whether the turn has finished streaming (`time.completed` set).
    pub completed: bool,
    /// The model that produced the turn.
    pub model: Option<ModelRef>,
    /// Tools called in this turn with their final state (`completed`, `error`, …).
    pub tools: Vec<ToolUse>,
}

/// One tool call of a turn: which tool, and where it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolUse {
    /// Tool name, e.g. `bash`, `edit`.
    pub tool: String,
    /// State of the call: `pending`, `running`, `completed` or `error`.
    pub status: String,
}

/// `{"name":"APIError","data":{"message":…}}` and friends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageError {
    /// Error class, e.g. `APIError`, `MessageAbortedError`, `MessageOutputLengthError`.
    pub name: String,
    /// The error's `data.message`; empty when it had none.
    pub message: String,
}

impl std::fmt::Display for MessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}: {}", self.name, self.message)
        }
    }
}

// ---- wire shapes of GET /session/{id}/message (lenient: only what we read) ----

#[derive(Deserialize)]
pub(crate) struct WireMessage {
    info: WireInfo,
    #[serde(default)]
    parts: Vec<WirePart>,
}

#[derive(Deserialize)]
struct WireInfo {
    id: String,
    role: String,
    #[serde(rename = "parentID")]
    parent_id: Option<String>,
    #[serde(default)]
    time: WireTime,
    finish: Option<String>,
    error: Option<WireError>,
    #[serde(rename = "providerID")]
    provider_id: Option<String>,
    #[serde(rename = "modelID")]
    model_id: Option<String>,
}

#[derive(Default, Deserialize)]
struct WireTime {
    completed: Option<u64>,
}

#[derive(Deserialize)]
struct WireError {
    name: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WirePart {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    #[serde(default)]
    synthetic: bool,
    #[serde(default)]
    ignored: bool,
    tool: Option<String>,
    state: Option<WireToolState>,
}

#[derive(Deserialize)]
struct WireToolState {
    status: String,
}

/// The reply to the newest user message: the last message, if it is an assistant turn.
/// `None` while the newest message is still our prompt (the loop has not produced a turn yet),
/// so an earlier prompt's finished answer is never mistaken for this one's.
pub(crate) fn reply_to_latest_prompt(messages: Vec<WireMessage>) -> Option<AssistantMessage> {
    let last = messages.into_iter().next_back()?;
    if last.info.role != "assistant" {
        return None;
    }
    let WireMessage { info, parts } = last;
    let text = parts
        .iter()
        .filter(|p| p.kind == "text" && !p.synthetic && !p.ignored)
        .filter_map(|p| p.text.as_deref())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let tools = parts
        .iter()
        .filter(|p| p.kind == "tool")
        .map(|p| ToolUse {
            tool: p.tool.clone().unwrap_or_default(),
            status: p
                .state
                .as_ref()
                .map(|s| s.status.clone())
                .unwrap_or_default(),
        })
        .collect();
    let model = match (info.provider_id, info.model_id) {
        (Some(p), Some(m)) => Some(ModelRef::new(p, m)),
        _ => None,
    };
    Some(AssistantMessage {
        id: info.id,
        parent_id: info.parent_id,
        text,
        finish: info.finish,
        error: info.error.map(|e| MessageError {
            message: e
                .data
                .as_ref()
                .and_then(|d| d.get("message"))
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_owned(),
            name: e.name,
        }),
        completed: info.time.completed.is_some(),
        model,
        tools,
    })
}

/// `GET /session/status` lists busy/retrying sessions only; absent means idle.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum WireStatus {
    Idle,
    Busy,
    Retry {
        attempt: u32,
        #[serde(default)]
        message: String,
    },
}

impl From<WireStatus> for SessionState {
    fn from(s: WireStatus) -> Self {
        match s {
            WireStatus::Idle => Self::Idle,
            WireStatus::Busy => Self::Busy,
            WireStatus::Retry { attempt, message } => Self::Retry { attempt, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompt_body_omits_absent_options() {
        let body = serde_json::to_value(PromptRequest::new("fix it").body()).unwrap();
        assert_eq!(body, json!({"parts":[{"type":"text","text":"fix it"}]}));
    }

    #[test]
    fn prompt_body_with_all_options() {
        let req = PromptRequest {
            text: "fix".into(),
            model: Some(ModelRef::new("fake", "fake-model")),
            agent: Some("build".into()),
            system: Some("be brief".into()),
        };
        let body = serde_json::to_value(req.body()).unwrap();
        assert_eq!(
            body,
            json!({"parts":[{"type":"text","text":"fix"}],
                   "model":{"providerID":"fake","modelID":"fake-model"},
                   "agent":"build","system":"be brief"})
        );
    }

    #[test]
    fn model_ref_parse() {
        assert_eq!(
            ModelRef::parse("openrouter/anthropic/claude"),
            Some(ModelRef::new("openrouter", "anthropic/claude"))
        );
        assert_eq!(ModelRef::parse("nomodel"), None);
        assert_eq!(ModelRef::parse("/x"), None);
        assert_eq!(ModelRef::new("a", "b").to_string(), "a/b");
    }

    fn wire(v: serde_json::Value) -> Vec<WireMessage> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn reply_is_the_last_assistant_turn() {
        let msgs = wire(json!([
            {"info":{"id":"msg_1","role":"user","time":{"created":1}},
             "parts":[{"type":"text","text":"fix"}]},
            {"info":{"id":"msg_2","role":"assistant","parentID":"msg_1","time":{"created":2,"completed":3},
                     "finish":"tool-calls","providerID":"fake","modelID":"m"},
             "parts":[{"type":"step-start"},
                      {"type":"tool","tool":"bash","callID":"c","state":{"status":"completed","output":"secret"}}]},
            {"info":{"id":"msg_3","role":"assistant","parentID":"msg_1","time":{"created":4,"completed":5},
                     "finish":"stop","providerID":"fake","modelID":"m"},
             "parts":[{"type":"text","text":"Done. "},{"type":"text","text":"hidden","synthetic":true},
                      {"type":"text","text":"PR: x"}]}
        ]));
        let m = reply_to_latest_prompt(msgs).unwrap();
        assert_eq!(m.id, "msg_3");
        assert_eq!(m.text, "Done.\n\nPR: x");
        assert_eq!(m.finish.as_deref(), Some("stop"));
        assert!(m.completed);
        assert_eq!(m.model, Some(ModelRef::new("fake", "m")));
        assert!(m.tools.is_empty());
    }

    #[test]
    fn no_reply_while_the_prompt_is_newest() {
        let msgs = wire(json!([
            {"info":{"id":"msg_1","role":"user","time":{"created":1}},"parts":[]},
            {"info":{"id":"msg_2","role":"assistant","parentID":"msg_1","time":{"created":2,"completed":3},"finish":"stop"},"parts":[]},
            {"info":{"id":"msg_4","role":"user","time":{"created":5}},"parts":[]}
        ]));
        assert_eq!(reply_to_latest_prompt(msgs), None);
        assert_eq!(reply_to_latest_prompt(Vec::new()), None);
    }

    #[test]
    fn error_and_tools_are_read() {
        let msgs = wire(json!([
            {"info":{"id":"msg_2","role":"assistant","time":{"created":2,"completed":3},
                     "error":{"name":"MessageAbortedError","data":{"message":"Aborted"}}},
             "parts":[{"type":"tool","tool":"bash","state":{"status":"error"}}]}
        ]));
        let m = reply_to_latest_prompt(msgs).unwrap();
        assert_eq!(
            m.error,
            Some(MessageError {
                name: "MessageAbortedError".into(),
                message: "Aborted".into()
            })
        );
        assert_eq!(m.error.unwrap().to_string(), "MessageAbortedError: Aborted");
        assert_eq!(
            m.tools,
            vec![ToolUse {
                tool: "bash".into(),
                status: "error".into()
            }]
        );
        assert_eq!(m.finish, None);
    }

    #[test]
    fn status_shapes() {
        let s: WireStatus = serde_json::from_value(
            json!({"type":"retry","attempt":3,"message":"fake 500 failure","next":1795422336036u64}),
        )
        .unwrap();
        assert_eq!(
            SessionState::from(s),
            SessionState::Retry {
                attempt: 3,
                message: "fake 500 failure".into()
            }
        );
        let s: WireStatus = serde_json::from_value(json!({"type":"busy"})).unwrap();
        assert_eq!(SessionState::from(s), SessionState::Busy);
    }
}
