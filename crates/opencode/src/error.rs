use std::time::Duration;

use reqwest::StatusCode;

/// Everything that can go wrong talking to the OpenCode server.
///
/// No variant carries the server password: requests authenticate with a header that never
/// reaches an error message, and base URLs are stored without user-info.
#[derive(Debug, thiserror::Error)]
pub enum OpenCodeError {
    /// Connection refused, DNS failure, reset or timeout: the server may come back, retry later.
    #[error("OpenCode server unreachable ({operation}): {reason}")]
    Unreachable {
        /// What we were doing, e.g. `create session`, `session status`.
        operation: &'static str,
        /// The HTTP client's error, without the URL.
        reason: String,
    },
    /// The server demands basic auth that we did not send or that it rejected.
    #[error(
        "OpenCode server rejected our credentials on {operation} (HTTP 401): set \
         OPENCODE_SERVER_PASSWORD (and OPENCODE_SERVER_USERNAME if not \"opencode\") to the \
         server's password"
    )]
    Unauthorized {
        /// What we were doing, e.g. `create session`, `session status`.
        operation: &'static str,
    },
    /// The session (or route) does not exist on this server.
    #[error("OpenCode {operation}: not found: {message}")]
    NotFound {
        /// What we were doing, e.g. `create session`, `session status`.
        operation: &'static str,
        /// The server's error text, shortened.
        message: String,
    },
    /// HTTP 429 from the server or a proxy in front of it; `retry_after` is its `Retry-After`.
    #[error("OpenCode {operation} was rate limited (HTTP 429){}: {message}", retry_hint(*.retry_after))]
    RateLimited {
        /// What we were doing, e.g. `create session`, `session status`.
        operation: &'static str,
        /// The `Retry-After` delay, when the answer had one.
        retry_after: Option<Duration>,
        /// The server's error text, shortened.
        message: String,
    },
    /// Any other non-success status; `message` is the server's error text, shortened.
    #[error("OpenCode {operation} failed with HTTP {status}: {message}")]
    Http {
        /// What we were doing, e.g. `create session`, `session status`.
        operation: &'static str,
        /// The status code.
        status: u16,
        /// The server's error text, shortened.
        message: String,
    },
    /// `OPENCODE_URL` is not an http(s) URL that can carry a path.
    #[error("OpenCode base URL is unusable: {reason}")]
    InvalidBaseUrl {
        /// What is wrong with it (never the password: base URLs carry no user-info).
        reason: String,
    },
    /// The server answered 2xx with a body we do not understand (version drift, proxy page).
    #[error("OpenCode {operation}: unexpected response body: {reason}")]
    Decode {
        /// What we were doing, e.g. `create session`, `session status`.
        operation: &'static str,
        /// The JSON decoder's message.
        reason: String,
    },
}

fn retry_hint(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", retry after {}s", d.as_secs()),
        None => String::new(),
    }
}

impl client_error::ClientError for OpenCodeError {
    fn error_name(&self) -> &'static str {
        "OpenCodeError"
    }

    /// Whether trying the same call again later can succeed without a configuration change.
    fn is_retriable(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::RateLimited { .. } => true,
            Self::Http { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS.as_u16()
                    || *status == StatusCode::REQUEST_TIMEOUT.as_u16()
                    || (500..=599).contains(status)
            }
            Self::Unauthorized { .. }
            | Self::NotFound { .. }
            | Self::InvalidBaseUrl { .. }
            | Self::Decode { .. } => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl OpenCodeError {
    pub(crate) fn from_transport(operation: &'static str, err: &reqwest::Error) -> Self {
        // `without_url` keeps the query string (the session directory) out of the message;
        // the operation name says which call it was.
        let kind = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "connection failed"
        } else if err.is_body() || err.is_decode() {
            "response body interrupted"
        } else {
            "request failed"
        };
        let mut reason = kind.to_owned();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Unreachable { operation, reason }
    }

    /// `retry_after` is the answer's `Retry-After` header, if any; it matters only for a 429.
    pub(crate) fn from_status(
        operation: &'static str,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &str,
    ) -> Self {
        let message = error_message(body);
        match status {
            StatusCode::UNAUTHORIZED => Self::Unauthorized { operation },
            StatusCode::NOT_FOUND => Self::NotFound { operation, message },
            StatusCode::TOO_MANY_REQUESTS => Self::RateLimited {
                operation,
                retry_after,
                message,
            },
            _ => Self::Http {
                operation,
                status: status.as_u16(),
                message,
            },
        }
    }
}

