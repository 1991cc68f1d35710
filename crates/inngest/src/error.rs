//! The error type user functions and steps return, and how it goes on the wire.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// How the executor should treat a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Retry with the executor's backoff.
    Retriable,
    /// Never retry this run/step.
    NonRetriable,
    /// Retry, but not before the given delay.
    After(Duration),
}

/// A failure of a function or step: a name (like a JS error class), a message and a retry policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    name: String,
    message: String,
    retry: Retry,
}

// Every constructor redacts: an error message is stored in Inngest's run state and shown in its
// UI, and it often quotes a peer that echoed a credential.
impl Error {
    /// A failure the executor retries.
    pub fn retriable(msg: impl Into<String>) -> Error {
        Error {
            name: "Error".into(),
            message: redact::redact_string(msg.into()),
            retry: Retry::Retriable,
        }
    }

    /// A failure the executor must not retry (answered with `X-Inngest-No-Retry: true`).
    pub fn non_retriable(msg: impl Into<String>) -> Error {
        Error {
            name: "NonRetriableError".into(),
            message: redact::redact_string(msg.into()),
            retry: Retry::NonRetriable,
        }
    }

    /// A retriable failure that asks for a delay (answered with `Retry-After`).
    pub fn retry_after(msg: impl Into<String>, after: Duration) -> Error {
        Error {
            name: "RetryAfterError".into(),
            message: redact::redact_string(msg.into()),
            retry: Retry::After(after),
        }
    }

    /// Replaces the error name shown in the Inngest UI.
    pub fn with_name(mut self, name: &str) -> Error {
        self.name = name.to_owned();
        self
    }

    /// Whether the executor may retry.
    pub fn is_retriable(&self) -> bool {
        !matches!(self.retry, Retry::NonRetriable)
    }

    /// The retry policy.
    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// The error name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The error message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The requested delay of a retry-after error.
    pub fn retry_after_duration(&self) -> Option<Duration> {
        match self.retry {
            Retry::After(d) => Some(d),
            _ => None,
        }
    }

    /// Serialized like the official SDKs: `{"name","message","__serialized":true}`
    /// plus `noRetry` for non-retriable errors.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "message": self.message,
            "__serialized": true,
        });
        if !self.is_retriable() {
            v["noRetry"] = Value::Bool(true);
        }
        v
    }

    /// Rebuilds a memoized step error (`steps[hash] = {"error": {...}}`). The step has already
    /// failed for good, so the rebuilt error is not retriable.
    pub(crate) fn from_memo(v: &Value) -> Error {
        let obj = v.as_object().cloned().unwrap_or_else(Map::new);
        let field = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        Error {
            name: field("name").unwrap_or_else(|| "Error".into()),
            message: field("message").unwrap_or_else(|| v.to_string()),
            retry: Retry::NonRetriable,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for Error {}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Error {
        Error::retriable(format!("{e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_wire_shape() {
        let e = Error::retriable("boom");
        assert!(e.is_retriable());
        assert_eq!(
            e.to_json(),
            json!({"name":"Error","message":"boom","__serialized":true})
        );
        let e = Error::non_retriable("bad input").with_name("ValidationError");
        assert!(!e.is_retriable());
        assert_eq!(e.to_json()["name"], "ValidationError");
        assert_eq!(e.to_json()["noRetry"], true);
        let e = Error::retry_after("slow down", Duration::from_secs(30));
        assert!(e.is_retriable());
        assert_eq!(e.retry_after_duration(), Some(Duration::from_secs(30)));
        assert_eq!(e.to_string(), "RetryAfterError: slow down");
    }

    #[test]
    fn anyhow_is_retriable_with_context_chain() {
        let e: Error = anyhow::anyhow!("root").context("outer").into();
        assert!(e.is_retriable());
        assert_eq!(e.message(), "outer: root");
    }

    #[test]
    fn memo_errors_are_final() {
        let e = Error::from_memo(&json!({"name":"TypeError","message":"x is undefined"}));
        assert_eq!(e.name(), "TypeError");
        assert!(!e.is_retriable());
    }
}
