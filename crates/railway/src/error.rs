//! One error type for every Railway request. Messages name what to fix (the token variable, the
//! operation) and never carry the token itself: nothing here is built from request headers.

use std::time::Duration;

use thiserror::Error;

/// Everything that can go wrong talking to Railway's GraphQL API. Messages name the token's
/// variable, never its value.
#[derive(Debug, Error)]
pub enum RailwayError {
    /// Bad, expired or under-scoped token. Retrying cannot help.
    #[error("Railway rejected the token in {variable}: {reason}")]
    Unauthorized {
        /// `RAILWAY_API_TOKEN` or `RAILWAY_TOKEN`, whichever was used.
        variable: &'static str,
        /// Railway's message, or the status.
        reason: String,
    },

    /// HTTP 429; wait `retry_after` before the next request.
    #[error("Railway rate limit reached, retry after {}s", retry_after.as_secs())]
    RateLimited {
        /// From `Retry-After`, or a default when Railway sent none.
        retry_after: Duration,
    },

    /// 5xx from Railway or a proxy in front of it.
    #[error("Railway answered HTTP {status} to {operation}")]
    Server {
        /// The GraphQL operation, e.g. `EnvironmentArchitecture`.
        operation: String,
        /// The status code.
        status: u16,
    },

    /// Another non-success HTTP status that is not an auth or rate-limit answer.
    #[error("Railway answered HTTP {status} to {operation}: {snippet}")]
    Http {
        /// The GraphQL operation, e.g. `EnvironmentArchitecture`.
        operation: String,
        /// The status code.
        status: u16,
        /// The start of the body.
        snippet: String,
    },

    /// A body that is not GraphQL JSON, e.g. a Cloudflare HTML page.
    #[error("Railway answered {operation} with a non-JSON body (HTTP {status}): {snippet}")]
    NotJson {
        /// The GraphQL operation, e.g. `EnvironmentArchitecture`.
        operation: String,
        /// The status code.
        status: u16,
        /// The start of the body.
        snippet: String,
    },

    #[error("request {operation} to Railway timed out")]
    /// No answer within the request timeout: retriable.
    Timeout {
        /// The GraphQL operation, e.g. `EnvironmentArchitecture`.
        operation: String,
    },

    #[error("cannot reach Railway for {operation}: {reason}")]
    /// Connecting or sending failed (DNS, refused, TLS, reset): retriable.
    Connect {
        /// The GraphQL operation, e.g. `EnvironmentArchitecture`.
        operation: String,
        /// The HTTP client's error, without the URL.
        reason: String,
    },

    /// The server does not know a field we selected (older API or feature not enabled).
    #[error("Railway does not offer field {field} (operation {operation})")]
    FieldUnavailable {
        /// The GraphQL operation, e.g. `EnvironmentArchitecture`.
        operation: String,
        /// The field the server does not know.
        field: String,
    },

    /// GraphQL `errors` for the operation.
    #[error("Railway GraphQL errors in {operation}: {}", messages.join("; "))]
    GraphQl {
        /// The GraphQL operation, e.g. `EnvironmentArchitecture`.
        operation: String,
        /// Each error's `message`.
        messages: Vec<String>,
    },

    #[error("Railway returned no data for {operation}")]
    /// A 200 answer without `data` and without `errors`.
    MissingData {
        /// The GraphQL operation, e.g. `EnvironmentArchitecture`.
        operation: String,
    },

    #[error("cannot decode Railway's answer to {operation}: {reason}")]
    /// `data` does not have the shape our document selects (API drift).
    Decode {
        /// The GraphQL operation, e.g. `EnvironmentArchitecture`.
        operation: String,
        /// The decoder's message, with the path of the bad field.
        reason: String,
    },

    #[error("environment {name:?} not found in project {project_id}")]
    /// `RAILWAY_ENVIRONMENT_NAME` names no environment of the project.
    EnvironmentNotFound {
        /// The project searched.
        project_id: String,
        /// The name asked for.
        name: String,
    },

    /// The client cannot be set up (both or neither token set, a bad endpoint, …).
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
