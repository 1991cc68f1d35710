//! Outgoing HTTP: the Event API and the REST API.

use std::time::Duration;

use base64::Engine as _;
use rand::RngCore as _;
use reqwest::StatusCode;
use serde_json::Value;

use crate::config::{Config, Mode};
use crate::{Error, Event};

/// `X-Inngest-SDK` value and register-body `sdk`.
pub const SDK_IDENT: &str = concat!("rust:v", env!("CARGO_PKG_VERSION"));
/// Crate version reported in introspection.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Key used in the Event API path in dev mode when none is configured (same as the JS SDK).
const DEV_EVENT_KEY: &str = "NO_EVENT_KEY_SET";

/// Failures of [`Client::send`].
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Cloud mode needs `INNGEST_EVENT_KEY`.
    #[error("INNGEST_EVENT_KEY is not set; events cannot be sent in cloud mode")]
    MissingEventKey,
    /// An event could not be serialized.
    #[error("event {name:?} is invalid: {reason}")]
    InvalidEvent {
        /// Event name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Network failure after all retries.
    #[error("sending events failed after {attempts} attempts: {source}")]
    Transport {
        /// Attempts made.
        attempts: u32,
        /// The last error (URLs are stripped: they contain the event key).
        #[source]
        source: reqwest::Error,
    },
    /// The Event API refused the request.
    #[error("the Event API answered {status}: {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The `error` field of the answer, or the start of the body.
        message: String,
    },
    /// The answer could not be read.
    #[error("the Event API answer is not understood: {0}")]
    BadResponse(String),
}

impl SendError {
    /// Maps to a step error: 4xx answers (bad key, bad event) are not retried.
    pub(crate) fn into_step_error(self) -> Error {
        let msg = self.to_string();
        match self {
            SendError::MissingEventKey | SendError::InvalidEvent { .. } => {
                Error::non_retriable(msg)
            }
            SendError::Rejected { status, .. } if (400..500).contains(&status) && status != 429 => {
                Error::non_retriable(msg)
            }
            _ => Error::retriable(msg),
        }
        .with_name("SendEventError")
    }
}

