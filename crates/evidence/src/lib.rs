//! Evidence for an incident: what an engineer would gather before touching code.
//!
//! The output contract is [`ServiceContext`]; every string in it that came from Railway logs or
//! HTTP paths is untrusted and already neutralised (see [`sanitize`]).
//!
//! - [`build_context`] folds one service's logs into ranked [`LogPattern`]s and [`HttpGroup`]s
//!   within [`Limits`] (pure, no I/O); [`context_markdown`] renders a context compactly, every
//!   excerpt quoted as data.
//! - [`upstream`] says which third-party providers a service depends on (from its manifests and
//!   the hosts in its error lines), which of them to check, and what their status documents mean;
//!   the provider table is a data file with a JSON extension format. The reads themselves are
//!   the `upstream-status` crate's: this crate does no I/O.
//! - [`change::suspect_change`] cleans and caps the diff of the deployment suspected of starting
//!   an incident (pure; the caller reads it from GitHub).

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

pub mod change;
mod context;
pub mod normalize;
pub mod sanitize;
pub mod upstream;

pub use change::{ChangeLimits, ChangeRef, SuspectChange};
pub use context::{Limits, build_context, context_markdown, route_of};
pub use upstream::{
    PageReading, Provider, ProviderConfigError, ProviderTable, Selection, StatusApi,
};

/// Where a log pattern was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// Build logs of the deployment.
    Build,
    /// Runtime (deploy) logs of the deployment.
    Deploy,
}

/// Many log lines that differ only in numbers, ids, timestamps, … folded into one pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogPattern {
    /// Which log stream the lines came from.
    pub source: LogSource,
    /// `error`, `warn`, `info`, …
    pub level: String,
    /// The normalised line (`<n>`, `<id>`, `<hex>`, `<ts>`, `<path>:<n>` placeholders), sanitised.
    pub pattern: String,
    /// Lines folded into this pattern.
    pub count: u64,
    /// RFC 3339.
    pub first_seen: String,
    /// RFC 3339.
    pub last_seen: String,
    /// A few verbatim (sanitised, length-capped) lines.
    pub samples: Vec<String>,
}

/// HTTP requests grouped by method + route + status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpGroup {
    /// HTTP method.
    pub method: String,
    /// Path with ids/numbers folded (`/users/<id>/orders`), sanitised.
    pub route: String,
    /// HTTP status of every request in the group.
    pub status: u16,
    /// Requests in the group.
    pub count: u64,
    /// p95 duration of the group's requests, milliseconds; `None` without durations.
    pub p95_ms: Option<f64>,
    /// Longest request of the group, milliseconds.
    pub max_ms: Option<f64>,
    /// A few sanitised `response_details` texts, if any.
    pub details: Vec<String>,
}

/// What a provider's status page says right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamHealth {
    /// All components operational.
    Operational,
    /// Some component degraded or under maintenance, without an open incident.
    Degraded,
    /// An active incident is open on the provider's status page.
    Incident,
    /// The status page could not be read (timeout, bad answer).
    Unknown,
}

/// A third-party provider the service depends on, and its public status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamStatus {
    /// Provider key from the provider table, e.g. `stripe`.
    pub provider: String,
    /// Display name, e.g. `Stripe`.
    pub name: String,
    /// Why we think the service depends on it: `manifest:package.json`, `log-host:api.stripe.com`.
    pub evidence: Vec<String>,
    /// What its status page says.
    pub health: UpstreamHealth,
    /// Titles of unresolved incidents.
    pub incidents: Vec<String>,
}

/// The evidence gathered for one affected service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceContext {
    /// Railway service id.
    pub service_id: String,
    /// Railway service name.
    pub service: String,
    /// `owner/name` from Railway's service config (never from logs or model output).
    pub repo: Option<String>,
    /// Errors and warnings first, then by count.
    pub log_patterns: Vec<LogPattern>,
    /// Failed requests (status >= 400) grouped, most first.
    pub http_failures: Vec<HttpGroup>,
    /// Slow requests grouped, slowest first.
    pub slow_requests: Vec<HttpGroup>,
    /// Status of the third-party providers it depends on.
    pub upstreams: Vec<UpstreamStatus>,
    /// What the caps cut, and anything else the reader should know.
    pub notes: Vec<String>,
    /// What the deployment suspected of starting the incident changed (see [`change`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspect_change: Option<SuspectChange>,
}
