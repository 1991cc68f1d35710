//! Builders for Railway-shaped projects with known problems, for tests and the demo.
//!
//! Everything is simulated from a few parameters: HTTP figures come from individually generated
//! requests, so counts, timelines, percentiles, endpoint stats and HTTP logs agree with each other.
//! Output is deterministic for the same builder calls and `now`; ids depend only on the project id
//! and service name, so two windows of one project share ids while their numbers differ.

use std::collections::BTreeMap;

use railway::model::{
    Architecture, Deployment, DeploymentRecord, DeploymentStatus, EndpointStat, EnvironmentRef,
    HttpBucket, HttpLogLine, HttpReport, HttpStats, HttpStatsSource, LatencyPercentiles,
    LatencySample, ProjectRef, ProjectSnapshot, ResourceReport, ResourceUsage, Sample, Service,
    ServiceLogs, ServiceSource, StatusCounts, TimeWindow, Volume,
};

use crate::logs::{self, LogCtx};
use crate::rng::Rng;

/// Requests at or above this duration are kept in the HTTP logs as "slow".
pub const SLOW_REQUEST_MS: u64 = railway::SLOW_REQUEST_MS;
/// HTTP log lines kept per service (the most recent), like a bounded `httpLogs` read.
pub const HTTP_LOG_CAP: usize = 200;
/// Width of HTTP timeline and latency buckets.
pub const HTTP_STEP_SECONDS: i64 = 60;

/// The sample spacing Railway's dashboard and CLI use for a window of this length.
pub fn sample_rate_seconds(window_minutes: i64) -> i64 {
    match window_minutes {
        m if m <= 60 => 30,
        m if m <= 6 * 60 => 60,
        m if m <= 24 * 60 => 240,
        m if m <= 7 * 24 * 60 => 3600,
        _ => 14_400,
    }
}

/// A project (one `production` environment) under construction.
#[derive(Debug, Clone)]
pub struct ProjectBuilder {
    id: String,
    name: String,
    environment: String,
    now: i64,
    window_minutes: i64,
    services: Vec<ServiceBuilder>,
}