/// Failures of REST API calls made while serving (large-state fetches).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Network failure.
    #[error("Inngest API request to {path} failed: {source}")]
    Transport {
        /// Path called.
        path: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// Non-2xx answer.
    #[error("Inngest API {path} answered {status}: {message}")]
    Status {
        /// Path called.
        path: String,
        /// HTTP status.
        status: u16,
        /// Body excerpt.
        message: String,
    },
    /// Body not as expected.
    #[error("Inngest API {path} answer is not understood: {reason}")]
    Decode {
        /// Path called.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Retry policy for event sends.
#[derive(Clone, Copy, Debug)]
pub struct SendRetry {
    /// Attempts in total (at least 1).
    pub attempts: u32,
    /// Delay before the second attempt; doubled each time.
    pub base_delay: Duration,
}

impl Default for SendRetry {
    fn default() -> Self {
        SendRetry {
            attempts: 5,
            base_delay: Duration::from_millis(200),
        }
    }
}

/// An Inngest client: configuration plus an HTTP client.
#[derive(Clone, Debug)]
pub struct Client {
    config: Config,
    http: reqwest::Client,
    send_retry: SendRetry,
}

impl Client {
    /// Wraps a config and a shared `reqwest::Client`.
    pub fn new(config: Config, http: reqwest::Client) -> Client {
        Client {
            config,
            http,
            send_retry: SendRetry::default(),
        }
    }

    /// Overrides the retry policy of [`Client::send`] (tests use short delays).
    pub fn with_send_retry(mut self, retry: SendRetry) -> Client {
        self.send_retry = retry;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Headers sent on every outgoing request.
    pub(crate) fn base_request(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut req = req
            .header("X-Inngest-SDK", SDK_IDENT)
            .header(reqwest::header::USER_AGENT, SDK_IDENT)
            .header("X-Inngest-Framework", "axum");
        if let Some(env) = &self.config.env {
            req = req.header("X-Inngest-Env", env);
        }
        req
    }

    /// `POST {event_api}/e/{key}`; returns the event ids in order. Transport errors, 5xx and
    /// 429 are retried with backoff; the same `x-inngest-event-id-seed` is sent on every
    /// attempt so a retried send yields the same ids.
    pub async fn send(&self, events: &[Event]) -> Result<Vec<String>, SendError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let key = match (&self.config.event_key, self.config.mode) {
            (Some(k), _) => k.as_str(),
            (None, Mode::Dev) => DEV_EVENT_KEY,
            (None, Mode::Cloud) => return Err(SendError::MissingEventKey),
        };
        let now_ms = now_ms();
        let body = request_body(events, now_ms)?;
        let mut url = self.config.event_api_base_url.clone();
        url.path_segments_mut()
            .map_err(|()| SendError::BadResponse("event API URL cannot be a base".into()))?
            .pop_if_empty()
            .extend(["e", key]);
        let seed = event_id_seed(now_ms);
        let attempts = self.send_retry.attempts.max(1);
        let mut delay = self.send_retry.base_delay;
        for attempt in 1..=attempts {
            let req = self
                .base_request(self.http.post(url.clone()))
                .header("x-inngest-event-id-seed", &seed)
                .json(&body);
            let last = attempt == attempts;
            match req.send().await {
                Err(e) if !last => {
                    tracing::debug!(attempt, error = %e.without_url(), "event send failed, retrying");
                }
                Err(e) => {
                    return Err(SendError::Transport {
                        attempts,
                        source: e.without_url(),
                    });
                }
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_success() {
                        return parse_ids(&text, events.len());
                    }
                    let transient =
                        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
                    if !transient || last {
                        return Err(SendError::Rejected {
                            status: status.as_u16(),
                            message: error_message(&text),
                        });
                    }
                    tracing::debug!(attempt, %status, "event send refused, retrying");
                }
            }
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
        unreachable!("the last attempt always returns")
    }

    /// One signed read of the REST API (`GET /v1/events`): `Ok` when Inngest accepts the signing
    /// key (or the fallback key).
    pub async fn check_signing_key(&self) -> Result<(), ApiError> {
        self.api_get("/v1/events").await.map(drop)
    }

    /// GET on the REST API with the hashed signing key, retrying with the fallback key on
    /// 401/403 (key rotation).
    pub(crate) async fn api_get(&self, path: &str) -> Result<Value, ApiError> {
        let mut url = self.config.api_base_url.clone();
        url.set_path(path);
        let keys: Vec<Option<String>> = if self.config.signing_key.is_none() {
            vec![None]
        } else {
            self.config.keys().map(|k| Some(k.hashed())).collect()
        };
        let mut last = None;
        for bearer in keys {
            let mut req = self.base_request(self.http.get(url.clone()));
            if let Some(b) = &bearer {
                req = req.bearer_auth(b);
            }
            let resp = req.send().await.map_err(|e| ApiError::Transport {
                path: path.to_owned(),
                source: e.without_url(),
            })?;
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            if status.is_success() {
                return serde_json::from_str(&text).map_err(|e| ApiError::Decode {
                    path: path.to_owned(),
                    reason: e.to_string(),
                });
            }
            last = Some(ApiError::Status {
                path: path.to_owned(),
                status: status.as_u16(),
                message: error_message(&text),
            });
            if !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                break;
            }
        }
        Err(last.expect("at least one attempt"))
    }
}

/// The events as the Event API request carries them: each `data` a JSON object, and the send
/// time as `ts` where the event has none. [`crate::limits::send_request_bytes`] measures this.
pub(crate) fn request_body(events: &[Event], now_ms: i64) -> Result<Vec<Event>, SendError> {
    events
        .iter()
        .map(|e| {
            if !e.data.is_object() {
                return Err(SendError::InvalidEvent {
                    name: e.name.clone(),
                    reason: "data must be a JSON object".into(),
                });
            }
            let mut e = e.clone();
            e.ts.get_or_insert(now_ms);
            Ok(e)
        })
        .collect()
}

pub(crate) fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

pub(crate) fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn event_id_seed(now_ms: i64) -> String {
    let mut entropy = [0u8; 10];
    rand::rng().fill_bytes(&mut entropy);
    format!(
        "{now_ms},{}",
        base64::engine::general_purpose::STANDARD.encode(entropy)
    )
}

fn parse_ids(text: &str, expected: usize) -> Result<Vec<String>, SendError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        ids: Vec<String>,
    }
    let a: Answer =
        serde_json::from_str(text).map_err(|e| SendError::BadResponse(e.to_string()))?;
    if a.ids.len() != expected {
        return Err(SendError::BadResponse(format!(
            "expected {expected} ids, got {}",
            a.ids.len()
        )));
    }
    Ok(a.ids)
}

