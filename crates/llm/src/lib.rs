//! A small LLM client for one job: ask a model for a JSON document that follows a given JSON
//! schema.
//!
//! Two wire shapes are supported:
//!
//! - **OpenAI-compatible chat completions** (`POST {base}/chat/completions`): OpenAI, OpenRouter,
//!   Ollama, vLLM, LiteLLM, … Structured output uses `response_format` with a `json_schema` in
//!   strict mode, so the schema must follow the strict-mode rules (every object
//!   `additionalProperties: false`, every property required, optionals typed `[T, "null"]`).
//! - **Anthropic Messages** (`POST {base}/v1/messages`). Structured output uses a forced tool call
//!   (`tools: [{name, input_schema}]`, `tool_choice: {type: "tool", name}`) and the tool input is
//!   the answer. A forced tool call is chosen over Anthropic's newer `output_config.format`
//!   because it works on every model generation that the Messages API serves and the schema rules
//!   are the same JSON Schema subset.
//!
//! The client does not retry: callers run inside Inngest steps, which already retry, and
//! [`LlmError::is_retriable`] says whether a retry can help.

#![warn(missing_docs)]

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

/// Default base URL of OpenAI's API (`OPENAI_BASE_URL` overrides it).
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Default base URL of Anthropic's API (`ANTHROPIC_BASE_URL` overrides it).
pub const ANTHROPIC_DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// Model used with an OpenAI-compatible provider when `AUTOFIX_LLM_MODEL` is not set.
pub const OPENAI_DEFAULT_MODEL: &str = "gpt-4o-mini";
/// Model used with Anthropic when `AUTOFIX_LLM_MODEL` is not set.
pub const ANTHROPIC_DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// The Messages API version this client speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Environment variable names, so messages and docs use the names users already know.
pub mod env {
    /// Bearer key for the OpenAI-compatible endpoint; optional for local servers.
    pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
    /// Base URL of the OpenAI-compatible endpoint, up to and including `/v1`.
    pub const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
    /// Anthropic API key; setting it selects Anthropic unless the provider is chosen explicitly.
    pub const ANTHROPIC_API_KEY: &str = "ANTHROPIC_API_KEY";
    /// Base URL of the Anthropic API (for a proxy or a test double).
    pub const ANTHROPIC_BASE_URL: &str = "ANTHROPIC_BASE_URL";
    /// Model name for whichever provider is selected; each has its own default.
    pub const MODEL: &str = "AUTOFIX_LLM_MODEL";
    /// `openai` or `anthropic`; only needed when both keys are set or for a key-less
    /// OpenAI-compatible server without `OPENAI_BASE_URL`.
    pub const PROVIDER: &str = "AUTOFIX_LLM_PROVIDER";
}

/// Which API to talk to. `Debug` never prints keys.
#[derive(Clone, PartialEq, Eq)]
pub enum Provider {
    /// Any OpenAI-compatible chat-completions endpoint. Local servers (Ollama, vLLM) need no key.
    OpenAi {
        /// Up to and including `/v1` (e.g. `https://api.openai.com/v1`); `/chat/completions` is appended.
        base_url: String,
        /// Sent as `Authorization: Bearer`; `None` for key-less local servers.
        api_key: Option<String>,
        /// Model name sent with each request.
        model: String,
    },
    /// Anthropic's Messages API.
    Anthropic {
        /// E.g. `https://api.anthropic.com`; `/v1/messages` is appended.
        base_url: String,
        /// Sent as `x-api-key`.
        api_key: String,
        /// Model name sent with each request.
        model: String,
    },
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |present: bool| if present { "<redacted>" } else { "<none>" };
        match self {
            Self::OpenAi {
                base_url,
                api_key,
                model,
            } => f
                .debug_struct("OpenAi")
                .field("base_url", base_url)
                .field("api_key", &redacted(api_key.is_some()))
                .field("model", model)
                .finish(),
            Self::Anthropic {
                base_url,
                api_key: _,
                model,
            } => f
                .debug_struct("Anthropic")
                .field("base_url", base_url)
                .field("api_key", &redacted(true))
                .field("model", model)
                .finish(),
        }
    }
}

/// Which provider was asked for explicitly (`AUTOFIX_LLM_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Any OpenAI-compatible endpoint.
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
    /// No LLM: rule-based analysis.
    None,
}