impl ProjectBuilder {
    /// `now` (Unix seconds) is the end of the window.
    pub fn new(id: &str, name: &str, now: i64, window_minutes: i64) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            environment: "production".to_owned(),
            now,
            window_minutes: window_minutes.max(1),
            services: Vec::new(),
        }
    }

    /// Names the single environment (default `production`).
    pub fn environment(mut self, name: &str) -> Self {
        self.environment = name.to_owned();
        self
    }

    /// Adds a service; services keep the order they are added in.
    pub fn service(mut self, service: ServiceBuilder) -> Self {
        self.services.push(service);
        self
    }

    /// Deterministic id of a service of this project, as [`Self::build`] assigns it.
    pub fn service_id(&self, name: &str) -> String {
        Rng::from_parts(&[&self.id, name, "service-id"]).uuid()
    }

    /// The detection window: the `window_minutes` ending at `now`.
    pub fn window(&self) -> TimeWindow {
        TimeWindow::last_minutes(self.now, self.window_minutes)
    }

    /// The Railway-shaped snapshot: architecture, resource samples, HTTP stats and logs, each
    /// service's series generated deterministically from the project id and its name.
    pub fn build(&self) -> ProjectSnapshot {
        let window = self.window();
        let rate = sample_rate_seconds(self.window_minutes);
        let env_id = Rng::from_parts(&[&self.id, &self.environment, "environment-id"]).uuid();
        let slow_statements: Vec<(String, f64)> = self
            .services
            .iter()
            .flat_map(|s| {
                s.endpoints
                    .iter()
                    .filter(|e| e.slow)
                    .map(|e| (e.path.clone(), e.median_ms))
            })
            .collect();

        let mut services = Vec::new();
        let mut volumes = Vec::new();
        let mut resources = BTreeMap::new();
        let mut http = BTreeMap::new();
        let mut logs = BTreeMap::new();
        let mut deployments = BTreeMap::new();
        for sb in &self.services {
            let sim = sb.simulate(self, window, rate, &slow_statements);
            if let Some(v) = sim.volume {
                volumes.push(v);
            }
            resources.insert(sim.service.id.clone(), sim.usage);
            if let Some(h) = sim.http {
                http.insert(sim.service.id.clone(), h);
            }
            logs.insert(sim.service.id.clone(), sim.logs);
            deployments.insert(sim.service.id.clone(), sim.history);
            services.push(sim.service);
        }
        ProjectSnapshot {
            architecture: Architecture {
                project: ProjectRef {
                    id: self.id.clone(),
                    name: self.name.clone(),
                },
                environment: EnvironmentRef {
                    id: env_id,
                    name: self.environment.clone(),
                },
                services,
                volumes,
            },
            resources: ResourceReport {
                window,
                sample_rate_seconds: rate,
                services: resources,
            },
            http: HttpReport {
                window,
                services: http,
            },
            logs,
            deployments,
            baselines: BTreeMap::new(),
        }
    }

    /// Every request of the window that reached each service's latest deployment, as the
    /// `httpLogs` fallback reads them (newest last), keyed by service id. Databases and workers
    /// without traffic are absent.
    pub fn http_log_rows(&self) -> BTreeMap<String, Vec<HttpLogLine>> {
        let window = self.window();
        let rate = sample_rate_seconds(self.window_minutes);
        let mut out = BTreeMap::new();
        for sb in &self.services {
            let sim = sb.simulate(self, window, rate, &[]);
            if sim.http.is_some() {
                out.insert(sim.service.id.clone(), sim.all_requests);
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Cpu {
    /// Percent of the limit, with ±15 % relative noise.
    Idle(f64),
    /// Percent of the limit, with ±2 points of noise.
    Sustained(f64),
    /// Low baseline with single-sample spikes to 85–99 %.
    Spiky,
}

#[derive(Debug, Clone, PartialEq)]
enum Memory {
    Flat(f64),
    Leak { start_pct: f64, mb_per_hour: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Web,
    Worker,
    Database,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Endpoint {
    pub(crate) method: String,
    /// May contain `{id}`, replaced by a number in logs and shown as `:id` in stats.
    pub(crate) path: String,
    weight: f64,
    pub(crate) median_ms: f64,
    rate_5xx: f64,
    rate_4xx: f64,
    status_4xx: u16,
    pub(crate) slow: bool,
    /// Scanner traffic: every request asks for a probe path and is answered 404.
    probe: bool,
}

impl Endpoint {
    fn new(method: &str, path: &str, weight: f64, median_ms: f64) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            weight,
            median_ms,
            rate_5xx: 0.0003,
            rate_4xx: 0.0,
            status_4xx: 404,
            slow: false,
            probe: false,
        }
    }

    fn with_4xx(mut self, rate: f64, status: u16) -> Self {
        self.rate_4xx = rate;
        self.status_4xx = status;
        self
    }

    fn route(&self) -> String {
        self.path.replace("{id}", ":id")
    }
}

fn default_endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new("GET", "/health", 0.12, 2.5),
        Endpoint::new("GET", "/api/products", 0.30, 42.0).with_4xx(0.004, 400),
        Endpoint::new("GET", "/api/products/{id}", 0.25, 28.0).with_4xx(0.03, 404),
        Endpoint::new("POST", "/api/cart/items", 0.15, 65.0).with_4xx(0.02, 422),
        Endpoint::new("POST", "/api/checkout", 0.08, 170.0).with_4xx(0.015, 402),
        Endpoint::new("GET", "/api/orders/{id}", 0.10, 55.0).with_4xx(0.02, 401),
    ]
}

#[derive(Debug, Clone, PartialEq)]
enum Traffic {
    None,
    /// Requests per second on average.
    Steady(f64),
    /// Exactly two requests in the window, one answered 500.
    TwoRequestsOneFailing,
}

/// One service under construction. Defaults: a healthy Node web service with 2 vCPU / 1 GB
/// limits, ~4 req/s over six realistic endpoints, idle CPU and flat memory.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceBuilder {
    pub(crate) name: String,
    repo: Option<String>,
    image: Option<String>,
    pub(crate) role: Role,
    cpu_limit: Option<f64>,
    memory_limit_gb: Option<f64>,
    cpu: Cpu,
    cpu_chosen: bool,
    memory: Memory,
    memory_chosen: bool,
    traffic: Traffic,
    pub(crate) endpoints: Vec<Endpoint>,
    custom_endpoints: bool,
    /// `(from, to, rate)`: between `from` and `to` minutes before the end, `rate` of requests fail.
    error_burst: Option<(i64, i64, f64)>,
    pub(crate) crashed: bool,
    failed: bool,
    /// Minutes before the end of the window at which the latest deployment went live.
    redeployed: Option<i64>,
    commit_message: Option<String>,
    /// `(minutes before the end, factor)`: from then on every request takes `factor` times longer.
    slowdown: Option<(i64, f64)>,
    /// `(minutes before the end)`: CPU returns to idle from then on.
    cpu_until: Option<i64>,
    extra_logs: Vec<(String, String)>,
    region: String,
}

