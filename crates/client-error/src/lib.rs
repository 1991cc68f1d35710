//! The retry contract shared by every Autofix I/O client.
//!
//! Each client crate (`railway`, `github`, `llm`, `opencode`, …) has its own error enum; they all
//! implement [`ClientError`] so the orchestration layer can turn any of them into an Inngest step
//! error with one function, without knowing the clients. This crate depends on nothing, so leaf
//! clients can implement the trait without depending on each other or on the Inngest SDK.

use std::time::Duration;

/// What an orchestrator needs to know about a failed client call.
pub trait ClientError: std::error::Error {
    /// A stable name for the kind of failure, shown in the Inngest UI (`"GitHubError"`).
    fn error_name(&self) -> &'static str;

    /// Whether the same call may succeed later without a configuration change.
    fn is_retriable(&self) -> bool;

    /// How long the peer asked us to wait before the next attempt, when it said so.
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// The message an operator reads: says what failed and what to fix. Implementations build it
    /// without credentials (no variant carries a token or password).
    fn user_message(&self) -> String {
        self.to_string()
    }
}

/// Parses an HTTP `Retry-After` value in delta-seconds (`"7"`, `"1.5"`). The HTTP-date form is
/// not used by the APIs we call and yields `None`, as do negative or non-finite numbers.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_seconds_parse_and_everything_else_is_none() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 1.5 "),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after("inf"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