impl Choice {
    /// `openai` (or `openai-compatible`), `anthropic` or `none`, any case.
    pub fn parse(text: &str) -> Option<Choice> {
        match text.trim().to_ascii_lowercase().as_str() {
            "openai" | "openai-compatible" => Some(Choice::OpenAi),
            "anthropic" => Some(Choice::Anthropic),
            "none" => Some(Choice::None),
            _ => None,
        }
    }
}

/// The LLM settings, typed; `None` means unset. The binary fills it from its command line.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `AUTOFIX_LLM_PROVIDER`.
    pub choice: Option<Choice>,
    /// `OPENAI_API_KEY`.
    pub openai_api_key: Option<String>,
    /// `OPENAI_BASE_URL`.
    pub openai_base_url: Option<String>,
    /// `ANTHROPIC_API_KEY`.
    pub anthropic_api_key: Option<String>,
    /// `ANTHROPIC_BASE_URL`.
    pub anthropic_base_url: Option<String>,
    /// `AUTOFIX_LLM_MODEL`.
    pub model: Option<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| if v.is_some() { "<redacted>" } else { "<none>" };
        f.debug_struct("Settings")
            .field("choice", &self.choice)
            .field("openai_api_key", &redacted(&self.openai_api_key))
            .field("openai_base_url", &self.openai_base_url)
            .field("anthropic_api_key", &redacted(&self.anthropic_api_key))
            .field("anthropic_base_url", &self.anthropic_base_url)
            .field("model", &self.model)
            .finish()
    }
}

/// Why the LLM configuration in the environment cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={value:?} is not a known provider (expected `openai`, `anthropic` or `none`)")]
    /// `AUTOFIX_LLM_PROVIDER` has a value we do not know.
    UnknownProvider {
        /// The variable's name.
        var: &'static str,
        /// The value found (a provider name, not a secret).
        value: String,
    },
    #[error("{provider_var}={provider} needs {key_var}")]
    /// The provider was chosen explicitly but the credential it needs is not set.
    MissingKey {
        /// The variable that chose the provider.
        provider_var: &'static str,
        /// The provider chosen.
        provider: &'static str,
        /// The variable (or variables) that would satisfy it.
        key_var: &'static str,
    },
    #[error("{var} must be an http(s) URL, got {value:?}")]
    /// A base URL is not `http://` or `https://`.
    BadBaseUrl {
        /// The variable's name.
        var: &'static str,
        /// The value found.
        value: String,
    },
}

impl Provider {
    /// Reads the provider from the process environment; `Ok(None)` means no LLM is configured
    /// and the caller should fall back to rule-based analysis.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Same as [`Provider::from_env`] over any lookup, so the rules are testable.
    /// Empty values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let choice = match get(env::PROVIDER) {
            Some(p) => Some(Choice::parse(&p).ok_or(ConfigError::UnknownProvider {
                var: env::PROVIDER,
                value: p,
            })?),
            None => None,
        };
        Self::select(Settings {
            choice,
            openai_api_key: get(env::OPENAI_API_KEY),
            openai_base_url: get(env::OPENAI_BASE_URL),
            anthropic_api_key: get(env::ANTHROPIC_API_KEY),
            anthropic_base_url: get(env::ANTHROPIC_BASE_URL),
            model: get(env::MODEL),
        })
    }

    /// The provider the settings select, or `None` for rule-based analysis.
    ///
    /// Rules: an explicit choice wins and must have what it needs (Anthropic its key; OpenAI a
    /// key, or a base URL for a key-less local server). Otherwise `ANTHROPIC_API_KEY` selects
    /// Anthropic, else `OPENAI_API_KEY` or `OPENAI_BASE_URL` an OpenAI-compatible endpoint.
    pub fn select(settings: Settings) -> Result<Option<Self>, ConfigError> {
        let non_empty =
            |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let openai_key = non_empty(settings.openai_api_key);
        let openai_base = non_empty(settings.openai_base_url);
        let anthropic_key = non_empty(settings.anthropic_api_key);
        let model = non_empty(settings.model);
        let choice = match settings.choice {
            Some(Choice::None) => return Ok(None),
            Some(Choice::OpenAi) => {
                if openai_key.is_none() && openai_base.is_none() {
                    return Err(ConfigError::MissingKey {
                        provider_var: env::PROVIDER,
                        provider: "openai",
                        key_var: "OPENAI_API_KEY (or OPENAI_BASE_URL for a key-less local server)",
                    });
                }
                Choice::OpenAi
            }
            Some(Choice::Anthropic) => Choice::Anthropic,
            None if anthropic_key.is_some() => Choice::Anthropic,
            None if openai_key.is_some() || openai_base.is_some() => Choice::OpenAi,
            None => return Ok(None),
        };
        match choice {
            Choice::None => Ok(None),
            Choice::OpenAi => {
                let base_url =
                    checked_base(env::OPENAI_BASE_URL, openai_base, OPENAI_DEFAULT_BASE_URL)?;
                Ok(Some(Self::OpenAi {
                    base_url,
                    api_key: openai_key,
                    model: model.unwrap_or_else(|| OPENAI_DEFAULT_MODEL.to_owned()),
                }))
            }
            Choice::Anthropic => {
                let api_key = anthropic_key.ok_or(ConfigError::MissingKey {
                    provider_var: env::PROVIDER,
                    provider: "anthropic",
                    key_var: env::ANTHROPIC_API_KEY,
                })?;
                let base_url = checked_base(
                    env::ANTHROPIC_BASE_URL,
                    non_empty(settings.anthropic_base_url),
                    ANTHROPIC_DEFAULT_BASE_URL,
                )?;
                Ok(Some(Self::Anthropic {
                    base_url,
                    api_key,
                    model: model.unwrap_or_else(|| ANTHROPIC_DEFAULT_MODEL.to_owned()),
                }))
            }
        }
    }

    /// Short provider name used in analysis labels: `openai-compatible` or `anthropic`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OpenAi { .. } => "openai-compatible",
            Self::Anthropic { .. } => "anthropic",
        }
    }

    /// The model name requests use.
    pub fn model(&self) -> &str {
        match self {
            Self::OpenAi { model, .. } | Self::Anthropic { model, .. } => model,
        }
    }

    /// The endpoint's base URL, without trailing `/`.
    pub fn base_url(&self) -> &str {
        match self {
            Self::OpenAi { base_url, .. } | Self::Anthropic { base_url, .. } => base_url,
        }
    }

    fn key_var(&self) -> &'static str {
        match self {
            Self::OpenAi { .. } => env::OPENAI_API_KEY,
            Self::Anthropic { .. } => env::ANTHROPIC_API_KEY,
        }
    }

    fn api_key(&self) -> Option<&str> {
        match self {
            Self::OpenAi { api_key, .. } => api_key.as_deref(),
            Self::Anthropic { api_key, .. } => Some(api_key),
        }
    }
}