impl ServiceBuilder {
    /// A healthy web service called `name` with the defaults above.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            repo: None,
            image: None,
            role: Role::Web,
            cpu_limit: Some(2.0),
            memory_limit_gb: Some(1.0),
            cpu: Cpu::Idle(8.0),
            cpu_chosen: false,
            memory: Memory::Flat(35.0),
            memory_chosen: false,
            traffic: Traffic::Steady(4.0),
            endpoints: default_endpoints(),
            custom_endpoints: false,
            error_burst: None,
            crashed: false,
            failed: false,
            redeployed: None,
            commit_message: None,
            slowdown: None,
            cpu_until: None,
            extra_logs: Vec::new(),
            region: "us-west2".to_owned(),
        }
    }

    /// GitHub `owner/name` the service deploys from.
    pub fn repo(mut self, repo: &str) -> Self {
        self.repo = Some(repo.to_owned());
        self
    }

    /// Source image instead of a repository (an image deploy has no commit).
    pub fn image(mut self, image: &str) -> Self {
        self.image = Some(image.to_owned());
        self
    }

    /// Railway region name (default `us-west2`).
    pub fn region(mut self, region: &str) -> Self {
        self.region = region.to_owned();
        self
    }

    /// vCPU and GB limits as Railway reports them (`CPU_LIMIT`, `MEMORY_LIMIT_GB`).
    pub fn limits(mut self, vcpu: f64, memory_gb: f64) -> Self {
        self.cpu_limit = Some(vcpu);
        self.memory_limit_gb = Some(memory_gb);
        self
    }

    /// No limit samples at all (share-of-limit checks cannot run).
    pub fn no_limits(mut self) -> Self {
        self.cpu_limit = None;
        self.memory_limit_gb = None;
        self
    }

    /// Idle CPU, flat memory, default traffic, no errors: resets earlier problem settings.
    pub fn healthy(mut self) -> Self {
        self.cpu = Cpu::Idle(8.0);
        self.memory = Memory::Flat(35.0);
        self.error_burst = None;
        self.crashed = false;
        self.failed = false;
        self.slowdown = None;
        self.endpoints.retain(|e| !e.slow);
        if matches!(self.traffic, Traffic::TwoRequestsOneFailing) {
            self.traffic = Traffic::Steady(4.0);
        }
        self
    }

    /// Memory rising steadily from `start_pct` of the limit at the start of the window.
    pub fn memory_leak(mut self, start_pct: f64, mb_per_hour: f64) -> Self {
        self.memory = Memory::Leak {
            start_pct,
            mb_per_hour,
        };
        self.memory_chosen = true;
        self
    }

    /// Memory flat at `pct` of the limit (±0.4 points of noise).
    pub fn memory_flat(mut self, pct: f64) -> Self {
        self.memory = Memory::Flat(pct);
        self.memory_chosen = true;
        self
    }

    /// CPU held at `pct` of the limit for the whole window.
    pub fn cpu_sustained(mut self, pct: f64) -> Self {
        self.cpu = Cpu::Sustained(pct);
        self.cpu_chosen = true;
        self
    }

    /// CPU idling at `pct` of the limit.
    pub fn cpu_idle(mut self, pct: f64) -> Self {
        self.cpu = Cpu::Idle(pct);
        self.cpu_chosen = true;
        self
    }

    /// A healthy bursty workload: ~20 % baseline, one-sample spikes to 85–99 % every few minutes.
    pub fn cpu_spiky(mut self) -> Self {
        self.cpu = Cpu::Spiky;
        self.cpu_chosen = true;
        self
    }

    /// Average requests per second.
    pub fn rps(mut self, rps: f64) -> Self {
        self.traffic = Traffic::Steady(rps);
        self
    }

    /// Replace the default endpoints (first call) or add one (later calls). `median_ms` is the
    /// typical duration; weights are relative traffic shares.
    pub fn endpoint(mut self, method: &str, path: &str, weight: f64, median_ms: f64) -> Self {
        if !self.custom_endpoints {
            self.endpoints.clear();
            self.custom_endpoints = true;
        }
        self.endpoints
            .push(Endpoint::new(method, path, weight, median_ms));
        self
    }

    /// An endpoint whose database queries take seconds: about a third of the traffic, with this
    /// p95. The project's database (if any) logs the matching slow statements.
    pub fn slow_endpoint(mut self, method: &str, path: &str, p95_ms: f64) -> Self {
        let total: f64 = self
            .endpoints
            .iter()
            .filter(|e| !e.slow)
            .map(|e| e.weight)
            .sum();
        let weight = if total > 0.0 { total * 0.25 } else { 1.0 };
        let mut e = Endpoint::new(method, path, weight, p95_ms / LOGNORMAL_P95_FACTOR);
        e.slow = true;
        self.endpoints.push(e);
        self
    }

    /// For the last `minutes` of the window, `rate_5xx` (0–1) of requests fail with 502/503/500.
    pub fn error_burst(mut self, minutes: i64, rate_5xx: f64) -> Self {
        self.error_burst = Some((minutes, 0, rate_5xx));
        self
    }

    /// A 5xx burst that has ended: from `from` to `to` minutes before the end of the window.
    pub fn error_burst_between(mut self, from: i64, to: i64, rate_5xx: f64) -> Self {
        self.error_burst = Some((from.max(to), to.min(from), rate_5xx));
        self
    }

    /// The latest deployment went live `minutes` before the end of the window (a previous one
    /// served until then). Combined with a burst ending at the same time: fixed by a redeploy.
    pub fn redeployed(mut self, minutes: i64) -> Self {
        self.redeployed = Some(minutes.max(0));
        self
    }

    /// Commit message of the latest deployment.
    pub fn commit_message(mut self, message: &str) -> Self {
        self.commit_message = Some(message.to_owned());
        self
    }

    /// From `minutes` before the end of the window, every request takes `factor` times longer
    /// (a regression, typically shipped by a deployment at that time).
    pub fn slower_since(mut self, minutes: i64, factor: f64) -> Self {
        self.slowdown = Some((minutes, factor));
        self
    }

    /// CPU held at `pct` until `minutes` before the end of the window, idle after.
    pub fn cpu_sustained_until(mut self, pct: f64, minutes: i64) -> Self {
        self.cpu = Cpu::Sustained(pct);
        self.cpu_chosen = true;
        self.cpu_until = Some(minutes);
        self
    }

    /// Scanners and bots: `share` (0–1) of all requests ask for probe paths (`/wp-login.php`,
    /// `/.env`, …) and are answered 404.
    pub fn scanners(mut self, share: f64) -> Self {
        let share = share.clamp(0.0, 0.95);
        let total: f64 = self.endpoints.iter().map(|e| e.weight).sum();
        let mut e = Endpoint::new("GET", "{probe}", total * share / (1.0 - share), 3.0);
        e.probe = true;
        e.rate_5xx = 0.0;
        e.rate_4xx = 1.0;
        e.status_4xx = 404;
        self.endpoints.push(e);
        self
    }

    /// Real-route client errors: `rate` (0–1) of the requests to every endpoint except `/health`
    /// are answered `status` (401, 403, 409, 422, 429, …).
    pub fn client_errors(mut self, rate: f64, status: u16) -> Self {
        for e in self
            .endpoints
            .iter_mut()
            .filter(|e| !e.probe && e.path != "/health")
        {
            e.rate_4xx = rate;
            e.status_4xx = status;
        }
        self
    }

    /// The latest deployment's build failed (Railway keeps serving the previous one).
    pub fn failed_build(mut self) -> Self {
        self.failed = true;
        self
    }

    /// Two requests in the whole window, one of them a 500.
    pub fn low_traffic_errors(mut self) -> Self {
        self.traffic = Traffic::TwoRequestsOneFailing;
        self
    }

    /// The latest deployment crashed 10 minutes before the end of the window: its logs end in the
    /// crash loop and requests since then get Railway's 502.
    pub fn crashed(mut self) -> Self {
        self.crashed = true;
        self
    }

    /// A background worker: no domain, no HTTP traffic, job logs.
    pub fn worker(mut self) -> Self {
        self.role = Role::Worker;
        self.traffic = Traffic::None;
        self
    }

    /// A database from `image`, with a volume, Postgres-style logs and no HTTP traffic.
    pub fn database(mut self, image: &str) -> Self {
        self.role = Role::Database;
        self.image = Some(image.to_owned());
        self.repo = None;
        self.traffic = Traffic::None;
        // Databases keep a cache warm: higher flat memory unless the caller chose a shape.
        if !self.memory_chosen {
            self.memory = Memory::Flat(50.0);
        }
        if !self.cpu_chosen {
            self.cpu = Cpu::Idle(4.0);
        }
        self
    }

    /// Extra deployment log lines `(severity, message)`, spread evenly over the window.
    pub fn logs<S: Into<String>, M: Into<String>>(
        mut self,
        lines: impl IntoIterator<Item = (S, M)>,
    ) -> Self {
        self.extra_logs
            .extend(lines.into_iter().map(|(s, m)| (s.into(), m.into())));
        self
    }
}

