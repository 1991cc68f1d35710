//! Domain types for one Railway environment. The rest of the workspace speaks these types only;
//! generated GraphQL types never leave this crate.
//!
//! Times are Unix seconds (UTC); log timestamps stay RFC 3339 strings as Railway sends them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A half-open time window `[start, end)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    /// First second inside the window.
    pub start: i64,
    /// First second after the window.
    pub end: i64,
}

impl TimeWindow {
    /// The `minutes` minutes ending at `end`.
    pub fn last_minutes(end: i64, minutes: i64) -> Self {
        Self {
            start: end - minutes * 60,
            end,
        }
    }

    /// Length of the window, seconds.
    pub fn seconds(&self) -> i64 {
        self.end - self.start
    }

    /// `start <= ts < end`.
    pub fn contains(&self, ts: i64) -> bool {
        ts >= self.start && ts < self.end
    }
}

/// A Railway project, by id and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectRef {
    /// Project id (`RAILWAY_PROJECT_ID`).
    pub id: String,
    /// Project name as shown in the dashboard.
    pub name: String,
}

/// One environment of a project, by id and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentRef {
    /// Environment id (`RAILWAY_ENVIRONMENT_ID`).
    pub id: String,
    /// Environment name, e.g. `production`.
    pub name: String,
}

/// Services, databases and volumes of one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// The project.
    pub project: ProjectRef,
    /// The environment read.
    pub environment: EnvironmentRef,
    /// Every service instance of the environment, in Railway's order.
    pub services: Vec<Service>,
    /// Every volume instance of the environment.
    pub volumes: Vec<Volume>,
}

impl Architecture {
    /// A service by id.
    pub fn service(&self, service_id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == service_id)
    }

    /// A service by exact name.
    pub fn service_by_name(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The volumes attached to a service.
    pub fn volumes_of<'a>(&'a self, service_id: &'a str) -> impl Iterator<Item = &'a Volume> + 'a {
        self.volumes
            .iter()
            .filter(move |v| v.service_id.as_deref() == Some(service_id))
    }
}

/// One service as configured in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// Railway service id (`serviceId`), the key used everywhere else.
    pub id: String,
    /// Service instance id in this environment.
    pub instance_id: String,
    /// Service name.
    pub name: String,
    /// Where it deploys from: a repository or an image.
    pub source: ServiceSource,
    /// `RAILPACK`, `NIXPACKS`, … as Railway reports it.
    pub builder: Option<String>,
    /// Directory of the service inside its repository (monorepos).
    pub root_directory: Option<String>,
    /// Custom start command, when set.
    pub start_command: Option<String>,
    /// Configured replica count, when set.
    pub replicas: Option<i64>,
    /// Deployment region, e.g. `us-west2`.
    pub region: Option<String>,
    /// The environment's most recent deployment of the service.
    pub latest_deployment: Option<Deployment>,
    /// A database: has a volume attached, or its image is a known database image.
    pub is_database: bool,
    /// Public and custom domains.
    pub domains: Vec<String>,
}

/// What a service deploys from; both `None` for an empty service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceSource {
    /// `owner/name` of the GitHub repository the service deploys from.
    pub repo: Option<String>,
    /// Docker image for image-based services (databases, …).
    pub image: Option<String>,
}

/// A deployment of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Deployment id.
    pub id: String,
    /// Where the deployment is in its lifecycle.
    pub status: DeploymentStatus,
    /// RFC 3339.
    pub created_at: String,
    /// Commit it was built from; `None` for image deploys.
    pub commit_hash: Option<String>,
}

/// Railway's `DeploymentStatus`; unknown values are kept, not rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    /// Being built.
    Building,
    /// Was running and exited or failed its health checks.
    Crashed,
    /// Built, being started.
    Deploying,
    /// The build or the deploy failed.
    Failed,
    /// Being set up before the build.
    Initializing,
    /// Waiting for someone to approve it.
    NeedsApproval,
    /// Waiting for a builder.
    Queued,
    /// Replaced by a newer deployment, or removed.
    Removed,
    /// Being removed.
    Removing,
    /// Not deployed (e.g. no change in the watched paths).
    Skipped,
    /// Stopped for inactivity (serverless); wakes on traffic.
    Sleeping,
    /// Live.
    Success,
    /// Waiting on something else (e.g. CI checks) before building.
    Waiting,
    /// A status this version does not know, kept as Railway spelled it.
    #[serde(untagged)]
    Other(String),
}