fn checked_base(
    var: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(ConfigError::BadBaseUrl { var, value });
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// Everything that can go wrong in one call. Messages never contain API keys.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{provider} rejected the credentials (HTTP {status}); check {key_var}")]
    /// HTTP 401 or 403: the key is wrong or lacks access; not retriable.
    Unauthorized {
        /// `openai-compatible` or `anthropic` ([`Provider::kind`]).
        provider: &'static str,
        /// 401 or 403.
        status: u16,
        /// The variable holding the key, for the message.
        key_var: &'static str,
    },
    #[error("{provider} rate limit hit{}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    /// HTTP 429: retriable, after `retry_after` when the provider sent `Retry-After`.
    RateLimited {
        /// `openai-compatible` or `anthropic` ([`Provider::kind`]).
        provider: &'static str,
        /// The provider's `Retry-After`, when present.
        retry_after: Option<Duration>,
    },
    #[error("{provider} server error (HTTP {status})")]
    /// HTTP 408 or 5xx (529 is Anthropic's "overloaded"): retriable.
    Server {
        /// `openai-compatible` or `anthropic` ([`Provider::kind`]).
        provider: &'static str,
        /// The status code.
        status: u16,
    },
    #[error("{provider} request timed out after {}s", timeout.as_secs())]
    /// No complete answer within the per-request timeout: retriable.
    Timeout {
        /// `openai-compatible` or `anthropic` ([`Provider::kind`]).
        provider: &'static str,
        /// The timeout that elapsed ([`Llm::with_timeout`]).
        timeout: Duration,
    },
    #[error("cannot reach {provider} at {base_url}: {detail}")]
    /// Connecting or sending failed (DNS, refused, TLS, reset): retriable.
    Connect {
        /// `openai-compatible` or `anthropic` ([`Provider::kind`]).
        provider: &'static str,
        /// The endpoint we tried (contains no key).
        base_url: String,
        /// The HTTP client's error, redacted.
        detail: String,
    },
    #[error("{provider} rejected the request (HTTP {status}): {message}")]
    /// Any other 4xx (bad model name, invalid schema, too long a prompt): not retriable.
    Rejected {
        /// `openai-compatible` or `anthropic` ([`Provider::kind`]).
        provider: &'static str,
        /// The status code.
        status: u16,
        /// The API's `error.message` (or the start of the body), at most 400 characters, redacted.
        message: String,
    },
    #[error("{provider} sent an unusable response: {detail}")]
    /// A 2xx answer we cannot use: not JSON, no content, content not matching the schema.
    BadResponse {
        /// `openai-compatible` or `anthropic` ([`Provider::kind`]).
        provider: &'static str,
        /// What was wrong, redacted.
        detail: String,
    },
    #[error(
        "the model stopped at the output limit of {max_tokens} tokens before finishing the JSON"
    )]
    /// The answer hit the output token limit, so its JSON is incomplete.
    Truncated {
        /// The output limit the request set.
        max_tokens: u32,
    },
    #[error("the model refused to answer: {0}")]
    /// The model declined (a refusal or a content filter); carries its text, at most 400
    /// characters, redacted.
    Refusal(String),
    #[error("cannot build the request to {provider}: {detail}; check the base URL and key")]
    /// The request could not be built (a malformed base URL, a key that is not a valid header
    /// value): not retriable.
    InvalidRequest {
        /// `openai-compatible` or `anthropic` ([`Provider::kind`]).
        provider: &'static str,
        /// The HTTP client's error, redacted.
        detail: String,
    },
}

