use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{OpenCodeError, shorten};
use crate::types::{
    AssistantMessage, PromptRequest, Session, SessionState, WireMessage, WireStatus,
    reply_to_latest_prompt,
};

/// OpenCode's basic-auth user when `OPENCODE_SERVER_USERNAME` is not set.
pub const DEFAULT_USERNAME: &str = "opencode";
/// Per-request timeout. Every call we make answers in well under a second on a healthy server;
/// a stuck request must not hold a pipeline step for minutes.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Client for one OpenCode server. Cheap to clone.
#[derive(Clone)]
pub struct OpenCode {
    http: reqwest::Client,
    base: Url,
    username: String,
    password: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for OpenCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCode")
            .field("base", &self.base.as_str())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl OpenCode {
    /// `base` is `OPENCODE_URL`; `password` is `OPENCODE_SERVER_PASSWORD` (no auth when `None`),
    /// `username` is `OPENCODE_SERVER_USERNAME` (default `opencode`). Credentials embedded in
    /// `base` (`http://user:pw@host`) are moved out of the URL, so the URL can be logged.
    pub fn new(
        http: reqwest::Client,
        mut base: Url,
        username: Option<String>,
        password: Option<String>,
    ) -> Self {
        let url_user = Some(base.username().to_owned()).filter(|u| !u.is_empty());
        let url_password = base.password().map(str::to_owned);
        // Both setters only fail for cannot-be-a-base URLs, which `url_for` rejects anyway.
        let _ = base.set_username("");
        let _ = base.set_password(None);
        // Compose files pass unset variables as empty strings; empty means "not configured".
        let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
        Self {
            http,
            base,
            username: non_empty(username)
                .or(url_user)
                .unwrap_or_else(|| DEFAULT_USERNAME.to_owned()),
            password: non_empty(password).or(url_password),
            timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Overrides [`DEFAULT_REQUEST_TIMEOUT`] (tests use short ones).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server URL, without credentials.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /global/health`: `Ok` when the server answers and reports itself healthy.
    pub async fn health(&self) -> Result<(), OpenCodeError> {
        self.server_version().await.map(drop)
    }

    /// The version reported by `GET /global/health`, to notice drift from the pinned 1.18.33.
    pub async fn server_version(&self) -> Result<String, OpenCodeError> {
        const OP: &str = "health";
        #[derive(Deserialize)]
        struct Health {
            healthy: bool,
            #[serde(default)]
            version: String,
        }
        let url = self.url_for(&["global", "health"], None)?;
        let health: Health = self.call_json(OP, self.request(Method::GET, url)).await?;
        if !health.healthy {
            return Err(OpenCodeError::Http {
                operation: OP,
                status: 503,
                message: "server reports healthy=false".to_owned(),
            });
        }
        Ok(health.version)
    }

    /// `GET /config`: the `provider/model` sessions use when the prompt names none.
    pub async fn configured_model(&self) -> Result<Option<String>, OpenCodeError> {
        #[derive(Deserialize)]
        struct Config {
            #[serde(default)]
            model: Option<String>,
        }
        let url = self.url_for(&["config"], None)?;
        let config: Config = self
            .call_json("config", self.request(Method::GET, url))
            .await?;
        Ok(config.model.filter(|m| !m.trim().is_empty()))
    }

    /// `POST /session?directory=…`. The directory must exist before the first prompt.
    /// A title is always sent: without one OpenCode spends an extra LLM call naming the session.
    pub async fn create_session(
        &self,
        directory: &str,
        title: &str,
    ) -> Result<Session, OpenCodeError> {
        let url = self.url_for(&["session"], Some(directory))?;
        let body = serde_json::json!({ "title": title });
        self.call_json(
            "create session",
            self.request(Method::POST, url).json(&body),
        )
        .await
    }

    /// `POST /session/{id}/prompt_async` (204): starts the agent loop and returns at once.
    /// Send one prompt per session at a time: a second one is queued and merged, not rejected.
    pub async fn prompt_async(
        &self,
        session_id: &str,
        directory: &str,
        req: &PromptRequest,
    ) -> Result<(), OpenCodeError> {
        let url = self.url_for(&["session", session_id, "prompt_async"], Some(directory))?;
        self.call("prompt", self.request(Method::POST, url).json(&req.body()))
            .await
            .map(drop)
    }

    /// The session's entry in `GET /session/status`; sessions not listed there are idle.
    pub async fn status(
        &self,
        session_id: &str,
        directory: &str,
    ) -> Result<SessionState, OpenCodeError> {
        const OP: &str = "session status";
        let url = self.url_for(&["session", "status"], Some(directory))?;
        // Decode only our entry, so an unfamiliar status of some other session cannot fail us.
        let mut all: HashMap<String, serde_json::Value> =
            self.call_json(OP, self.request(Method::GET, url)).await?;
        match all.remove(session_id) {
            None => Ok(SessionState::Idle),
            Some(entry) => serde_json::from_value::<WireStatus>(entry)
                .map(SessionState::from)
                .map_err(|e| decode_error(OP, &e)),
        }
    }

    /// The assistant's reply to the newest prompt: the newest message if it is an assistant
    /// turn, `None` while our prompt is still the newest message.
    pub async fn last_assistant_message(
        &self,
        session_id: &str,
        directory: &str,
    ) -> Result<Option<AssistantMessage>, OpenCodeError> {
        let mut url = self.url_for(&["session", session_id, "message"], Some(directory))?;
        // `limit=N` returns the newest N messages (observed on 1.18.33): a long run's history
        // with all its tool output is never transferred just to look at the last turn.
        url.query_pairs_mut().append_pair("limit", "1");
        let messages: Vec<WireMessage> = self
            .call_json("get messages", self.request(Method::GET, url))
            .await?;
        Ok(reply_to_latest_prompt(messages))
    }

    /// `POST /session/{id}/abort`: ends the running turn with `MessageAbortedError`. Needed
    /// because OpenCode retries failing LLM calls forever; our deadline is the only bound.
    pub async fn abort(&self, session_id: &str, directory: &str) -> Result<(), OpenCodeError> {
        let url = self.url_for(&["session", session_id, "abort"], Some(directory))?;
        self.call("abort", self.request(Method::POST, url))
            .await
            .map(drop)
    }

    /// `DELETE /session/{id}`: sessions and their tool output otherwise persist in the
    /// server's database across restarts.
    pub async fn delete_session(
        &self,
        session_id: &str,
        directory: &str,
    ) -> Result<(), OpenCodeError> {
        let url = self.url_for(&["session", session_id], Some(directory))?;
        self.call("delete session", self.request(Method::DELETE, url))
            .await
            .map(drop)
    }

    fn url_for(&self, segments: &[&str], directory: Option<&str>) -> Result<Url, OpenCodeError> {
        if !matches!(self.base.scheme(), "http" | "https") {
            return Err(OpenCodeError::InvalidBaseUrl {
                reason: format!("scheme {:?} is not http or https", self.base.scheme()),
            });
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| OpenCodeError::InvalidBaseUrl {
                reason: "URL cannot carry a path".to_owned(),
            })?
            .pop_if_empty()
            .extend(segments);
        url.set_query(None);
        if let Some(directory) = directory {
            url.query_pairs_mut().append_pair("directory", directory);
        }
        Ok(url)
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let builder = self.http.request(method, url).timeout(self.timeout);
        match &self.password {
            Some(password) => builder.basic_auth(&self.username, Some(password)),
            None => builder,
        }
    }

    async fn call(
        &self,
        operation: &'static str,
        builder: RequestBuilder,
    ) -> Result<Response, OpenCodeError> {
        let response = client_error::outbound("opencode", operation, builder.send(), |r| {
            r.status().as_u16()
        })
        .await
        .map_err(|e| OpenCodeError::from_transport(operation, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(client_error::parse_retry_after);
        let body = response.text().await.unwrap_or_default();
        tracing::debug!(operation, status = status.as_u16(), "opencode call failed");
        Err(OpenCodeError::from_status(
            operation,
            status,
            retry_after,
            &body,
        ))
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        builder: RequestBuilder,
    ) -> Result<T, OpenCodeError> {
        let response = self.call(operation, builder).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| OpenCodeError::from_transport(operation, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| decode_error(operation, &e))
    }
}

fn decode_error(operation: &'static str, err: &serde_json::Error) -> OpenCodeError {
    OpenCodeError::Decode {
        operation,
        reason: shorten(&err.to_string(), 200),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> OpenCode {
        OpenCode::new(
            reqwest::Client::new(),
            Url::parse(base).unwrap(),
            None,
            None,
        )
    }

    #[test]
    fn urls_keep_a_path_prefix_and_encode_segments_and_directory() {
        let oc = client("http://proxy.local/opencode/");
        let url = oc
            .url_for(&["session", "ses_a/b", "abort"], Some("/work/my repo&x"))
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://proxy.local/opencode/session/ses_a%2Fb/abort?directory=%2Fwork%2Fmy+repo%26x"
        );
        let url = client("http://h:4096")
            .url_for(&["global", "health"], None)
            .unwrap();
        assert_eq!(url.as_str(), "http://h:4096/global/health");
    }

    #[test]
    fn non_http_base_is_rejected() {
        let err = client("ftp://h/").url_for(&["x"], None).unwrap_err();
        assert!(matches!(err, OpenCodeError::InvalidBaseUrl { .. }));
    }

    #[test]
    fn credentials_in_the_url_move_out_and_debug_redacts() {
        let oc = client("http://alice:s3cret@h:4096/");
        assert_eq!(oc.base_url().as_str(), "http://h:4096/");
        assert_eq!(oc.username, "alice");
        assert_eq!(oc.password.as_deref(), Some("s3cret"));
        let debug = format!("{oc:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn explicit_credentials_win_and_username_defaults() {
        let oc = OpenCode::new(
            reqwest::Client::new(),
            Url::parse("http://h/").unwrap(),
            None,
            Some("pw".into()),
        );
        assert_eq!(oc.username, DEFAULT_USERNAME);
        assert_eq!(oc.password.as_deref(), Some("pw"));
    }

    #[test]
    fn empty_credentials_mean_unset() {
        let oc = OpenCode::new(
            reqwest::Client::new(),
            Url::parse("http://h/").unwrap(),
            Some(String::new()),
            Some(String::new()),
        );
        assert_eq!(oc.username, DEFAULT_USERNAME);
        assert_eq!(oc.password, None);
    }
}