impl DeploymentStatus {
    /// `CRASHED` or `FAILED`: the deployment is not serving.
    pub fn is_broken(&self) -> bool {
        matches!(self, Self::Crashed | Self::Failed)
    }
}

/// A persistent volume of the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// Volume instance id.
    pub id: String,
    /// The volume id (shared by its instances across environments).
    pub volume_id: String,
    /// Volume name.
    pub name: String,
    /// Service the volume is attached to, if any.
    pub service_id: Option<String>,
    /// Where it is mounted in the service's container.
    pub mount_path: String,
    /// Space used, MB.
    pub current_size_mb: f64,
    /// Capacity, MB.
    pub size_mb: f64,
    /// Railway's volume state (e.g. `READY`), when reported.
    pub state: Option<String>,
}

/// One point of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Unix seconds.
    pub ts: i64,
    /// The measurement, in the series' unit.
    pub value: f64,
}

/// CPU and memory of one service over a window, with its limits.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceUsage {
    /// Railway service id.
    pub service_id: String,
    /// vCPUs in use.
    pub cpu: Vec<Sample>,
    /// vCPU limit (last non-zero `CPU_LIMIT` sample).
    pub cpu_limit: Option<f64>,
    /// GB in use.
    pub memory_gb: Vec<Sample>,
    /// GB limit (last non-zero `MEMORY_LIMIT_GB` sample).
    pub memory_limit_gb: Option<f64>,
}

impl ResourceUsage {
    /// The samples inside `window`; the limits are kept (they describe the service, not the
    /// window).
    pub fn within(&self, window: TimeWindow) -> ResourceUsage {
        let inside = |s: &&Sample| window.contains(s.ts);
        ResourceUsage {
            service_id: self.service_id.clone(),
            cpu: self.cpu.iter().filter(inside).copied().collect(),
            cpu_limit: self.cpu_limit,
            memory_gb: self.memory_gb.iter().filter(inside).copied().collect(),
            memory_limit_gb: self.memory_limit_gb,
        }
    }
}

/// Resource usage for every service of the environment, read in one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceReport {
    /// The window the samples cover.
    pub window: TimeWindow,
    /// Spacing of the samples, seconds.
    pub sample_rate_seconds: i64,
    /// Keyed by service id. Services without samples may be absent.
    pub services: BTreeMap<String, ResourceUsage>,
}

/// Requests by status class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusCounts {
    /// Requests answered 2xx (1xx answers are not counted anywhere).
    pub s2xx: u64,
    /// Requests answered 3xx.
    pub s3xx: u64,
    /// Requests answered 4xx.
    pub s4xx: u64,
    /// Requests answered 5xx.
    pub s5xx: u64,
}

impl StatusCounts {
    /// Every request counted.
    pub fn total(&self) -> u64 {
        self.s2xx + self.s3xx + self.s4xx + self.s5xx
    }
}

impl std::ops::Add for StatusCounts {
    type Output = StatusCounts;

    fn add(self, other: StatusCounts) -> StatusCounts {
        StatusCounts {
            s2xx: self.s2xx + other.s2xx,
            s3xx: self.s3xx + other.s3xx,
            s4xx: self.s4xx + other.s4xx,
            s5xx: self.s5xx + other.s5xx,
        }
    }
}

impl std::iter::Sum for StatusCounts {
    fn sum<I: Iterator<Item = StatusCounts>>(iter: I) -> StatusCounts {
        iter.fold(StatusCounts::default(), std::ops::Add::add)
    }
}

/// Request counts in one time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HttpBucket {
    /// Start of the bucket, Unix seconds.
    pub ts: i64,
    /// Requests in the bucket by status class.
    pub counts: StatusCounts,
}

/// Request duration percentiles, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyPercentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Latency percentiles of one time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySample {
    /// Start of the bucket, Unix seconds.
    pub ts: i64,
    /// The bucket's percentiles.
    pub ms: LatencyPercentiles,
}