impl client_error::ClientError for LlmError {
    fn error_name(&self) -> &'static str {
        "LlmError"
    }

    /// Whether the same request may succeed later (rate limits, 5xx, timeouts, network).
    fn is_retriable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Timeout { .. }
                | Self::Connect { .. }
        )
    }

    /// The wait the provider asked for, if any.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Who said a message in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Our side: the evidence, or a follow-up asking to correct an answer.
    User,
    /// The model's earlier answer, replayed for a correction turn.
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One turn of a conversation (the system prompt is passed separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// The text, sent as is.
    pub content: String,
}

impl Message {
    /// A turn of ours.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    /// A turn of the model's.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// A configured LLM endpoint over a shared `reqwest::Client`.
#[derive(Debug, Clone)]
pub struct Llm {
    http: reqwest::Client,
    provider: Provider,
    timeout: Duration,
}

/// A generous default: structured answers of a few thousand tokens take a while on slow models.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

impl Llm {
    /// A trailing `/` on the base URL is ignored (a `url::Url` renders one on bare hosts).
    pub fn new(http: reqwest::Client, mut provider: Provider) -> Self {
        match &mut provider {
            Provider::OpenAi { base_url, .. } | Provider::Anthropic { base_url, .. } => {
                let trimmed = base_url.trim_end_matches('/').len();
                base_url.truncate(trimmed);
            }
        }
        Self {
            http,
            provider,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Per-request timeout (default 180 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The provider this client talks to.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Human description without secrets, e.g.
    /// `openai-compatible gpt-4o-mini at https://api.openai.com/v1`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} at {}",
            self.provider.kind(),
            self.provider.model(),
            self.provider.base_url()
        )
    }

    /// One structured call: returns the raw JSON text the model produced for `schema`.
    pub async fn complete_json(
        &self,
        system: &str,
        user: &str,
        schema_name: &str,
        schema: &Value,
        max_tokens: u32,
    ) -> Result<String, LlmError> {
        self.complete_json_with_history(
            system,
            &[Message::user(user)],
            schema_name,
            schema,
            max_tokens,
        )
        .await
    }

    /// A structured call over a whole conversation, e.g. the first question, the model's previous
    /// (invalid) answer and a request to correct it.
    pub async fn complete_json_with_history(
        &self,
        system: &str,
        messages: &[Message],
        schema_name: &str,
        schema: &Value,
        max_tokens: u32,
    ) -> Result<String, LlmError> {
        let provider = self.provider.kind();
        let ask = Ask {
            system,
            messages,
            schema_name,
            schema,
            max_tokens,
        };
        let (url, body) = match &self.provider {
            Provider::OpenAi {
                base_url, model, ..
            } => (
                format!("{base_url}/chat/completions"),
                openai_request(base_url, model, &ask),
            ),
            Provider::Anthropic {
                base_url, model, ..
            } => (
                format!("{base_url}/v1/messages"),
                anthropic_request(model, &ask),
            ),
        };
        let request = self.authorize(self.http.post(&url).timeout(self.timeout).json(&body));
        tracing::debug!(llm = %self.describe(), messages = messages.len(), "structured LLM call");
        let response = client_error::outbound(
            self.provider.kind(),
            "structured completion",
            request.send(),
            |r| r.status().as_u16(),
        )
        .await
        .map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(client_error::parse_retry_after);
        let text = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;
        if !(200..300).contains(&status) {
            return Err(status_error(&self.provider, status, retry_after, &text));
        }
        let result = match self.provider {
            Provider::OpenAi { .. } => parse_openai_response(&text, max_tokens),
            Provider::Anthropic { .. } => parse_anthropic_response(&text, schema_name, max_tokens),
        };
        result.map_err(|e| match e {
            LlmError::BadResponse { detail, .. } => LlmError::BadResponse {
                provider,
                detail: self.redact(&detail),
            },
            LlmError::Refusal(text) => LlmError::Refusal(self.redact(&text)),
            other => other,
        })
    }

    /// The provider's authentication headers.
    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.provider {
            Provider::OpenAi {
                api_key: Some(key), ..
            } => request.bearer_auth(key),
            Provider::OpenAi { api_key: None, .. } => request,
            Provider::Anthropic { api_key, .. } => request
                .header("x-api-key", api_key)
                .header("anthropic-version", ANTHROPIC_VERSION),
        }
    }

