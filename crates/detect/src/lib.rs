//! Health detection over a time window.
//!
//! Pure functions over [`railway::model`] types: no I/O. See [`Finding`] for the output contract,
//! [`detect`] for the rules and [`Thresholds`] for their defaults.
//!
//! The rules look at the shape of the window rather than its maximum: a level counts only when it
//! is sustained, memory growth is judged by a least-squares fit, error rates need a minimum of
//! traffic, and flat high usage alone is an observation, not an incident.

use serde::{Deserialize, Serialize};

mod render;
mod rules;
pub mod stats;
mod thresholds;

pub use render::{architecture_summary_markdown, findings_markdown};
pub use rules::{HealthStatus, Report, ServiceHealth, TrendFigures, UsageFigures, detect};
pub use thresholds::{InvalidThresholds, Thresholds};

/// What kind of problem a finding is about. The `snake_case` names are part of the CLI's JSON
/// output (`autofix check --json`) and of incident fingerprints: do not rename them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Cpu,
    Memory,
    MemoryTrend,
    // snake_case alone would give `error_rate5xx`; the documented name has the underscore.
    #[serde(rename = "error_rate_5xx", alias = "error_rate5xx")]
    ErrorRate5xx,
    #[serde(rename = "error_rate_4xx", alias = "error_rate4xx")]
    ErrorRate4xx,
    Latency,
    Deployment,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::MemoryTrend => "memory_trend",
            Self::ErrorRate5xx => "error_rate_5xx",
            Self::ErrorRate4xx => "error_rate_4xx",
            Self::Latency => "latency",
            Self::Deployment => "deployment",
        }
    }
}

/// Ordered: `Observation < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth recording, not an incident (e.g. flat high memory of a database cache).
    Observation,
    Warning,
    Critical,
}

/// One detected problem (or observation) on one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Railway service id.
    pub service_id: String,
    /// Railway service name.
    pub service: String,
    pub kind: FindingKind,
    pub severity: Severity,
    /// Short metric name, e.g. `memory_share_of_limit`, `p95_ms`, `rate_5xx`.
    pub metric: String,
    /// The measured value, in the unit of `unit`.
    pub value: f64,
    /// The threshold it was compared with, same unit.
    pub threshold: f64,
    /// `%`, `ms`, `MB/h`, `ratio`, … for rendering.
    pub unit: String,
    /// Window the value was computed over, Unix seconds.
    pub window: railway::model::TimeWindow,
    /// One line an engineer can read: what, how much, for how long.
    pub evidence: String,
    /// Stable id of the ongoing problem (service + kind), see [`fingerprint`].
    pub fingerprint: String,
}

impl Finding {
    /// Findings at warning or critical severity are incidents; observations are not.
    pub fn is_incident(&self) -> bool {
        self.severity >= Severity::Warning
    }
}

/// A stable id for "the same ongoing problem": a function of the service id and the kind only,
/// never of the measured numbers, so consecutive cycles of one incident share it.
pub fn fingerprint(service_id: &str, kind: FindingKind) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{service_id}\0{}", kind.as_str()).as_bytes());
    format!("af-{}", &hex::encode(digest)[..12])
}