/// One endpoint (method + path) with its counts and latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStat {
    /// HTTP method.
    pub method: String,
    /// Path with ids and numbers folded (`/users/:id`).
    pub path: String,
    /// Requests to it in the window.
    pub requests: u64,
    /// Of those, answered 5xx.
    pub errors_5xx: u64,
    /// Of those, answered 4xx.
    pub errors_4xx: u64,
    /// p95 duration, milliseconds, when durations were read.
    pub p95_ms: Option<f64>,
    /// Longest request, milliseconds.
    pub max_ms: Option<f64>,
}

/// Where HTTP figures came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HttpStatsSource {
    /// Railway's pre-aggregated HTTP metrics.
    Metrics,
    /// Aggregated from `httpLogs`; `sampled` when the row cap did not cover the whole window.
    Logs {
        /// Request rows aggregated.
        rows: u64,
        /// The rows did not reach back to the window's start.
        sampled: bool,
        /// Seconds of the window the rows cover (the newest part).
        covered_seconds: i64,
    },
}

/// HTTP traffic of one service over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpStats {
    /// Railway service id.
    pub service_id: String,
    /// The window the figures cover.
    pub window: TimeWindow,
    /// Requests over the window by status class.
    pub counts: StatusCounts,
    /// Per-bucket counts, oldest first.
    pub timeline: Vec<HttpBucket>,
    /// Percentiles over the whole window.
    pub latency_ms: Option<LatencyPercentiles>,
    /// Percentiles per bucket, oldest first.
    pub latency_timeline: Vec<LatencySample>,
    /// Endpoints with the most 4xx/5xx, most first.
    pub top_failing: Vec<EndpointStat>,
    /// Endpoints with the highest p95, slowest first.
    pub slowest: Vec<EndpointStat>,
    /// Metrics, or aggregated request logs (possibly a sample).
    pub source: HttpStatsSource,
    /// 4xx answers to scanner and bot probes, among the request rows that were read.
    #[serde(default)]
    pub probes: ProbeStats,
}

impl HttpStats {
    /// The buckets inside `window`, with the counts recomputed from them (kept as they are when
    /// there is no timeline to recompute from). Window-wide figures (percentiles, endpoint lists,
    /// probes) cannot be re-derived from buckets and are kept as they stand.
    pub fn within(&self, window: TimeWindow) -> HttpStats {
        let timeline: Vec<HttpBucket> = self
            .timeline
            .iter()
            .copied()
            .filter(|b| window.contains(b.ts))
            .collect();
        let counts = if self.timeline.is_empty() {
            self.counts
        } else {
            timeline.iter().map(|b| b.counts).sum()
        };
        HttpStats {
            service_id: self.service_id.clone(),
            window,
            counts,
            timeline,
            latency_ms: self.latency_ms,
            latency_timeline: self
                .latency_timeline
                .iter()
                .copied()
                .filter(|l| window.contains(l.ts))
                .collect(),
            top_failing: self.top_failing.clone(),
            slowest: self.slowest.clone(),
            source: self.source.clone(),
            probes: self.probes.clone(),
        }
    }
}

/// 4xx rows split into probes of paths no application serves (`/wp-login.php`, `/.env`, …) and
/// the rest. Counted over the rows read (the failed-or-slow `httpLogs` rows on the metrics path,
/// every row on the fallback path), so a share, not an absolute count, is what carries over.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProbeStats {
    /// 4xx rows seen.
    pub rows_4xx: u64,
    /// Of those, answers to probe paths (see `railway::http::is_probe_path`).
    pub probe_4xx: u64,
    /// The most probed paths, most first (at most `railway::http::TOP_ENDPOINTS`).
    pub top_paths: Vec<PathCount>,
}

/// How often one path was probed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathCount {
    /// The probed path.
    pub path: String,
    /// Rows with that path.
    pub requests: u64,
}

impl HttpStats {
    /// Share of requests answered 5xx, `0.0` without traffic.
    pub fn rate_5xx(&self) -> f64 {
        ratio(self.counts.s5xx, self.counts.total())
    }

