//! Posting one message to one sink, with failures classified for the caller's retries.

use std::time::Duration;

use crate::sign::signature_headers;
use crate::{Notification, Sink, SinkKind, render};

/// Longest one delivery may take; Slack, Discord and Teams answer in well under a second.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Why a delivery failed. Messages name the sink kind, never its URL.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// HTTP 429: retriable, after the delay when the sink gave one.
    #[error("{sink} webhook rate limited the message{}", .retry_after.map(|d| format!(", retry after {}s", d.as_secs_f64())).unwrap_or_default())]
    RateLimited {
        /// Sink kind name (`slack`, …).
        sink: &'static str,
        /// The `Retry-After` header, or Discord's JSON `retry_after`, when present.
        retry_after: Option<Duration>,
    },
    /// Any other non-2xx answer.
    #[error("{sink} webhook answered HTTP {status}{}", detail(.body))]
    Status {
        /// Sink kind name (`slack`, …).
        sink: &'static str,
        /// HTTP status code.
        status: u16,
        /// The first 160 characters of the response body, control characters removed.
        body: String,
    },
    /// Connecting, sending or reading failed (timeout included).
    #[error("{sink} webhook could not be reached: {message}")]
    Transport {
        /// Sink kind name (`slack`, …).
        sink: &'static str,
        /// The HTTP client's error text, with the URL (a credential) stripped.
        message: String,
    },
}

fn detail(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl client_error::ClientError for DeliveryError {
    fn error_name(&self) -> &'static str {
        "DeliveryError"
    }

    /// Rate limits, 5xx, 408 and transport failures are worth retrying; other 4xx are not (a
    /// deleted Slack webhook answers 404 `no_service` forever).
    fn is_retriable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Transport { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 408,
        }
    }

    /// The delay the sink asked for.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Posts `n` to `sink`; `now` (Unix seconds) is the Standard Webhooks timestamp.
pub async fn deliver(
    http: &reqwest::Client,
    sink: &Sink,
    n: &Notification,
    now: i64,
) -> Result<(), DeliveryError> {
    let name = sink.kind.as_str();
    let payload = match sink.kind {
        SinkKind::Slack => render::slack(n),
        SinkKind::Discord => render::discord(n),
        SinkKind::Teams => render::teams(n),
        SinkKind::Webhook => render::webhook(n),
    };
    let body = serde_json::to_vec(&payload).expect("a JSON value always serializes");
    let mut req = http
        .post(sink.url.clone())
        .timeout(TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, "autofix-notify");
    if let Some(secret) = &sink.secret {
        for (k, v) in signature_headers(secret, &n.message_id(), now, &body) {
            req = req.header(k, v);
        }
    }
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| DeliveryError::Transport {
            sink: name,
            message: e.without_url().to_string(),
        })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let header_delay = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    let text = resp.text().await.unwrap_or_default();
    if status.as_u16() == 429 {
        // Discord also puts the delay in the JSON body, in (fractional) seconds.
        let body_delay = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("retry_after").and_then(serde_json::Value::as_f64))
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        return Err(DeliveryError::RateLimited {
            sink: name,
            retry_after: header_delay.or(body_delay),
        });
    }
    Err(DeliveryError::Status {
        sink: name,
        status: status.as_u16(),
        body: short(&text),
    })
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110), relative to `now`.
pub fn parse_retry_after(value: &str, now: i64) -> Option<Duration> {
    let v = value.trim();
    if let Some(d) = client_error::parse_retry_after(v) {
        return Some(d);
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(v, &format)
        .ok()?
        .assume_utc();
    Some(Duration::from_secs(
        (at.unix_timestamp() - now).max(0) as u64
    ))
}

/// The start of an error body, printable characters only: enough to tell `invalid_payload` from
/// `no_service`.
fn short(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(160)
        .collect::<String>()
        .trim()
        .to_owned()
}