/// The `error` (or `message`) field of a JSON error body, or a short excerpt.
pub(crate) fn error_message(text: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        for k in ["error", "message"] {
            if let Some(s) = v.get(k).and_then(Value::as_str) {
                return redact::redact_string(s.to_owned());
            }
        }
    }
    redact::redact(text).chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Json;
    use axum::extract::{Path, State};
    use axum::http::HeaderMap;
    use axum::routing::post;
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Default)]
    struct Seen {
        calls: AtomicU32,
        fail_first: u32,
        seeds: std::sync::Mutex<Vec<String>>,
        keys: std::sync::Mutex<Vec<String>>,
        body_bytes: std::sync::Mutex<Vec<usize>>,
    }

    async fn fake_event_api(fail_first: u32) -> (url::Url, Arc<Seen>) {
        let seen = Arc::new(Seen {
            fail_first,
            ..Default::default()
        });
        let app = axum::Router::new()
            .route(
                "/e/{key}",
                post(
                    |State(s): State<Arc<Seen>>,
                     Path(key): Path<String>,
                     headers: HeaderMap,
                     raw: axum::body::Bytes| async move {
                        let body: Vec<Value> = serde_json::from_slice(&raw).unwrap();
                        s.body_bytes.lock().unwrap().push(raw.len());
                        let n = s.calls.fetch_add(1, Ordering::SeqCst);
                        s.keys.lock().unwrap().push(key);
                        let seed = headers["x-inngest-event-id-seed"]
                            .to_str()
                            .unwrap()
                            .to_owned();
                        s.seeds.lock().unwrap().push(seed);
                        if n < s.fail_first {
                            return (
                                StatusCode::SERVICE_UNAVAILABLE,
                                Json(json!({"error":"busy"})),
                            );
                        }
                        assert!(body.iter().all(|e| e["ts"].is_i64()));
                        let ids: Vec<String> = (0..body.len()).map(|i| format!("id-{i}")).collect();
                        (StatusCode::OK, Json(json!({"ids": ids, "status": 200})))
                    },
                ),
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url::Url::parse(&format!("http://{addr}")).unwrap(), seen)
    }

    fn client(base: url::Url) -> Client {
        Client::new(Config::dev("app", base), reqwest::Client::new()).with_send_retry(SendRetry {
            attempts: 3,
            base_delay: Duration::from_millis(5),
        })
    }

    #[tokio::test]
    async fn send_retries_transient_failures_with_a_stable_seed() {
        let (base, seen) = fake_event_api(2).await;
        let events = vec![
            Event::new("a/b", json!({"x": 1})).unwrap(),
            Event::new("a/c", json!({})).unwrap(),
        ];
        let ids = client(base).send(&events).await.unwrap();
        assert_eq!(ids, vec!["id-0", "id-1"]);
        assert_eq!(seen.calls.load(Ordering::SeqCst), 3);
        let seeds = seen.seeds.lock().unwrap();
        assert!(seeds.iter().all(|s| s == &seeds[0]));
        assert_eq!(seen.keys.lock().unwrap()[0], "NO_EVENT_KEY_SET");
    }

    #[tokio::test]
    async fn send_request_bytes_is_the_size_of_the_body_sent() {
        let (base, seen) = fake_event_api(0).await;
        let events = vec![
            Event::new("a/b", json!({"x": "é".repeat(40)})).unwrap(),
            Event::new("a/c", json!({})).unwrap().with_id("fixed-id"),
        ];
        let predicted = crate::limits::send_request_bytes(&events).unwrap();
        client(base).send(&events).await.unwrap();
        assert_eq!(*seen.body_bytes.lock().unwrap(), [predicted]);
    }

    #[tokio::test]
    async fn send_gives_up_after_the_configured_attempts() {
        let (base, seen) = fake_event_api(10).await;
        let err = client(base)
            .send(&[Event::new("a/b", json!({})).unwrap()])
            .await
            .unwrap_err();
        assert!(
            matches!(err, SendError::Rejected { status: 503, .. }),
            "{err}"
        );
        assert_eq!(seen.calls.load(Ordering::SeqCst), 3);
        assert!(err.into_step_error().is_retriable());
    }

    #[tokio::test]
    async fn cloud_send_needs_an_event_key() {
        let key = crate::config::SigningKey::new("signkey-prod-12345678").unwrap();
        let c = Client::new(
            Config::cloud("app", url::Url::parse("http://127.0.0.1:9").unwrap(), key),
            reqwest::Client::new(),
        );
        let err = c
            .send(&[Event::new("a/b", json!({})).unwrap()])
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::MissingEventKey));
        assert!(!err.into_step_error().is_retriable());
    }
}