    /// Share of requests answered 4xx, `0.0` without traffic.
    pub fn rate_4xx(&self) -> f64 {
        ratio(self.counts.s4xx, self.counts.total())
    }
}

fn ratio(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 / total as f64
    }
}

/// HTTP stats for every non-database service, keyed by service id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpReport {
    /// The window every service's stats cover.
    pub window: TimeWindow,
    /// Keyed by service id; services without traffic may be absent.
    pub services: BTreeMap<String, HttpStats>,
}

/// A build or deployment log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// RFC 3339 with nanoseconds, as Railway sends it.
    pub timestamp: String,
    /// The line's text.
    pub message: String,
    /// `error`, `warn`, `info`, … (Railway's `severity`, or the `level` attribute).
    pub severity: Option<String>,
    /// Structured attributes Railway parsed from the line (JSON logs).
    pub attributes: BTreeMap<String, String>,
}

/// One request from Railway's HTTP logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpLogLine {
    /// RFC 3339, as Railway sends it.
    pub timestamp: String,
    /// HTTP method.
    pub method: String,
    /// Request path, query included, as logged.
    pub path: String,
    /// HTTP status answered.
    pub status: u16,
    /// Total time at Railway's edge, milliseconds.
    pub total_duration_ms: u64,
    /// Time the service itself took, milliseconds, when logged.
    pub upstream_duration_ms: Option<u64>,
    /// Filled when the app failed to respond.
    pub response_details: Option<String>,
    /// Railway's request id, for correlating with the service's own logs.
    pub request_id: Option<String>,
}

/// Logs of one service's latest deployment, bounded by count and bytes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceLogs {
    /// Railway service id.
    pub service_id: String,
    /// The deployment the logs belong to.
    pub deployment_id: Option<String>,
    /// Build log lines, most recent kept.
    pub build: Vec<LogLine>,
    /// Runtime log lines, most recent kept.
    pub deploy: Vec<LogLine>,
    /// Failed (status >= 400) and slow requests.
    pub http: Vec<HttpLogLine>,
    /// What the bounds cut, for the reader.
    pub truncated: Vec<String>,
}

/// Everything one environment looks like over a window: what a health read returns, and what the
/// demo project and the fake Railway server serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectSnapshot {
    /// Services, volumes and the latest deployments.
    pub architecture: Architecture,
    /// CPU and memory over the window.
    pub resources: ResourceReport,
    /// HTTP traffic over the window.
    pub http: HttpReport,
    /// Keyed by service id.
    pub logs: BTreeMap<String, ServiceLogs>,
    /// Recent deployments of each service, newest first, keyed by service id.
    #[serde(default)]
    pub deployments: BTreeMap<String, Vec<DeploymentRecord>>,
    /// Each service's normal over the longer period before the window, keyed by service id.
    #[serde(default)]
    pub baselines: BTreeMap<String, ServiceBaseline>,
}

/// A service's normal, from one coarse read of a longer period before the window (e.g. 24 h at
/// one sample per hour): medians, so one bad hour does not become the normal.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceBaseline {
    /// Length of the period the medians describe, seconds.
    pub period_seconds: i64,
    /// Median of the period's p95 latency samples, ms.
    pub p95_ms: Option<f64>,
    /// Median CPU, vCPU.
    pub cpu: Option<f64>,
    /// Median memory, GB.
    pub memory_gb: Option<f64>,
}

/// What the extra "history" read returns for an environment: baselines and recent deployments.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HistoryReport {
    /// Keyed by service id.
    pub baselines: BTreeMap<String, ServiceBaseline>,
    /// Newest first, keyed by service id.
    pub deployments: BTreeMap<String, Vec<DeploymentRecord>>,
}

/// One deployment of a service's history, for matching an incident's onset with a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Deployment id.
    pub id: String,
    /// Its status now.
    pub status: DeploymentStatus,
    /// Unix seconds.
    pub created_at: i64,
    /// Commit it was built from; `None` for image deploys.
    pub commit_hash: Option<String>,
    /// First line of the commit message, as Railway's deployment `meta` carries it.
    pub commit_message: Option<String>,
}