/// p95 / median of the log-normal duration model (`exp(1.645 * 0.45)`).
const LOGNORMAL_P95_FACTOR: f64 = 2.096;
const DURATION_SIGMA: f64 = 0.45;

struct Simulated {
    service: Service,
    volume: Option<Volume>,
    usage: ResourceUsage,
    http: Option<HttpStats>,
    logs: ServiceLogs,
    /// Every request of the window that reached the latest deployment, as `httpLogs` rows.
    all_requests: Vec<HttpLogLine>,
    history: Vec<DeploymentRecord>,
}

pub(crate) struct Request {
    pub(crate) ts: i64,
    pub(crate) nanos: u32,
    pub(crate) endpoint: usize,
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) ms: u64,
    pub(crate) details: Option<String>,
}

impl ServiceBuilder {
    fn simulate(
        &self,
        project: &ProjectBuilder,
        window: TimeWindow,
        rate: i64,
        slow_statements: &[(String, f64)],
    ) -> Simulated {
        let mut ids = Rng::from_parts(&[&project.id, &self.name, "ids"]);
        let now_s = project.now.to_string();
        let mut noise = Rng::from_parts(&[&project.id, &self.name, &now_s, "noise"]);

        let service_id = project.service_id(&self.name);
        let instance_id = ids.uuid();
        let deployment_id = ids.uuid();
        let commit = ids.hex(40);
        // Deployed a few hours before the window; the same for every window of this project.
        let long_ago = window.end - 3 * 3600 - (ids.int(0, 5400) as i64);
        let deployed_at = self.redeployed.map_or(long_ago, |m| window.end - m * 60);
        let crash_at = window.end - 10 * 60;

        let domains = match self.role {
            Role::Web => vec![format!("{}-production.up.railway.app", self.name)],
            _ => Vec::new(),
        };
        let volume = (self.role == Role::Database).then(|| Volume {
            id: ids.uuid(),
            volume_id: ids.uuid(),
            name: format!("{}-volume", self.name),
            service_id: Some(service_id.clone()),
            mount_path: "/var/lib/postgresql/data".to_owned(),
            current_size_mb: (ids.range(1200.0, 2600.0) * 10.0).round() / 10.0,
            size_mb: 5000.0,
            state: Some("READY".to_owned()),
        });
        let service = Service {
            id: service_id.clone(),
            instance_id,
            name: self.name.clone(),
            source: ServiceSource {
                repo: self.repo.clone(),
                image: self.image.clone(),
            },
            builder: self.repo.as_ref().map(|_| "RAILPACK".to_owned()),
            root_directory: None,
            start_command: None,
            replicas: Some(1),
            region: Some(self.region.clone()),
            latest_deployment: Some(Deployment {
                id: deployment_id.clone(),
                status: if self.crashed {
                    DeploymentStatus::Crashed
                } else if self.failed {
                    DeploymentStatus::Failed
                } else {
                    DeploymentStatus::Success
                },
                created_at: crate::rfc3339(deployed_at, 0),
                commit_hash: self.repo.as_ref().map(|_| commit.clone()),
            }),
            is_database: self.role == Role::Database,
            domains,
        };

        let sample_ts: Vec<i64> = {
            let first = (window.start + rate - 1).div_euclid(rate) * rate;
            (0..)
                .map(|i| first + i * rate)
                .take_while(|ts| *ts < window.end)
                .collect()
        };
        let usage = self.resource_usage(&service_id, &sample_ts, window, &mut noise);

        let requests = self.requests(window, crash_at, &mut noise);
        let http = match self.traffic {
            Traffic::None if self.role == Role::Database => None,
            _ => Some(self.http_stats(&service_id, window, &requests)),
        };

        let ctx = LogCtx {
            name: &self.name,
            role: self.role,
            window,
            deployed_at,
            crash_at: self.crashed.then_some(crash_at),
            memory: &usage.memory_gb,
            memory_limit_gb: self.memory_limit_gb.unwrap_or(1.0),
            cpu: &usage.cpu,
            cpu_limit: self.cpu_limit.unwrap_or(2.0),
            leaking: matches!(self.memory, Memory::Leak { .. }),
            endpoints: self
                .endpoints
                .iter()
                .filter(|e| !e.slow)
                .map(|e| (e.method.as_str(), e.path.as_str(), e.median_ms))
                .collect(),
            slow_endpoints: self
                .endpoints
                .iter()
                .filter(|e| e.slow)
                .map(|e| (e.method.as_str(), e.path.as_str(), e.median_ms))
                .collect(),
            error_burst: self.error_burst.map(|(m, _, _)| window.end - m * 60),
            slow_statements,
            extra: &self.extra_logs,
        };
        let mut log_rng = Rng::from_parts(&[&project.id, &self.name, &now_s, "logs"]);
        let (build, deploy) = logs::generate(&ctx, &mut log_rng);
        let as_line = |r: &Request, log_rng: &mut Rng| HttpLogLine {
            timestamp: crate::rfc3339(r.ts, r.nanos),
            method: self.endpoints[r.endpoint].method.clone(),
            path: r.path.clone(),
            status: r.status,
            total_duration_ms: r.ms,
            upstream_duration_ms: (r.status != 502 && r.status != 503)
                .then(|| r.ms.saturating_sub(1)),
            response_details: r.details.clone(),
            request_id: Some(log_rng.request_id()),
        };
        let mut http_logs: Vec<HttpLogLine> = requests
            .iter()
            .filter(|r| r.status >= 400 || r.ms >= SLOW_REQUEST_MS)
            .map(|r| as_line(r, &mut log_rng))
            .collect();
        let mut all_rng = Rng::from_parts(&[&project.id, &self.name, &now_s, "all-requests"]);
        let all_requests: Vec<HttpLogLine> = requests
            .iter()
            .filter(|r| r.ts >= deployed_at)
            .map(|r| as_line(r, &mut all_rng))
            .collect();
        let latest_commit = self.repo.as_ref().map(|_| commit.clone());
        let mut history = vec![DeploymentRecord {
            id: deployment_id.clone(),
            status: service
                .latest_deployment
                .as_ref()
                .map_or(DeploymentStatus::Success, |d| d.status.clone()),
            created_at: deployed_at,
            commit_hash: latest_commit,
            commit_message: self.repo.as_ref().map(|_| {
                self.commit_message
                    .clone()
                    .unwrap_or_else(|| "Update dependencies".to_owned())
            }),
        }];
        if self.redeployed.is_some() || self.failed {
            let mut older = Rng::from_parts(&[&project.id, &self.name, "history"]);
            let id = older.uuid();
            let previous_commit = older.hex(40);
            history.push(DeploymentRecord {
                id,
                status: DeploymentStatus::Removed,
                created_at: long_ago.min(deployed_at - 3600),
                commit_hash: self.repo.as_ref().map(|_| previous_commit.clone()),
                commit_message: self.repo.as_ref().map(|_| "Previous release".to_owned()),
            });
        }
        let mut truncated = Vec::new();
        if http_logs.len() > HTTP_LOG_CAP {
            truncated.push(format!(
                "http: kept the {HTTP_LOG_CAP} most recent of {} failed or slow requests",
                http_logs.len()
            ));
            http_logs.drain(..http_logs.len() - HTTP_LOG_CAP);
        }
        Simulated {
            service,
            volume,
            usage,
            http,
            logs: ServiceLogs {
                service_id,
                deployment_id: Some(deployment_id),
                build,
                deploy,
                http: http_logs,
                truncated,
            },
            all_requests,
            history,
        }
    }

