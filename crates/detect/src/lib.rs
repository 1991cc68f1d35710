//! Health detection over a time window.
//!
//! Pure functions over [`railway::model`] types: no I/O. See [`Finding`] for the output contract,
//! [`detect`] for the rules and [`Thresholds`] for their defaults.
//!
//! The rules look at the shape of the window rather than its maximum: a level counts only when it
//! is sustained, memory growth is judged by a least-squares fit, error rates need a minimum of
//! traffic, and flat high usage alone is an observation, not an incident.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

mod baseline;
mod render;
mod rules;
pub mod stats;
mod thresholds;

pub use baseline::baseline_candidates;
pub use render::{architecture_summary_markdown, findings_markdown};
pub use rules::{
    Context, HealthStatus, Report, ServiceHealth, TrendFigures, UsageFigures, detect, detect_with,
};
pub use thresholds::{InvalidThresholds, Thresholds};

/// What kind of problem a finding is about. The `snake_case` names are part of the CLI's JSON
/// output (`autofix check --json`) and of incident fingerprints: do not rename them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Sustained CPU usage as a share of the service's vCPU limit.
    Cpu,
    /// Sustained memory usage as a share of the service's memory limit.
    Memory,
    /// Memory growing steadily (least-squares fit) towards the limit.
    MemoryTrend,
    /// Share of requests answered 5xx over the window, or in a recent burst.
    // snake_case alone would give `error_rate5xx`; the documented name has the underscore.
    #[serde(rename = "error_rate_5xx", alias = "error_rate5xx")]
    ErrorRate5xx,
    /// Share of requests answered 4xx (scanner probes excluded, see [`FindingKind::Scanners`]).
    #[serde(rename = "error_rate_4xx", alias = "error_rate4xx")]
    ErrorRate4xx,
    /// Sustained p95 latency, or a p95 regression against the service's baseline.
    Latency,
    /// The latest deployment crashed or failed.
    Deployment,
    /// Scanner and bot probes answered 4xx: always an observation, never an incident.
    Scanners,
}

impl FindingKind {
    /// The stable `snake_case` name, the same as the serialised form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::MemoryTrend => "memory_trend",
            Self::ErrorRate5xx => "error_rate_5xx",
            Self::ErrorRate4xx => "error_rate_4xx",
            Self::Latency => "latency",
            Self::Deployment => "deployment",
            Self::Scanners => "scanners",
        }
    }
}

/// Ordered: `Recovered < Observation < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Was an incident earlier in the window and has cleared ([`Finding::cleared_at`]): never an
    /// incident, reported so a reader sees what happened.
    Recovered,
    /// Worth recording, not an incident (e.g. flat high memory of a database cache).
    Observation,
    /// Past a warning threshold: an incident, worth a fix but not urgent.
    Warning,
    /// Past a critical threshold (or a crashed deployment): an incident to act on now.
    Critical,
}

/// One detected problem (or observation) on one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Railway service id.
    pub service_id: String,
    /// Railway service name.
    pub service: String,
    /// Which rule produced the finding.
    pub kind: FindingKind,
    /// How bad it is; only warning and critical are incidents ([`Finding::is_incident`]).
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
    /// `recovered` findings: when the problem cleared, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<i64>,
    /// Start of the problem: the first sustained crossing of the threshold, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<i64>,
    /// HTTP figures from a sample of the requests (the `httpLogs` fallback's row cap did not reach
    /// back to the window's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled: Option<Sampling>,
    /// The value against the service's own normal, when a baseline was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineComparison>,
    /// The deployment that most likely started the problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspect_deployment: Option<SuspectDeployment>,
}

/// How much of the window sampled HTTP figures describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sampling {
    /// Request rows aggregated.
    pub rows: u64,
    /// Seconds of the window those rows cover (the newest part).
    pub covered_seconds: i64,
    /// Length of the whole detection window, seconds, for comparison with `covered_seconds`.
    pub window_seconds: i64,
}

/// A value next to the service's normal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BaselineComparison {
    /// The normal (median over the baseline period), in the finding's unit.
    pub median: f64,
    /// `value / median`.
    pub ratio: f64,
    /// Length of the baseline period the median was taken over, seconds.
    pub period_seconds: i64,
}

/// A deployment that went live shortly before an incident's onset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuspectDeployment {
    /// Railway deployment id.
    pub id: String,
    /// Commit the deployment was built from, when Railway knows it (not for image deploys).
    pub commit_hash: Option<String>,
    /// First line of that commit's message, when known.
    pub commit_message: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Minutes between the deployment and the onset.
    pub minutes_before_onset: f64,
    /// The commit of the deployment before it, for a diff (`previous...commit_hash`).
    pub previous_commit_hash: Option<String>,
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
