//! One error type for every Railway request. Messages name what to fix (the token variable, the
//! operation) and never carry the token itself: nothing here is built from request headers.

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RailwayError {
    /// Bad, expired or under-scoped token. Retrying cannot help.
    #[error("Railway rejected the token in {variable}: {reason}")]
    Unauthorized {
        variable: &'static str,
        reason: String,
    },

    /// HTTP 429; wait `retry_after` before the next request.
    #[error("Railway rate limit reached, retry after {}s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },

    /// 5xx from Railway or a proxy in front of it.
    #[error("Railway answered HTTP {status} to {operation}")]
    Server { operation: String, status: u16 },

    /// Another non-success HTTP status that is not an auth or rate-limit answer.
    #[error("Railway answered HTTP {status} to {operation}: {snippet}")]
    Http {
        operation: String,
        status: u16,
        snippet: String,
    },

    /// A body that is not GraphQL JSON, e.g. a Cloudflare HTML page.
    #[error("Railway answered {operation} with a non-JSON body (HTTP {status}): {snippet}")]
    NotJson {
        operation: String,
        status: u16,
        snippet: String,
    },

    #[error("request {operation} to Railway timed out")]
    Timeout { operation: String },

    #[error("cannot reach Railway for {operation}: {reason}")]
    Connect { operation: String, reason: String },

    /// The server does not know a field we selected (older API or feature not enabled).
    #[error("Railway does not offer field {field} (operation {operation})")]
    FieldUnavailable { operation: String, field: String },

    /// GraphQL `errors` for the operation.
    #[error("Railway GraphQL errors in {operation}: {}", messages.join("; "))]
    GraphQl {
        operation: String,
        messages: Vec<String>,
    },

    #[error("Railway returned no data for {operation}")]
    MissingData { operation: String },

    #[error("cannot decode Railway's answer to {operation}: {reason}")]
    Decode { operation: String, reason: String },

    #[error("environment {name:?} not found in project {project_id}")]
    EnvironmentNotFound { project_id: String, name: String },

    #[error("invalid Railway client configuration: {0}")]
    Config(String),
}

impl client_error::ClientError for RailwayError {
    fn error_name(&self) -> &'static str {
        "RailwayError"
    }

    /// Whether repeating the same request later may succeed.
    fn is_retriable(&self) -> bool {
        match self {
            Self::RateLimited { .. }
            | Self::Server { .. }
            | Self::Timeout { .. }
            | Self::Connect { .. } => true,
            // Cloudflare challenge pages and proxy errors are transient from our point of view.
            Self::NotJson { .. } => true,
            Self::Unauthorized { .. }
            | Self::Http { .. }
            | Self::FieldUnavailable { .. }
            | Self::GraphQl { .. }
            | Self::MissingData { .. }
            | Self::Decode { .. }
            | Self::EnvironmentNotFound { .. }
            | Self::Config(_) => false,
        }
    }

    /// How long Railway asked us to wait, when it did.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}