    /// The model ids the key may use (`GET {base}/models`, Anthropic `GET {base}/v1/models`):
    /// the cheapest call that proves the key, the URL and the model name.
    pub async fn models(&self) -> Result<Vec<String>, LlmError> {
        let url = match &self.provider {
            Provider::OpenAi { base_url, .. } => format!("{base_url}/models"),
            Provider::Anthropic { base_url, .. } => format!("{base_url}/v1/models?limit=1000"),
        };
        let request = self.authorize(self.http.get(&url).timeout(self.timeout));
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;
        if !(200..300).contains(&status) {
            return Err(status_error(&self.provider, status, None, &text));
        }
        let list: Value = serde_json::from_str(&text).map_err(|e| LlmError::BadResponse {
            provider: self.provider.kind(),
            detail: self.redact(&format!("model list: {e}")),
        })?;
        Ok(list["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect())
    }

    fn transport_error(&self, error: &reqwest::Error) -> LlmError {
        let provider = self.provider.kind();
        if error.is_timeout() {
            return LlmError::Timeout {
                provider,
                timeout: self.timeout,
            };
        }
        // The error chain names the URL and the OS error; the key is only ever in headers, but
        // scrub anyway in case a proxy echoes it.
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        if error.is_builder() {
            // A malformed base URL or a key that is not a valid header value: retrying won't help.
            LlmError::InvalidRequest {
                provider,
                detail: self.redact(&detail),
            }
        } else if error.is_connect() || error.is_request() || error.is_body() {
            LlmError::Connect {
                provider,
                base_url: self.provider.base_url().to_owned(),
                detail: self.redact(&detail),
            }
        } else {
            LlmError::BadResponse {
                provider,
                detail: self.redact(&detail),
            }
        }
    }

    fn redact(&self, text: &str) -> String {
        redact_key(text, self.provider.api_key())
    }
}

/// Removes every occurrence of `key` from `text`.
fn redact_key(text: &str, key: Option<&str>) -> String {
    match key {
        Some(key) if key.len() >= 4 => text.replace(key, "<redacted>"),
        _ => text.to_owned(),
    }
}

/// Maps a non-2xx answer to an error. Provider messages are kept for 4xx (they explain schema
/// problems) but cut short and scrubbed of the key; 401/403 bodies are dropped entirely because
/// providers like to echo a masked key there.
fn status_error(
    provider: &Provider,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> LlmError {
    let name = provider.kind();
    match status {
        401 | 403 => LlmError::Unauthorized {
            provider: name,
            status,
            key_var: provider.key_var(),
        },
        429 => LlmError::RateLimited {
            provider: name,
            retry_after,
        },
        // 408 is the server giving up on a slow request, as retriable as a 5xx; 529 is
        // Anthropic's "overloaded".
        408 | 500..=599 => LlmError::Server {
            provider: name,
            status,
        },
        _ => LlmError::Rejected {
            provider: name,
            status,
            message: redact_key(&error_message(body), provider.api_key()),
        },
    }
}

/// The `error.message` both APIs use, or the start of the body.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        v.pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let message = from_json.unwrap_or_else(|| body.trim().to_owned());
    cut(&message, 400)
}

/// Redacts, then cuts: a key straddling the cut would otherwise leak its prefix.
fn cut(text: &str, max_chars: usize) -> String {
    let text = redact::redact(text);
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.into_owned(),
    }
}

/// OpenAI itself rejects `max_tokens` on its reasoning models and wants `max_completion_tokens`;
/// many compatible servers only know `max_tokens`. Pick by host.
fn token_limit_field(base_url: &str) -> &'static str {
    if base_url.contains("://api.openai.com") {
        "max_completion_tokens"
    } else {
        "max_tokens"
    }
}

/// The conversation as both APIs take it (`role` + `content`); the system prompt travels
/// separately because the two APIs place it differently.
fn wire_messages(messages: &[Message]) -> impl Iterator<Item = Value> + '_ {
    messages
        .iter()
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
}

