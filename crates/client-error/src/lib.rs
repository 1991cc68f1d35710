//! What every Autofix I/O client shares.
//!
//! - [`ClientError`], the retry contract: each client crate (`railway`, `github`, `llm`,
//!   `opencode`, …) has its own error enum, and they all implement it, so the orchestration layer
//!   turns any of them into an Inngest step error with one function, without knowing the clients.
//! - [`outbound`], the span around each outbound HTTP call, with the same field names in every
//!   client: `peer`, `operation`, `status`, `duration_ms`.
//!
//! This crate depends only on `tracing`, so leaf clients use it without depending on each other
//! or on the Inngest SDK.

#![warn(missing_docs)]

use std::future::Future;
use std::time::{Duration, Instant};

use tracing::Instrument as _;

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

/// Runs one outbound call inside an `outbound` span (`peer`, `operation`) and, when it ends,
/// logs one `debug` line in that span with the HTTP `status` (absent when no answer came) and the
/// `duration_ms`, so a slow or failing step can be attributed from the worker's own logs.
/// `status_of` reads the status from the call's result.
pub async fn outbound<T, E>(
    peer: &'static str,
    operation: &str,
    call: impl Future<Output = Result<T, E>>,
    status_of: impl FnOnce(&T) -> u16,
) -> Result<T, E> {
    let span = tracing::info_span!("outbound", peer, operation);
    let started = Instant::now();
    let result = call.instrument(span.clone()).await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let status = result.as_ref().ok().map(status_of);
    span.in_scope(|| {
        tracing::debug!(
            peer,
            operation,
            status,
            duration_ms,
            ok = status.is_some(),
            "outbound call"
        )
    });
    result
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

    #[tokio::test]
    async fn outbound_logs_peer_operation_status_and_duration() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let ok: Result<u16, ()> = outbound("github", "list pulls", async { Ok(201) }, |s| *s).await;
        assert_eq!(ok, Ok(201));
        let failed: Result<u16, &str> =
            outbound("llm", "complete", async { Err("refused") }, |s| *s).await;
        assert!(failed.is_err());

        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].contains("outbound{peer=\"github\" operation=\"list pulls\"}"),
            "{text}"
        );
        assert!(
            lines[0].contains("status=201") && lines[0].contains("duration_ms="),
            "{text}"
        );
        assert!(
            lines[1].contains("peer=\"llm\"") && !lines[1].contains("status="),
            "{text}"
        );
    }
}