    fn resource_usage(
        &self,
        service_id: &str,
        ts: &[i64],
        window: TimeWindow,
        rng: &mut Rng,
    ) -> ResourceUsage {
        // Values are generated against a nominal limit even when none is reported.
        let cpu_limit = self.cpu_limit.unwrap_or(2.0);
        let mem_limit = self.memory_limit_gb.unwrap_or(1.0);
        let spike_phase = rng.int(0, 6) as usize;
        let cpu = ts
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let idle = self.cpu_until.is_some_and(|m| t >= window.end - m * 60);
                let pct = match self.cpu {
                    _ if idle => 8.0 * (1.0 + 0.15 * rng.normal()),
                    Cpu::Idle(p) => p * (1.0 + 0.15 * rng.normal()),
                    Cpu::Sustained(p) => p + 2.0 * rng.normal(),
                    Cpu::Spiky if (i + spike_phase).is_multiple_of(7) => rng.range(85.0, 99.0),
                    Cpu::Spiky => 20.0 + 4.0 * rng.normal(),
                };
                Sample {
                    ts: t,
                    value: round4(pct.clamp(0.5, 100.0) / 100.0 * cpu_limit),
                }
            })
            .collect();
        let memory_gb = ts
            .iter()
            .map(|&t| {
                let pct = match self.memory {
                    Memory::Flat(p) => p + 0.4 * rng.normal(),
                    Memory::Leak {
                        start_pct,
                        mb_per_hour,
                    } => {
                        let hours = (t - window.start) as f64 / 3600.0;
                        start_pct
                            + mb_per_hour * hours / (mem_limit * 1000.0) * 100.0
                            + 0.15 * rng.normal()
                    }
                };
                Sample {
                    ts: t,
                    value: round4(pct.clamp(1.0, 100.0) / 100.0 * mem_limit),
                }
            })
            .collect();
        ResourceUsage {
            service_id: service_id.to_owned(),
            cpu,
            cpu_limit: self.cpu_limit,
            memory_gb,
            memory_limit_gb: self.memory_limit_gb,
        }
    }

    fn requests(&self, window: TimeWindow, crash_at: i64, rng: &mut Rng) -> Vec<Request> {
        let mut out = Vec::new();
        match self.traffic {
            Traffic::None => {}
            Traffic::TwoRequestsOneFailing => {
                for (k, status) in [(0usize, 200u16), (1, 500)] {
                    let ts = window.start + (window.seconds() / 3) * (k as i64 + 1);
                    let ep = k.min(self.endpoints.len().saturating_sub(1));
                    let path = concrete_path(&self.endpoints[ep].path, rng);
                    out.push(Request {
                        ts,
                        nanos: rng.int(0, 999_999_999) as u32,
                        endpoint: ep,
                        path,
                        status,
                        ms: 40 + 300 * k as u64,
                        details: None,
                    });
                }
            }
            Traffic::Steady(rps) => {
                let total_weight: f64 = self.endpoints.iter().map(|e| e.weight).sum();
                let mut bucket = window.start;
                while bucket < window.end {
                    let step = HTTP_STEP_SECONDS.min(window.end - bucket);
                    let expected = rps * step as f64;
                    let n = (expected + expected.sqrt() * rng.normal()).round().max(0.0) as usize;
                    let mut batch: Vec<Request> = (0..n)
                        .map(|_| {
                            self.one_request(bucket, step, total_weight, window, crash_at, rng)
                        })
                        .collect();
                    batch.sort_by_key(|r| (r.ts, r.nanos));
                    out.extend(batch);
                    bucket += HTTP_STEP_SECONDS;
                }
            }
        }
        out
    }

    fn one_request(
        &self,
        bucket: i64,
        step: i64,
        total_weight: f64,
        window: TimeWindow,
        crash_at: i64,
        rng: &mut Rng,
    ) -> Request {
        let mut pick = rng.unit() * total_weight;
        let mut idx = self.endpoints.len() - 1;
        for (i, e) in self.endpoints.iter().enumerate() {
            if pick < e.weight {
                idx = i;
                break;
            }
            pick -= e.weight;
        }
        let e = &self.endpoints[idx];
        let ts = bucket + rng.int(0, (step - 1).max(0) as u64) as i64;
        let nanos = rng.int(0, 999_999_999) as u32;
        let path = if e.probe {
            PROBE_PATHS[rng.int(0, PROBE_PATHS.len() as u64 - 1) as usize].to_owned()
        } else {
            concrete_path(&e.path, rng)
        };
        let mut ms = (e.median_ms * (DURATION_SIGMA * rng.normal()).exp())
            .round()
            .max(1.0) as u64;
        let mut details = None;
        if let Some((m, factor)) = self.slowdown
            && ts >= window.end - m * 60
        {
            ms = (ms as f64 * factor).round() as u64;
        }
        let in_burst = self
            .error_burst
            .is_some_and(|(from, to, _)| ts >= window.end - from * 60 && ts < window.end - to * 60);
        let status = if self.crashed && ts >= crash_at {
            ms = rng.int(2, 40);
            details = Some("Application failed to respond".to_owned());
            502
        } else if in_burst && rng.chance(self.error_burst.map_or(0.0, |(_, _, r)| r)) {
            match rng.int(0, 9) {
                0..=5 => {
                    details = Some("upstream connect error or disconnect/reset before headers. reset reason: connection failure".to_owned());
                    ms = rng.int(1, 30);
                    502
                }
                6..=7 => {
                    ms = rng.int(15_000, 30_000);
                    details = Some("upstream request timeout".to_owned());
                    504
                }
                _ => 500,
            }
        } else if rng.chance(e.rate_5xx) {
            500
        } else if rng.chance(e.rate_4xx) {
            e.status_4xx
        } else if e.method == "POST" {
            if rng.chance(0.5) { 201 } else { 200 }
        } else if rng.chance(0.03) {
            304
        } else {
            200
        };
        Request {
            ts,
            nanos,
            endpoint: idx,
            path,
            status,
            ms,
            details,
        }
    }

    fn http_stats(&self, service_id: &str, window: TimeWindow, requests: &[Request]) -> HttpStats {
        let mut counts = StatusCounts::default();
        let mut timeline = Vec::new();
        let mut latency_timeline = Vec::new();
        // One pass to group requests by bucket: windows of hours hold hundreds of thousands.
        let buckets = (window.seconds() + HTTP_STEP_SECONDS - 1) / HTTP_STEP_SECONDS;
        let mut grouped: Vec<Vec<&Request>> = vec![Vec::new(); buckets.max(0) as usize];
        for r in requests {
            let i = (r.ts - window.start).div_euclid(HTTP_STEP_SECONDS);
            if let Some(g) = usize::try_from(i).ok().and_then(|i| grouped.get_mut(i)) {
                g.push(r);
            }
        }
        for (i, in_bucket) in grouped.iter().enumerate() {
            let bucket = window.start + i as i64 * HTTP_STEP_SECONDS;
            let mut c = StatusCounts::default();
            for r in in_bucket {
                add_status(&mut c, r.status);
            }
            if !in_bucket.is_empty() {
                timeline.push(HttpBucket {
                    ts: bucket,
                    counts: c,
                });
                let durations: Vec<f64> = in_bucket.iter().map(|r| r.ms as f64).collect();
                latency_timeline.push(LatencySample {
                    ts: bucket,
                    ms: percentiles(&durations),
                });
            }
            counts = counts + c;
        }
        let all: Vec<f64> = requests.iter().map(|r| r.ms as f64).collect();
        // Probes group by the concrete path they asked for, like `httpLogs` rows do.
        let mut groups: BTreeMap<(usize, String), Vec<&Request>> = BTreeMap::new();
        for r in requests {
            let e = &self.endpoints[r.endpoint];
            let key = if e.probe { r.path.clone() } else { e.route() };
            groups.entry((r.endpoint, key)).or_default().push(r);
        }
        let endpoints: Vec<EndpointStat> = groups
            .into_iter()
            .map(|((i, path), rs)| {
                let d: Vec<f64> = rs.iter().map(|r| r.ms as f64).collect();
                EndpointStat {
                    method: self.endpoints[i].method.clone(),
                    path,
                    requests: rs.len() as u64,
                    errors_5xx: rs.iter().filter(|r| r.status >= 500).count() as u64,
                    errors_4xx: rs.iter().filter(|r| (400..500).contains(&r.status)).count() as u64,
                    p95_ms: Some(percentiles(&d).p95),
                    max_ms: d.iter().copied().reduce(f64::max),
                }
            })
            .collect();
        let rows: Vec<railway::http::HttpRow> = requests
            .iter()
            .filter(|r| (400..500).contains(&r.status))
            .map(|r| railway::http::HttpRow {
                timestamp: String::new(),
                method: self.endpoints[r.endpoint].method.clone(),
                path: r.path.clone(),
                http_status: i64::from(r.status),
                total_duration: r.ms as i64,
                upstream_rq_duration: None,
                response_details: None,
                request_id: None,
            })
            .collect();
        let probes = railway::http::probe_stats(&rows);
        let mut top_failing: Vec<EndpointStat> = endpoints
            .iter()
            .filter(|e| e.errors_5xx + e.errors_4xx > 0)
            .cloned()
            .collect();
        top_failing.sort_by_key(|e| std::cmp::Reverse((e.errors_5xx, e.errors_4xx)));
        top_failing.truncate(5);
        let mut slowest = endpoints;
        slowest.sort_by(|a, b| b.p95_ms.unwrap_or(0.0).total_cmp(&a.p95_ms.unwrap_or(0.0)));
        slowest.truncate(5);
        HttpStats {
            service_id: service_id.to_owned(),
            window,
            counts,
            timeline,
            latency_ms: (!all.is_empty()).then(|| percentiles(&all)),
            latency_timeline,
            top_failing,
            slowest,
            source: HttpStatsSource::Metrics,
            probes,
        }
    }
}

/// What scanners ask every public host for.
const PROBE_PATHS: &[&str] = &[
    "/wp-login.php",
    "/.env",
    "/phpmyadmin/index.php",
    "/xmlrpc.php",
    "/wp-admin/setup-config.php",
    "/.git/config",
    "/admin.php",
    "/cgi-bin/luci",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/backup.sql",
];

fn add_status(c: &mut StatusCounts, status: u16) {
    match status {
        200..=299 => c.s2xx += 1,
        300..=399 => c.s3xx += 1,
        400..=499 => c.s4xx += 1,
        _ => c.s5xx += 1,
    }
}

fn concrete_path(template: &str, rng: &mut Rng) -> String {
    template.replace("{id}", &rng.int(1000, 98_000).to_string())
}

fn percentiles(values: &[f64]) -> LatencyPercentiles {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    };
    LatencyPercentiles {
        p50: at(0.5),
        p90: at(0.9),
        p95: at(0.95),
        p99: at(0.99),
    }
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}