/// What one structured call asks, whichever API it goes to.
struct Ask<'a> {
    system: &'a str,
    messages: &'a [Message],
    schema_name: &'a str,
    schema: &'a Value,
    max_tokens: u32,
}

fn openai_request(base_url: &str, model: &str, ask: &Ask<'_>) -> Value {
    let mut wire = vec![json!({"role": "system", "content": ask.system})];
    wire.extend(wire_messages(ask.messages));
    // No `temperature`: OpenAI's reasoning models reject any value but the default, and the
    // answer is validated (and repaired once) whatever the sampling.
    let mut body = json!({
        "model": model,
        "messages": wire,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": ask.schema_name, "schema": ask.schema, "strict": true},
        },
    });
    body[token_limit_field(base_url)] = json!(ask.max_tokens);
    body
}

fn anthropic_request(model: &str, ask: &Ask<'_>) -> Value {
    let wire: Vec<Value> = wire_messages(ask.messages).collect();
    json!({
        "model": model,
        "max_tokens": ask.max_tokens,
        "system": ask.system,
        "messages": wire,
        "tools": [{
            "name": ask.schema_name,
            "description": "Record the answer. Always answer by calling this tool exactly once.",
            "input_schema": ask.schema,
        }],
        "tool_choice": {"type": "tool", "name": ask.schema_name},
    })
}

fn bad(detail: impl Into<String>) -> LlmError {
    // The provider name is filled in by the caller, which knows it.
    LlmError::BadResponse {
        provider: "",
        detail: detail.into(),
    }
}

fn parse_openai_response(text: &str, max_tokens: u32) -> Result<String, LlmError> {
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("body is not JSON: {e}")))?;
    let choice = v
        .pointer("/choices/0")
        .ok_or_else(|| bad("no choices in the response"))?;
    let message = choice
        .get("message")
        .ok_or_else(|| bad("choice without a message"))?;
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        return Err(LlmError::Refusal(cut(refusal, 400)));
    }
    let finish = choice.get("finish_reason").and_then(Value::as_str);
    if finish == Some("length") {
        return Err(LlmError::Truncated { max_tokens });
    }
    if finish == Some("content_filter") {
        return Err(LlmError::Refusal(
            "the provider's content filter stopped the answer".to_owned(),
        ));
    }
    match message.get("content") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(bad("the message has no text content")),
    }
}