const MAX_MESSAGE_CHARS: usize = 300;

/// Pulls the human-readable part out of OpenCode's error shapes:
/// `{"name","data":{"message","ref"?}}` (NotFound/Unknown), `{"_tag","message"?}` (400s).
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let text = parsed.as_ref().and_then(|v| {
        let data = v.get("data");
        let message = data
            .and_then(|d| d.get("message"))
            .or_else(|| v.get("message"))
            .and_then(|m| m.as_str());
        let tag = v
            .get("name")
            .or_else(|| v.get("_tag"))
            .and_then(|t| t.as_str());
        let reference = data.and_then(|d| d.get("ref")).and_then(|r| r.as_str());
        let mut out = match (tag, message) {
            (Some(tag), Some(message)) => format!("{tag}: {message}"),
            (None, Some(message)) => message.to_owned(),
            (Some(tag), None) => tag.to_owned(),
            (None, None) => return None,
        };
        if let Some(field) = v.get("field").and_then(|f| f.as_str()) {
            out.push_str(&format!(" (field {field})"));
        }
        if let Some(reference) = reference {
            // The ref is what to grep for in the server log to find the real cause.
            out.push_str(&format!(" [ref {reference}]"));
        }
        Some(out)
    });
    let text = text.unwrap_or_else(|| {
        let trimmed = body.trim();
        if trimmed.is_empty() {
            "(empty body)".to_owned()
        } else {
            trimmed.to_owned()
        }
    });
    // Redacted before the cut, so a password straddling it cannot leak its prefix.
    shorten(&redact::redact(&text), MAX_MESSAGE_CHARS)
}

pub(crate) fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_error::ClientError;

    #[test]
    fn not_found_body_keeps_server_message() {
        let err = OpenCodeError::from_status(
            "get messages",
            StatusCode::NOT_FOUND,
            None,
            r#"{"name":"NotFoundError","data":{"message":"Session not found: ses_1"}}"#,
        );
        assert!(matches!(&err, OpenCodeError::NotFound { message, .. }
            if message == "NotFoundError: Session not found: ses_1"));
        assert!(!err.is_retriable());
    }

    #[test]
    fn unknown_error_keeps_log_reference_and_is_retriable() {
        let err = OpenCodeError::from_status(
            "prompt",
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            r#"{"name":"UnknownError","data":{"message":"Unexpected server error.","ref":"err_879598d2"}}"#,
        );
        let text = err.to_string();
        assert!(text.contains("HTTP 500"), "{text}");
        assert!(text.contains("err_879598d2"), "{text}");
        assert!(err.is_retriable());
    }

    #[test]
    fn bad_request_shapes() {
        assert_eq!(error_message(r#"{"_tag":"BadRequest"}"#), "BadRequest");
        assert_eq!(
            error_message(r#"{"_tag":"InvalidRequestError","message":"bad","field":"parts"}"#),
            "InvalidRequestError: bad (field parts)"
        );
        assert_eq!(error_message("  "), "(empty body)");
        assert_eq!(error_message("<html>proxy</html>"), "<html>proxy</html>");
    }

    #[test]
    fn unauthorized_names_the_variable() {
        let err = OpenCodeError::from_status("health", StatusCode::UNAUTHORIZED, None, "");
        assert!(err.to_string().contains("OPENCODE_SERVER_PASSWORD"));
        assert!(!err.is_retriable());
    }

    #[test]
    fn retriable_statuses() {
        let http = |status| OpenCodeError::Http {
            operation: "x",
            status,
            message: String::new(),
        };
        assert!(http(429).is_retriable());
        assert!(http(503).is_retriable());
        assert!(!http(400).is_retriable());
        assert!(!http(409).is_retriable());
    }

    #[test]
    fn rate_limit_keeps_the_requested_delay() {
        let err = OpenCodeError::from_status(
            "prompt",
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(7)),
            "slow down",
        );
        assert!(err.is_retriable());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert!(err.to_string().contains("retry after 7s"), "{err}");
    }

    #[test]
    fn long_bodies_are_shortened_on_char_boundaries() {
        let long = "é".repeat(1000);
        let out = shorten(&long, 10);
        assert_eq!(out.chars().count(), 11);
        assert!(out.ends_with('…'));
    }
}
