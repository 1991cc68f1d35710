//! The status page client: one GET per status document, decoded into `evidence`'s plain types.

use std::time::Duration;

use evidence::upstream::pages::{
    self, PageReading, STATUSPAGE_INCIDENTS_PATH, STATUSPAGE_STATUS_PATH, STRIPE_CURRENT_PATH,
    StatuspageIncidents, StatuspageStatus, StripeCurrent,
};
use evidence::{Provider, StatusApi};
use serde::de::DeserializeOwned;
use url::Url;

/// Why a status document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusPageError {
    /// No complete answer within the deadline (connect, headers and body together).
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The page answered with a non-success status.
    #[error("HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The page's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The request did not get an answer (DNS, connection, TLS, reset).
    #[error("request failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// The answer is not the document the provider's `status_api` promises.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl client_error::ClientError for StatusPageError {
    fn error_name(&self) -> &'static str {
        "StatusPageError"
    }

    /// A slow, unreachable, overloaded or rate-limiting page may answer later; a 4xx or a
    /// document in another format will not.
    fn is_retriable(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Transport(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::Decode(_) => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Reads providers' status pages, each document within one deadline.
#[derive(Debug, Clone)]
pub struct StatusPages {
    http: reqwest::Client,
    timeout: Duration,
}

impl StatusPages {
    /// `timeout` bounds each document read, from connect to the last body byte.
    pub fn new(http: reqwest::Client, timeout: Duration) -> Self {
        Self { http, timeout }
    }

    /// What `provider`'s status page says now. Never fails: a page that cannot be read is an
    /// `unknown` reading with a note saying why.
    pub async fn read(&self, provider: &Provider) -> PageReading {
        let Some(base) = &provider.status_page else {
            return PageReading::no_status_page(provider);
        };
        let name = &provider.name;
        match provider.status_api {
            StatusApi::Statuspage => {
                let (status, incidents) = futures::join!(
                    self.document::<StatuspageStatus>(provider, base, STATUSPAGE_STATUS_PATH),
                    self.document::<StatuspageIncidents>(provider, base, STATUSPAGE_INCIDENTS_PATH),
                );
                pages::statuspage_reading(name, status, incidents)
            }
            StatusApi::StripeCurrent => pages::stripe_reading(
                name,
                self.document::<StripeCurrent>(provider, base, STRIPE_CURRENT_PATH)
                    .await,
            ),
        }
    }

    /// One JSON document under the page's base URL.
    pub async fn document<T: DeserializeOwned>(
        &self,
        provider: &Provider,
        base: &Url,
        path: &str,
    ) -> Result<T, StatusPageError> {
        let url = pages::document_url(base, path);
        let request = async {
            let send = self
                .http
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send();
            let operation = format!("{} {path}", provider.key);
            let resp =
                client_error::outbound("status-page", &operation, send, |r| r.status().as_u16())
                    .await
                    .map_err(|e| StatusPageError::Transport(e.without_url()))?;
            if !resp.status().is_success() {
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(client_error::parse_retry_after);
                return Err(StatusPageError::Status {
                    status: resp.status().as_u16(),
                    retry_after,
                });
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| StatusPageError::Transport(e.without_url()))?;
            serde_json::from_slice(&body).map_err(|e| StatusPageError::Decode(e.to_string()))
        };
        // One deadline for connect, headers and body: a page that trickles bytes is as useless
        // as one that never answers.
        tokio::time::timeout(self.timeout, request)
            .await
            .unwrap_or(Err(StatusPageError::Timeout(self.timeout)))
    }
}

#[cfg(test)]
mod tests {
    use client_error::ClientError as _;

    use super::*;

    #[test]
    fn slow_overloaded_and_rate_limiting_pages_are_worth_asking_again() {
        let status = |status, retry_after| StatusPageError::Status {
            status,
            retry_after,
        };
        assert!(StatusPageError::Timeout(Duration::from_secs(3)).is_retriable());
        assert!(status(503, None).is_retriable());
        assert!(status(429, None).is_retriable());
        assert!(!status(404, None).is_retriable());
        assert!(!StatusPageError::Decode("expected value".into()).is_retriable());
        let limited = status(429, Some(Duration::from_secs(7)));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(limited.user_message(), "HTTP 429");
        assert_eq!(limited.error_name(), "StatusPageError");
    }
}