fn parse_anthropic_response(text: &str, tool: &str, max_tokens: u32) -> Result<String, LlmError> {
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("body is not JSON: {e}")))?;
    let stop = v.get("stop_reason").and_then(Value::as_str);
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no content blocks"))?;
    let text_of = || {
        blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if stop == Some("refusal") {
        return Err(LlmError::Refusal(cut(&text_of(), 400)));
    }
    let tool_use = blocks.iter().find(|b| {
        b.get("type").and_then(Value::as_str) == Some("tool_use")
            && b.get("name").and_then(Value::as_str) == Some(tool)
    });
    match tool_use.and_then(|b| b.get("input")) {
        Some(input) => Ok(input.to_string()),
        None if stop == Some("max_tokens") => Err(LlmError::Truncated { max_tokens }),
        None => Err(bad(format!(
            "no `{tool}` tool call in the answer (stop_reason {stop:?})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_error::ClientError;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn nothing_configured_means_no_llm() {
        assert_eq!(Provider::from_lookup(lookup(&[])).unwrap(), None);
        assert_eq!(
            Provider::from_lookup(lookup(&[("OPENAI_API_KEY", "  ")])).unwrap(),
            None
        );
    }

    #[test]
    fn openai_key_selects_openai_with_defaults() {
        let p = Provider::from_lookup(lookup(&[("OPENAI_API_KEY", "sk-test")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            p,
            Provider::OpenAi {
                base_url: OPENAI_DEFAULT_BASE_URL.into(),
                api_key: Some("sk-test".into()),
                model: OPENAI_DEFAULT_MODEL.into()
            }
        );
    }

    #[test]
    fn keyless_local_server_via_base_url() {
        let p = Provider::from_lookup(lookup(&[
            ("OPENAI_BASE_URL", "http://localhost:11434/v1/"),
            ("AUTOFIX_LLM_MODEL", "qwen2.5:7b"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            p,
            Provider::OpenAi {
                base_url: "http://localhost:11434/v1".into(),
                api_key: None,
                model: "qwen2.5:7b".into()
            }
        );
    }

    #[test]
    fn anthropic_key_selects_anthropic_and_explicit_provider_wins() {
        let p = Provider::from_lookup(lookup(&[("ANTHROPIC_API_KEY", "sk-ant")]))
            .unwrap()
            .unwrap();
        assert_eq!(p.kind(), "anthropic");
        assert_eq!(p.base_url(), ANTHROPIC_DEFAULT_BASE_URL);
        let both = [("ANTHROPIC_API_KEY", "sk-ant"), ("OPENAI_API_KEY", "sk-oa")];
        assert_eq!(
            Provider::from_lookup(lookup(&both))
                .unwrap()
                .unwrap()
                .kind(),
            "anthropic"
        );
        let forced = [
            ("ANTHROPIC_API_KEY", "sk-ant"),
            ("OPENAI_API_KEY", "sk-oa"),
            ("AUTOFIX_LLM_PROVIDER", "OpenAI"),
        ];
        assert_eq!(
            Provider::from_lookup(lookup(&forced))
                .unwrap()
                .unwrap()
                .kind(),
            "openai-compatible"
        );
    }

    #[test]
    fn trailing_slash_of_a_base_url_is_ignored() {
        let p = Provider::Anthropic {
            base_url: "https://api.anthropic.com/".into(),
            api_key: "k".into(),
            model: "m".into(),
        };
        let llm = Llm::new(reqwest::Client::new(), p);
        assert_eq!(llm.provider().base_url(), "https://api.anthropic.com");
    }

    #[test]
    fn config_errors_name_the_variable() {
        let e =
            Provider::from_lookup(lookup(&[("AUTOFIX_LLM_PROVIDER", "anthropic")])).unwrap_err();
        assert!(e.to_string().contains("ANTHROPIC_API_KEY"), "{e}");
        let e = Provider::from_lookup(lookup(&[("AUTOFIX_LLM_PROVIDER", "gemini")])).unwrap_err();
        assert!(e.to_string().contains("AUTOFIX_LLM_PROVIDER"), "{e}");
        let e =
            Provider::from_lookup(lookup(&[("OPENAI_BASE_URL", "localhost:8000")])).unwrap_err();
        assert!(e.to_string().contains("OPENAI_BASE_URL"), "{e}");
    }

    #[test]
    fn an_explicit_openai_choice_needs_a_key_or_a_base_url() {
        let e = Provider::from_lookup(lookup(&[("AUTOFIX_LLM_PROVIDER", "openai")])).unwrap_err();
        assert!(e.to_string().contains("OPENAI_API_KEY"), "{e}");
        let local = Provider::from_lookup(lookup(&[
            ("AUTOFIX_LLM_PROVIDER", "openai"),
            ("OPENAI_BASE_URL", "http://ollama:11434/v1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(local.base_url(), "http://ollama:11434/v1");
        let none = Provider::from_lookup(lookup(&[
            ("AUTOFIX_LLM_PROVIDER", "none"),
            ("OPENAI_API_KEY", "sk-x"),
        ]))
        .unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn debug_and_describe_hide_keys() {
        let p = Provider::Anthropic {
            base_url: "https://a".into(),
            api_key: "sk-ant-secret".into(),
            model: "m".into(),
        };
        let o = Provider::OpenAi {
            base_url: "https://o".into(),
            api_key: Some("sk-secret".into()),
            model: "m".into(),
        };
        for text in [
            format!("{p:?}"),
            format!("{o:?}"),
            format!("{:?}", Llm::new(reqwest::Client::new(), o.clone())),
        ] {
            assert!(!text.contains("secret"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
        assert_eq!(
            Llm::new(reqwest::Client::new(), o).describe(),
            "openai-compatible m at https://o"
        );
    }

    #[test]
    fn openai_body_is_strict_json_schema_and_picks_token_field() {
        let schema = json!({"type": "object"});
        let msgs = [
            Message::user("q"),
            Message::assistant("a"),
            Message::user("fix it"),
        ];
        let ask = |max_tokens| Ask {
            system: "sys",
            messages: &msgs,
            schema_name: "plan",
            schema: &schema,
            max_tokens,
        };
        let body = openai_request("https://api.openai.com/v1", "gpt", &ask(100));
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        assert_eq!(body["response_format"]["json_schema"]["name"], "plan");
        assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
        assert_eq!(body["max_completion_tokens"], 100);
        assert!(body.get("max_tokens").is_none());
        let roles: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        let local = openai_request("http://127.0.0.1:11434/v1", "m", &ask(7));
        assert_eq!(local["max_tokens"], 7);
    }

    #[test]
    fn anthropic_body_forces_the_tool() {
        let schema = json!({"type": "object"});
        let ask = Ask {
            system: "sys",
            messages: &[Message::user("q")],
            schema_name: "plan",
            schema: &schema,
            max_tokens: 50,
        };
        let body = anthropic_request("claude", &ask);
        assert_eq!(body["system"], "sys");
        assert_eq!(body["tools"][0]["name"], "plan");
        assert_eq!(body["tools"][0]["input_schema"], schema);
        assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "plan"}));
        assert_eq!(body["max_tokens"], 50);
    }

    #[test]
    fn openai_response_variants() {
        let ok =
            json!({"choices": [{"message": {"content": "{\"a\":1}"}, "finish_reason": "stop"}]});
        assert_eq!(
            parse_openai_response(&ok.to_string(), 10).unwrap(),
            "{\"a\":1}"
        );
        let refusal = json!({"choices": [{"message": {"content": null, "refusal": "no"}, "finish_reason": "stop"}]});
        assert!(
            matches!(parse_openai_response(&refusal.to_string(), 10), Err(LlmError::Refusal(r)) if r == "no")
        );
        let cut_off =
            json!({"choices": [{"message": {"content": "{\"a\""}, "finish_reason": "length"}]});
        assert!(matches!(
            parse_openai_response(&cut_off.to_string(), 10),
            Err(LlmError::Truncated { max_tokens: 10 })
        ));
        assert!(matches!(
            parse_openai_response("<html>", 10),
            Err(LlmError::BadResponse { .. })
        ));
        assert!(matches!(
            parse_openai_response(r#"{"choices":[]}"#, 10),
            Err(LlmError::BadResponse { .. })
        ));
    }

    #[test]
    fn anthropic_response_variants() {
        let ok = json!({"content": [{"type": "text", "text": "sure"}, {"type": "tool_use", "id": "t1", "name": "plan", "input": {"a": 1}}], "stop_reason": "tool_use"});
        assert_eq!(
            parse_anthropic_response(&ok.to_string(), "plan", 10).unwrap(),
            r#"{"a":1}"#
        );
        let other_tool = json!({"content": [{"type": "tool_use", "name": "x", "input": {}}], "stop_reason": "tool_use"});
        assert!(matches!(
            parse_anthropic_response(&other_tool.to_string(), "plan", 10),
            Err(LlmError::BadResponse { .. })
        ));
        let cut_off = json!({"content": [], "stop_reason": "max_tokens"});
        assert!(matches!(
            parse_anthropic_response(&cut_off.to_string(), "plan", 10),
            Err(LlmError::Truncated { .. })
        ));
        let refusal =
            json!({"content": [{"type": "text", "text": "I can't"}], "stop_reason": "refusal"});
        assert!(matches!(
            parse_anthropic_response(&refusal.to_string(), "plan", 10),
            Err(LlmError::Refusal(_))
        ));
    }

    #[test]
    fn status_mapping_and_retriability() {
        let p = Provider::OpenAi {
            base_url: "https://o".into(),
            api_key: Some("sk-very-secret".into()),
            model: "m".into(),
        };
        let e = status_error(
            &p,
            401,
            None,
            r#"{"error":{"message":"Incorrect API key provided: sk-very-secret"}}"#,
        );
        assert!(
            e.to_string().contains("OPENAI_API_KEY") && !e.to_string().contains("secret"),
            "{e}"
        );
        assert!(!e.is_retriable());
        let e = status_error(&p, 429, client_error::parse_retry_after("7"), "");
        assert!(e.is_retriable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(status_error(&p, 503, None, "").is_retriable());
        assert!(status_error(&p, 529, None, "").is_retriable());
        assert!(matches!(
            status_error(&p, 408, None, ""),
            LlmError::Server { status: 408, .. }
        ));
        let e = status_error(
            &p,
            400,
            None,
            r#"{"error":{"message":"bad schema near sk-very-secret"}}"#,
        );
        assert!(!e.is_retriable());
        assert_eq!(
            e.to_string(),
            "openai-compatible rejected the request (HTTP 400): bad schema near <redacted>"
        );
    }
}
