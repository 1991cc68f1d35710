//! The detection rules. Every rule looks at the shape of the window, never at a single maximum.

use std::collections::BTreeMap;

use railway::model::{
    Architecture, Deployment, DeploymentRecord, DeploymentStatus, HttpReport, HttpStats,
    HttpStatsSource, ResourceReport, ResourceUsage, Sample, Service, ServiceBaseline, TimeWindow,
};
use serde::{Deserialize, Serialize};

use crate::stats::{linear_fit, percentile, share_at_or_above, sustained_level};
use crate::{
    BaselineComparison, Finding, FindingKind, Sampling, Severity, SuspectDeployment, Thresholds,
    fingerprint,
};

/// Decimal megabytes per gigabyte, as Railway's `MEMORY_USAGE_GB` is decimal.
const MB_PER_GB: f64 = 1000.0;

/// Overall state of one service, the worst of its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// No finding at all.
    Healthy,
    /// Only `recovered` findings: something happened in the window and has cleared.
    Recovered,
    /// Worst finding is an observation.
    Observation,
    /// Worst finding is a warning incident.
    Warning,
    /// Worst finding is a critical incident.
    Critical,
}

impl HealthStatus {
    /// The stable `snake_case` name, the same as the serialised form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Recovered => "recovered",
            Self::Observation => "observation",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

impl From<Severity> for HealthStatus {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Recovered => Self::Recovered,
            Severity::Observation => Self::Observation,
            Severity::Warning => Self::Warning,
            Severity::Critical => Self::Critical,
        }
    }
}

/// CPU or memory of one service over the window, in the metric's unit (vCPU or GB).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageFigures {
    /// Number of samples in the window.
    pub samples: usize,
    /// Median sample value.
    pub median: f64,
    /// Highest sample value.
    pub peak: f64,
    /// Value of the newest sample.
    pub last: f64,
    /// The service's limit as Railway reports it; `None` when absent or not positive.
    pub limit: Option<f64>,
    /// Median as a share of the limit, percent; `None` without a limit.
    pub median_pct: Option<f64>,
    /// Peak as a share of the limit, percent; `None` without a limit.
    pub peak_pct: Option<f64>,
}

/// Least-squares memory growth over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendFigures {
    /// Fitted growth, decimal megabytes per hour (negative when shrinking).
    pub slope_mb_per_hour: f64,
    /// Coefficient of determination of the fit, 0–1: how well a straight line explains the samples.
    pub r2: f64,
    /// Projected time until the limit at this slope; `None` without a limit or when not growing.
    pub hours_to_limit: Option<f64>,
}

/// Per-service summary: status and the key figures behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHealth {
    /// Railway service id.
    pub service_id: String,
    /// Railway service name.
    pub service: String,
    /// Worst severity among the service's findings.
    pub status: HealthStatus,
    /// A database (volume attached or database image): flat high memory there is a cache.
    pub is_database: bool,
    /// Status of the latest deployment, when the service has one.
    pub deployment_status: Option<DeploymentStatus>,
    /// CPU in vCPU; `None` without resource samples.
    pub cpu: Option<UsageFigures>,
    /// Memory in GB; `None` without resource samples.
    pub memory: Option<UsageFigures>,
    /// Memory growth fit; `None` when too few samples to fit.
    pub memory_trend: Option<TrendFigures>,
    /// Requests in the window; `None` when no HTTP stats exist for the service.
    pub requests: Option<u64>,
    /// 5xx share of the window's requests, percent.
    pub rate_5xx_pct: Option<f64>,
    /// 4xx share of the window's requests, percent.
    pub rate_4xx_pct: Option<f64>,
    /// p95 latency over the window, milliseconds.
    pub p95_ms: Option<f64>,
    /// HTTP figures come from a sample of the window's requests (see [`Sampling`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_sampled: Option<Sampling>,
    /// Start of the part of the window judged as the current state: the latest deployment's go-live
    /// when it falls inside the window (earlier data is context only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_since: Option<i64>,
    /// Checks that were skipped and why (no limit, too little traffic, …).
    pub notes: Vec<String>,
}

/// The outcome of one detection pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The window every service was judged over.
    pub window: TimeWindow,
    /// Sorted by severity (worst first), then service name, then kind.
    pub findings: Vec<Finding>,
    /// One entry per service of the architecture, in architecture order.
    pub services: Vec<ServiceHealth>,
}

impl Report {
    /// Findings at warning or critical severity.
    pub fn incidents(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_incident())
    }

    /// Ids of services with at least one incident, worst first, without duplicates.
    pub fn affected_services(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for f in self.incidents() {
            if !ids.contains(&f.service_id) {
                ids.push(f.service_id.clone());
            }
        }
        ids
    }

    /// Findings that are neither incidents nor recoveries.
    pub fn observations(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Observation)
    }

    /// Problems that cleared within the window.
    pub fn recovered(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Recovered)
    }

    /// Health of one service by id; `None` when it is not in the architecture.
    pub fn service(&self, service_id: &str) -> Option<&ServiceHealth> {
        self.services.iter().find(|s| s.service_id == service_id)
    }
}

/// Runs every rule over every service of `arch`. Services missing from `resources` or `http` are
/// judged on what exists, and the gap is noted in their [`ServiceHealth`].
///
/// Rules (levels in [`Thresholds`]):
/// - `deployment`: latest deployment `CRASHED` or `FAILED` → critical.
/// - `cpu` / `memory`: share of the limit, sustained (see `sustained_share`,
///   `sustained_tail_minutes`). Flat usage below the critical level is an observation unless
///   another incident on the same service (errors, latency, a crash, a trend, non-flat usage)
///   agrees, then a warning. No limit → skipped, with a note.
/// - `memory_trend`: least-squares slope with R² ≥ `memory_trend_min_r2`; severity by projected
///   time until the limit.
/// - `error_rate_5xx`: the window's rate (with `min_requests`, `min_error_requests`) and the rate
///   in the last `burst_minutes`; one finding, the worse of the two.
/// - `error_rate_4xx`: the window's rate, same minimums.
/// - `latency`: p95 at or above the level in `latency_sustained_share` of the buckets, with
///   `latency_min_requests`; evidence names the slowest endpoints.
pub fn detect(
    arch: &Architecture,
    resources: &ResourceReport,
    http: &HttpReport,
    t: &Thresholds,
) -> Report {
    detect_with(arch, resources, http, t, &Context::default())
}

/// What detection may know beyond the window: each service's normal over a longer period and its
/// recent deployments. Both come from one extra coarse Railway read; empty = judged without.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// Keyed by service id.
    pub baselines: BTreeMap<String, ServiceBaseline>,
    /// Newest first, keyed by service id.
    pub deployments: BTreeMap<String, Vec<DeploymentRecord>>,
}

/// [`detect`], plus baseline rules (a p95 at least `baseline_ratio` × the service's normal and
/// above `baseline_p95_floor_ms` is a regression; a service whose normal is above a threshold is
/// judged against its normal) and the suspect deployment of each incident.
pub fn detect_with(
    arch: &Architecture,
    resources: &ResourceReport,
    http: &HttpReport,
    t: &Thresholds,
    ctx: &Context,
) -> Report {
    let mut findings = Vec::new();
    let mut services = Vec::new();
    for svc in &arch.services {
        let (mut found, health) = evaluate_service(
            svc,
            resources.services.get(&svc.id),
            http.services.get(&svc.id),
            resources.window,
            t,
            ctx,
        );
        findings.append(&mut found);
        services.push(health);
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.service.cmp(&b.service))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    Report {
        window: resources.window,
        findings,
        services,
    }
}

fn evaluate_service(
    svc: &Service,
    usage: Option<&ResourceUsage>,
    http: Option<&HttpStats>,
    window: TimeWindow,
    t: &Thresholds,
    ctx: &Context,
) -> (Vec<Finding>, ServiceHealth) {
    let current = current_since(svc, window);
    let mut health = ServiceHealth {
        service_id: svc.id.clone(),
        service: svc.name.clone(),
        status: HealthStatus::Healthy,
        is_database: svc.is_database,
        deployment_status: svc.latest_deployment.as_ref().map(|d| d.status.clone()),
        cpu: None,
        memory: None,
        memory_trend: None,
        requests: None,
        rate_5xx_pct: None,
        rate_4xx_pct: None,
        p95_ms: None,
        http_sampled: None,
        current_since: current.map(|(ts, _)| ts),
        notes: Vec::new(),
    };
    let base = FindingBase { svc, window };
    let mut firm: Vec<Finding> = Vec::new();

    if let Some(f) = deployment_rule(&base) {
        firm.push(f);
    }

    let baseline = ctx.baselines.get(&svc.id);
    match http {
        Some(stats) => {
            let sampling = match stats.source {
                HttpStatsSource::Logs {
                    rows,
                    sampled: true,
                    covered_seconds,
                } => Some(Sampling {
                    rows,
                    covered_seconds,
                    window_seconds: stats.window.seconds(),
                }),
                _ => None,
            };
            health.http_sampled = sampling;
            let cur = match current {
                Some((since, _)) => slice_http(stats, since, stats.window.end),
                None => stats.clone(),
            };
            health.requests = Some(cur.counts.total());
            if cur.counts.total() > 0 {
                health.rate_5xx_pct = Some(cur.rate_5xx() * 100.0);
                health.rate_4xx_pct = Some(cur.rate_4xx() * 100.0);
            }
            health.p95_ms = cur.latency_ms.map(|l| l.p95).or_else(|| {
                percentile(
                    &cur.latency_timeline
                        .iter()
                        .map(|l| l.ms.p95)
                        .collect::<Vec<_>>(),
                    0.5,
                )
            });
            let mut found = http_rules(&base, &cur, t, baseline, &mut health.notes);
            for f in &mut found {
                recover_http(f, &cur, t);
            }
            // Before the latest deployment: context. What was wrong then and is not now has
            // recovered with that deployment, if the current deployment saw enough traffic.
            if let Some((since, dep)) = current {
                let before = slice_http(stats, stats.window.start, since);
                let mut ignored = Vec::new();
                let earlier = http_rules(&base, &before, t, baseline, &mut ignored);
                found.extend(recovered_by_deployment(
                    earlier,
                    &found,
                    cur.counts.total() >= t.recovery_min_requests,
                    since,
                    dep,
                ));
            }
            if let Some(sampling) = sampling {
                for f in &mut found {
                    f.sampled = Some(sampling);
                    f.evidence.push_str(&format!(
                        " (sampled: newest {} requests, covering {} of {} min)",
                        fmt_count(sampling.rows),
                        sampling.covered_seconds / 60,
                        sampling.window_seconds / 60
                    ));
                }
            }
            firm.extend(found);
        }
        None if !svc.is_database => health
            .notes
            .push("no HTTP stats: error and latency checks skipped".into()),
        None => {}
    }

    let mut share_candidates: Vec<ShareCandidate> = Vec::new();
    match usage {
        Some(u) => {
            let cur = match current {
                Some((since, _)) => u.within(TimeWindow {
                    start: since,
                    end: window.end,
                }),
                None => u.clone(),
            };
            health.cpu = figures(&cur.cpu, cur.cpu_limit);
            health.memory = figures(&cur.memory_gb, cur.memory_limit_gb);
            for res in [Resource::Cpu, Resource::Memory] {
                let (samples, limit) = match res {
                    Resource::Cpu => (&cur.cpu, cur.cpu_limit),
                    Resource::Memory => (&cur.memory_gb, cur.memory_limit_gb),
                };
                let mut c = share_rule(&base, res, samples, limit, t, &mut health.notes);
                if let Some(c) = &mut c {
                    recover_share(c, samples, limit, res, window, t);
                }
                let earlier = match current {
                    Some((since, dep)) if samples.len() >= t.min_samples => {
                        let old = match res {
                            Resource::Cpu => &u.cpu,
                            Resource::Memory => &u.memory_gb,
                        };
                        let old: Vec<Sample> =
                            old.iter().copied().filter(|s| s.ts < since).collect();
                        let mut ignored = Vec::new();
                        share_rule(&base, res, &old, limit, t, &mut ignored)
                            .filter(|o| o.finding.is_incident() && c.is_none())
                            .map(|o| (o, since, dep))
                    }
                    _ => None,
                };
                if let Some(c) = c {
                    share_candidates.push(c);
                } else if let Some((o, since, dep)) = earlier {
                    firm.extend(recovered_by_deployment(
                        vec![o.finding],
                        &[],
                        true,
                        since,
                        dep,
                    ));
                }
            }
            let (trend, finding) = memory_trend_rule(&base, &cur, t, &mut health.notes);
            health.memory_trend = trend;
            firm.extend(finding);
        }
        None => health
            .notes
            .push("no CPU/memory samples: resource checks skipped".into()),
    }

    // Flat, steady usage short of saturation is a capacity observation, unless something else on
    // the same service is wrong too (errors, latency, a crash or restart, a trend, non-flat usage):
    // then the usage is probably part of the problem. Saturation (CPU throttling, memory at the
    // OOM line) is an incident on its own.
    let corroborated_by_firm = firm.iter().any(Finding::is_incident);
    let any_unflat_share = share_candidates
        .iter()
        .any(|c| !c.flat && c.finding.is_incident());
    let mut found = firm;
    for c in share_candidates {
        let mut f = c.finding;
        if c.flat && f.is_incident() && !c.saturated {
            if corroborated_by_firm || any_unflat_share {
                f.evidence.push_str("; other signals on this service agree");
                f.severity = f.severity.min(Severity::Warning);
                if f.severity == Severity::Warning {
                    f.threshold = f.threshold.min(c.warning);
                }
            } else {
                f.severity = Severity::Observation;
                f.evidence
                    .push_str("; steady, short of saturation, no other signal on this service");
            }
        }
        found.push(f);
    }

    for f in found.iter_mut().filter(|f| f.is_incident()) {
        f.suspect_deployment = suspect_deployment(svc, f, ctx.deployments.get(&svc.id), window, t);
        if let Some(d) = &f.suspect_deployment {
            f.evidence.push_str(&format!(
                "; began {} min after deployment {}{}",
                fmt_num(d.minutes_before_onset.round()),
                d.commit_hash
                    .as_deref()
                    .map(|c| c.chars().take(7).collect::<String>())
                    .unwrap_or_else(|| short_id(&d.id)),
                d.commit_message
                    .as_deref()
                    .map(|m| format!(" \"{}\"", m.lines().next().unwrap_or("")))
                    .unwrap_or_default()
            ));
        }
    }

    if let Some(worst) = found.iter().map(|f| f.severity).max() {
        health.status = worst.into();
    }
    (found, health)
}

/// The latest deployment, when it went live inside the window: the current state starts there.
/// A failed build never served, so it does not reset anything.
fn current_since(svc: &Service, window: TimeWindow) -> Option<(i64, &Deployment)> {
    let dep = svc.latest_deployment.as_ref()?;
    if !matches!(
        dep.status,
        DeploymentStatus::Success | DeploymentStatus::Crashed | DeploymentStatus::Sleeping
    ) {
        return None;
    }
    let ts = railway::timefmt::unix(&dep.created_at)?;
    (ts > window.start && ts < window.end).then_some((ts, dep))
}

/// `[from, to)` of the stats; counts recomputed from the buckets. A window-wide figure that
/// cannot be cut (the aggregated whole-window p95) is dropped unless the cut is the whole window.
fn slice_http(s: &HttpStats, from: i64, to: i64) -> HttpStats {
    if from <= s.window.start && to >= s.window.end {
        return s.clone();
    }
    HttpStats {
        latency_ms: None,
        ..s.within(TimeWindow {
            start: from,
            end: to,
        })
    }
}

/// Incidents of the part before the latest deployment that the current deployment does not have:
/// `recovered`, cleared when the deployment went live.
fn recovered_by_deployment(
    earlier: Vec<Finding>,
    now: &[Finding],
    enough_traffic: bool,
    since: i64,
    dep: &Deployment,
) -> Vec<Finding> {
    if !enough_traffic {
        return Vec::new();
    }
    earlier
        .into_iter()
        .filter(|f| f.is_incident() && !now.iter().any(|n| n.kind == f.kind && n.is_incident()))
        .map(|mut f| {
            f.severity = Severity::Recovered;
            f.cleared_at = Some(since);
            f.onset = None;
            f.evidence = format!(
                "recovered: clean since deployment {} went live at {}; before it: {}",
                short_id(&dep.id),
                fmt_hm(since),
                f.evidence
            );
            f
        })
        .collect()
}

/// Bucket width of a timeline: the smallest gap between buckets, 60 s when unknown.
fn bucket_step(ts: impl Iterator<Item = i64>) -> i64 {
    let ts: Vec<i64> = ts.collect();
    ts.windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0)
        .min()
        .unwrap_or(60)
}

/// First sustained crossing: the first bad point from which at least half of the rest is bad.
/// `None` when the problem is already there at the first point (it began before the window).
fn onset(points: &[(i64, bool)]) -> Option<i64> {
    let n = points.len();
    let mut bad_from = vec![0usize; n + 1];
    for i in (0..n).rev() {
        bad_from[i] = bad_from[i + 1] + usize::from(points[i].1);
    }
    let i = (0..n).find(|&i| points[i].1 && bad_from[i] * 2 >= n - i)?;
    (i > 0).then(|| points[i].0)
}

/// An HTTP incident whose last `recovery_minutes` are clean, with enough traffic to say so, has
/// recovered. Sets the onset of incidents that have not.
fn recover_http(f: &mut Finding, cur: &HttpStats, t: &Thresholds) {
    let bad: Vec<(i64, bool)> = match f.kind {
        FindingKind::ErrorRate5xx => cur
            .timeline
            .iter()
            .map(|b| {
                let total = b.counts.total();
                let bad = b.counts.s5xx >= 2
                    && total > 0
                    && b.counts.s5xx as f64 / total as f64 * 100.0 >= t.rate_5xx_warning_pct;
                (b.ts, bad)
            })
            .collect(),
        FindingKind::Latency => {
            let level = f.threshold.min(t.p95_warning_ms);
            cur.latency_timeline
                .iter()
                .map(|l| (l.ts, l.ms.p95 >= level))
                .collect()
        }
        _ => return,
    };
    if bad.is_empty() || !f.is_incident() {
        return;
    }
    f.onset = onset(&bad);
    let step = bucket_step(bad.iter().map(|b| b.0));
    let Some(last_bad) = bad.iter().filter(|b| b.1).map(|b| b.0).max() else {
        return;
    };
    let cleared = last_bad + step;
    let clean_requests: u64 = cur
        .timeline
        .iter()
        .filter(|b| b.ts >= cleared)
        .map(|b| b.counts.total())
        .sum();
    if cur.window.end - cleared >= t.recovery_minutes * 60
        && clean_requests >= t.recovery_min_requests
    {
        f.severity = Severity::Recovered;
        f.cleared_at = Some(cleared);
        f.evidence = format!(
            "recovered at {}: clean for {} min since ({} requests); before: {}",
            fmt_hm(cleared),
            (cur.window.end - cleared) / 60,
            fmt_count(clean_requests),
            f.evidence
        );
    }
}

/// A CPU/memory incident whose last `recovery_minutes` of samples are all clearly below the
/// warning level has recovered. Sets the onset of incidents that have not.
fn recover_share(
    c: &mut ShareCandidate,
    samples: &[Sample],
    limit: Option<f64>,
    res: Resource,
    window: TimeWindow,
    t: &Thresholds,
) {
    let Some(limit) = limit.filter(|l| *l > 0.0) else {
        return;
    };
    if !c.finding.is_incident() {
        return;
    }
    let warn = match res {
        Resource::Cpu => t.cpu_warning_pct,
        Resource::Memory => t.memory_warning_pct,
    } - t.hysteresis_pct;
    let mut ordered = samples.to_vec();
    ordered.sort_by_key(|s| s.ts);
    let points: Vec<(i64, bool)> = ordered
        .iter()
        .map(|s| (s.ts, s.value / limit * 100.0 >= warn))
        .collect();
    c.finding.onset = onset(&points);
    let tail_start = window.end - t.recovery_minutes * 60;
    let tail: Vec<&(i64, bool)> = points.iter().filter(|p| p.0 >= tail_start).collect();
    if tail.len() < 2 || tail.iter().any(|p| p.1) {
        return;
    }
    let step = bucket_step(points.iter().map(|p| p.0));
    let Some(last_bad) = points.iter().filter(|p| p.1).map(|p| p.0).max() else {
        return;
    };
    let cleared = last_bad + step;
    c.finding.severity = Severity::Recovered;
    c.finding.cleared_at = Some(cleared);
    c.finding.onset = None;
    c.finding.evidence = format!(
        "recovered at {}: below {}% for {} min; before: {}",
        fmt_hm(cleared),
        fmt_num(warn + t.hysteresis_pct),
        (window.end - cleared) / 60,
        c.finding.evidence
    );
}

/// The newest deployment that went live at most `suspect_deployment_minutes` before the onset.
fn suspect_deployment(
    svc: &Service,
    f: &Finding,
    history: Option<&Vec<DeploymentRecord>>,
    window: TimeWindow,
    t: &Thresholds,
) -> Option<SuspectDeployment> {
    let onset = f.onset?;
    let mut deps: Vec<DeploymentRecord> = history.cloned().unwrap_or_default();
    if let Some(d) = &svc.latest_deployment
        && !deps.iter().any(|h| h.id == d.id)
        && let Some(ts) = railway::timefmt::unix(&d.created_at)
    {
        deps.push(DeploymentRecord {
            id: d.id.clone(),
            status: d.status.clone(),
            created_at: ts,
            commit_hash: d.commit_hash.clone(),
            commit_message: None,
        });
    }
    // A failed build or one still building never served traffic.
    deps.retain(|d| {
        !matches!(
            d.status,
            DeploymentStatus::Failed
                | DeploymentStatus::Building
                | DeploymentStatus::Queued
                | DeploymentStatus::Initializing
                | DeploymentStatus::Waiting
                | DeploymentStatus::Skipped
                | DeploymentStatus::NeedsApproval
        )
    });
    deps.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    let max_gap = (t.suspect_deployment_minutes * 60.0) as i64;
    let idx = deps.iter().position(|d| d.created_at <= onset)?;
    let d = &deps[idx];
    if onset - d.created_at > max_gap || d.created_at < window.start - max_gap {
        return None;
    }
    Some(SuspectDeployment {
        id: d.id.clone(),
        commit_hash: d.commit_hash.clone(),
        commit_message: d.commit_message.clone(),
        created_at: d.created_at,
        minutes_before_onset: round1((onset - d.created_at) as f64 / 60.0),
        previous_commit_hash: deps.get(idx + 1).and_then(|p| p.commit_hash.clone()),
    })
}

struct FindingBase<'a> {
    svc: &'a Service,
    window: TimeWindow,
}

/// What a rule measured, as a finding reports it.
struct Measurement<'a> {
    metric: &'a str,
    value: f64,
    threshold: f64,
    unit: &'a str,
    window: TimeWindow,
}

impl FindingBase<'_> {
    fn finding(
        &self,
        kind: FindingKind,
        severity: Severity,
        measured: Measurement<'_>,
        evidence: String,
    ) -> Finding {
        let Measurement {
            metric,
            value,
            threshold,
            unit,
            window,
        } = measured;
        Finding {
            service_id: self.svc.id.clone(),
            service: self.svc.name.clone(),
            kind,
            severity,
            metric: metric.to_owned(),
            value,
            threshold,
            unit: unit.to_owned(),
            window,
            evidence,
            fingerprint: fingerprint(&self.svc.id, kind),
            cleared_at: None,
            onset: None,
            sampled: None,
            baseline: None,
            suspect_deployment: None,
        }
    }
}

fn deployment_rule(base: &FindingBase<'_>) -> Option<Finding> {
    let dep = base.svc.latest_deployment.as_ref()?;
    if !dep.status.is_broken() {
        return None;
    }
    let status = match &dep.status {
        DeploymentStatus::Crashed => "CRASHED".to_owned(),
        DeploymentStatus::Failed => "FAILED".to_owned(),
        other => format!("{other:?}"),
    };
    let commit = dep
        .commit_hash
        .as_deref()
        .map(|c| format!(", commit {}", c.chars().take(7).collect::<String>()))
        .unwrap_or_default();
    let evidence = format!(
        "latest deployment {} is {status} (created {}{commit})",
        short_id(&dep.id),
        dep.created_at
    );
    Some(base.finding(
        FindingKind::Deployment,
        Severity::Critical,
        Measurement {
            metric: "deployment_status",
            value: 1.0,
            threshold: 0.0,
            unit: "status",
            window: base.window,
        },
        evidence,
    ))
}

fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

fn figures(samples: &[Sample], limit: Option<f64>) -> Option<UsageFigures> {
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let median = percentile(&values, 0.5)?;
    let peak = values.iter().copied().fold(f64::MIN, f64::max);
    let last = samples
        .iter()
        .max_by_key(|s| s.ts)
        .map(|s| s.value)
        .unwrap_or(median);
    let limit = limit.filter(|l| *l > 0.0);
    Some(UsageFigures {
        samples: values.len(),
        median,
        peak,
        last,
        limit,
        median_pct: limit.map(|l| median / l * 100.0),
        peak_pct: limit.map(|l| peak / l * 100.0),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Resource {
    Cpu,
    Memory,
}

impl Resource {
    fn label(self) -> &'static str {
        match self {
            Self::Cpu => "CPU",
            Self::Memory => "memory",
        }
    }

    fn limit_text(self, limit: f64) -> String {
        match self {
            Self::Cpu => format!("{} vCPU", fmt_num(limit)),
            Self::Memory => fmt_gb(limit),
        }
    }
}

struct ShareCandidate {
    finding: Finding,
    flat: bool,
    /// At or above the saturation level: throttled CPU, memory at the OOM line.
    saturated: bool,
    warning: f64,
}

/// Sustained share of the limit: a level counts when at least `sustained_share` of the samples
/// reach it, or when every sample of the last `sustained_tail_minutes` does.
fn share_rule(
    base: &FindingBase<'_>,
    res: Resource,
    samples: &[Sample],
    limit: Option<f64>,
    t: &Thresholds,
    notes: &mut Vec<String>,
) -> Option<ShareCandidate> {
    let Some(limit) = limit.filter(|l| *l > 0.0) else {
        notes.push(format!(
            "no {} limit reported: share-of-limit checks skipped",
            res.label()
        ));
        return None;
    };
    if samples.len() < t.min_samples {
        notes.push(format!(
            "{} {} samples (< {}): share-of-limit checks skipped",
            samples.len(),
            res.label(),
            t.min_samples
        ));
        return None;
    }
    let mut ordered: Vec<Sample> = samples.to_vec();
    ordered.sort_by_key(|s| s.ts);
    let shares: Vec<f64> = ordered.iter().map(|s| s.value / limit * 100.0).collect();
    let tail_start = base.window.end - t.sustained_tail_minutes * 60;
    let tail: Vec<f64> = ordered
        .iter()
        .zip(&shares)
        .filter(|(s, _)| s.ts >= tail_start)
        .map(|(_, v)| *v)
        .collect();
    let level = sustained_level(&shares, t.sustained_share)?;
    let tail_min = if tail.len() >= 2 {
        tail.iter().copied().fold(f64::MAX, f64::min)
    } else {
        f64::MIN
    };

    let (warn, crit, sat) = match res {
        Resource::Cpu => (t.cpu_warning_pct, t.cpu_critical_pct, t.cpu_saturation_pct),
        Resource::Memory => (
            t.memory_warning_pct,
            t.memory_critical_pct,
            t.memory_saturation_pct,
        ),
    };
    // Hysteresis: a level within `hysteresis_pct` below a threshold counts as reaching it, so a
    // series sitting on a threshold gets one verdict whatever its noise.
    let h = t.hysteresis_pct;
    let reaches = |thr: f64| level + h >= thr || tail_min + h >= thr;
    let (severity, threshold) = if reaches(crit) {
        (Severity::Critical, crit)
    } else if reaches(warn) {
        (Severity::Warning, warn)
    } else {
        return None;
    };
    let saturated = level + h >= sat;

    let p5 = percentile(&shares, 0.05)?;
    let p95 = percentile(&shares, 0.95)?;
    let peak = shares.iter().copied().fold(f64::MIN, f64::max);
    let flat = p95 - p5 <= t.flat_band_pct;
    let above = share_at_or_above(&shares, threshold - h);
    let by_share = level + h >= threshold;
    let value = if by_share {
        level.max(if tail_min + h >= threshold {
            tail_min
        } else {
            f64::MIN
        })
    } else {
        tail_min
    };
    let how = if by_share {
        format!(
            "at or above {}% in {:.0}% of {} samples",
            fmt_num(threshold),
            above * 100.0,
            shares.len()
        )
    } else {
        format!(
            "every sample of the last {} min at or above {}%",
            t.sustained_tail_minutes,
            fmt_num(threshold)
        )
    };
    let shape = if flat {
        format!("flat {:.0}–{:.0}%", p5, p95)
    } else {
        format!(
            "median {:.0}%, peak {:.0}%",
            percentile(&shares, 0.5)?,
            peak
        )
    };
    let evidence = format!(
        "{} {:.0}% of {} limit, {how} ({shape})",
        res.label(),
        value,
        res.limit_text(limit)
    );
    let (kind, metric) = match res {
        Resource::Cpu => (FindingKind::Cpu, "cpu_share_of_limit"),
        Resource::Memory => (FindingKind::Memory, "memory_share_of_limit"),
    };
    Some(ShareCandidate {
        finding: base.finding(
            kind,
            severity,
            Measurement {
                metric,
                value: round1(value),
                threshold,
                unit: "%",
                window: base.window,
            },
            evidence,
        ),
        flat,
        saturated,
        warning: warn,
    })
}

/// A steady upward memory slope is a leak even below the thresholds: least squares over the
/// window, R² for fit quality, severity by projected time until the limit.
fn memory_trend_rule(
    base: &FindingBase<'_>,
    u: &ResourceUsage,
    t: &Thresholds,
    notes: &mut Vec<String>,
) -> (Option<TrendFigures>, Option<Finding>) {
    if u.memory_gb.len() < t.min_samples {
        return (None, None);
    }
    let Some(first_ts) = u.memory_gb.iter().map(|s| s.ts).min() else {
        return (None, None);
    };
    let points: Vec<(f64, f64)> = u
        .memory_gb
        .iter()
        .map(|s| ((s.ts - first_ts) as f64 / 3600.0, s.value * MB_PER_GB))
        .collect();
    let Some(fit) = linear_fit(&points) else {
        return (None, None);
    };
    let last_x = points.iter().map(|p| p.0).fold(f64::MIN, f64::max);
    let current_mb = fit.at(last_x);
    let limit_mb = u
        .memory_limit_gb
        .filter(|l| *l > 0.0)
        .map(|l| l * MB_PER_GB);
    let hours_to_limit = match limit_mb {
        Some(limit) if fit.slope > 0.0 => Some(((limit - current_mb) / fit.slope).max(0.0)),
        _ => None,
    };
    let trend = TrendFigures {
        slope_mb_per_hour: round1(fit.slope),
        r2: round2(fit.r2),
        hours_to_limit,
    };
    let Some(limit_mb) = limit_mb else {
        notes.push("no memory limit reported: memory trend not projected".into());
        return (Some(trend), None);
    };
    let Some(hours) = hours_to_limit else {
        return (Some(trend), None);
    };
    if fit.r2 < t.memory_trend_min_r2
        || fit.slope / limit_mb * 100.0 < t.memory_trend_min_pct_per_hour
    {
        return (Some(trend), None);
    }
    let (severity, horizon) = if hours <= t.memory_trend_critical_hours {
        (Severity::Critical, t.memory_trend_critical_hours)
    } else if hours <= t.memory_trend_warning_hours {
        (Severity::Warning, t.memory_trend_warning_hours)
    } else if hours <= t.memory_trend_observation_hours {
        (Severity::Observation, t.memory_trend_observation_hours)
    } else {
        return (Some(trend), None);
    };
    // The slope that would reach the limit exactly at the horizon: value >= threshold <=> the
    // projected time is within the horizon, so the pair reads like every other finding.
    let threshold = ((limit_mb - current_mb) / horizon).max(0.0);
    let evidence = format!(
        "memory {:.0}% of {} limit, rising {} MB/h (R² {:.2}), full in {}",
        current_mb / limit_mb * 100.0,
        fmt_gb(limit_mb / MB_PER_GB),
        fmt_num(round1(fit.slope)),
        fit.r2,
        fmt_hours(hours)
    );
    let finding = base.finding(
        FindingKind::MemoryTrend,
        severity,
        Measurement {
            metric: "memory_growth_mb_per_hour",
            value: round1(fit.slope),
            threshold: round1(threshold),
            unit: "MB/h",
            window: base.window,
        },
        evidence,
    );
    (Some(trend), Some(finding))
}

fn http_rules(
    base: &FindingBase<'_>,
    stats: &HttpStats,
    t: &Thresholds,
    baseline: Option<&ServiceBaseline>,
    notes: &mut Vec<String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let total = stats.counts.total();
    if total == 0 {
        notes.push("no HTTP traffic in the window: error and latency checks skipped".into());
        return out;
    }
    let enough = total >= t.min_requests;
    if !enough {
        notes.push(format!(
            "{total} requests in the window (< {}): error rates not judged",
            t.min_requests
        ));
    }
    if let Some(f) = rate_5xx_rule(base, stats, t, enough) {
        out.push(f);
    }
    out.extend(client_error_rules(base, stats, t));
    if total >= t.latency_min_requests {
        out.extend(latency_rule(base, stats, t, baseline));
    } else if stats.latency_ms.is_some() || !stats.latency_timeline.is_empty() {
        notes.push(format!(
            "{total} requests in the window (< {}): latency not judged",
            t.latency_min_requests
        ));
    }
    out
}

/// 4xx on real routes (401/403/409/422/429 … on endpoints the service serves) can be an incident;
/// probes of paths no application serves are separated out first and reported as an observation
/// with their top paths. Probe counts come from the request rows read; their share of those rows
/// is applied to the 4xx total when the rows are a subset.
fn client_error_rules(base: &FindingBase<'_>, stats: &HttpStats, t: &Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    let total = stats.counts.total();
    let p = &stats.probes;
    let probe_share = if p.rows_4xx == 0 {
        0.0
    } else {
        p.probe_4xx as f64 / p.rows_4xx as f64
    };
    let probes = ((stats.counts.s4xx as f64 * probe_share).round() as u64).min(stats.counts.s4xx);
    let real_4xx = stats.counts.s4xx - probes;
    let real_total = total - probes;
    let real_rate = if real_total == 0 {
        0.0
    } else {
        real_4xx as f64 / real_total as f64 * 100.0
    };
    let probe_pct = if total == 0 {
        0.0
    } else {
        probes as f64 / total as f64 * 100.0
    };
    if real_total >= t.min_requests
        && real_4xx >= t.min_error_requests
        && let Some((severity, threshold)) =
            level(real_rate, t.rate_4xx_warning_pct, t.rate_4xx_critical_pct)
    {
        let probe_note = if probes > 0 {
            format!(", {} scanner probes left out", fmt_count(probes))
        } else {
            String::new()
        };
        let evidence = format!(
            "4xx {}% of {} requests ({} failed){probe_note}{}",
            fmt_pct(real_rate),
            fmt_count(real_total),
            fmt_count(real_4xx),
            top_failing(stats, t, |e| {
                if railway::http::is_probe_path(&e.path) {
                    0
                } else {
                    e.errors_4xx
                }
            })
        );
        out.push(base.finding(
            FindingKind::ErrorRate4xx,
            severity,
            Measurement {
                metric: "rate_4xx",
                value: round2(real_rate),
                threshold,
                unit: "%",
                window: stats.window,
            },
            evidence,
        ));
    }
    if probes >= t.min_error_requests && probe_pct >= t.scanner_observation_pct {
        let top: Vec<String> = p
            .top_paths
            .iter()
            .take(t.evidence_endpoints.max(3))
            .map(|x| format!("{} ×{}", x.path, x.requests))
            .collect();
        let evidence = format!(
            "scanner/bot probes: {}% of {} requests ({}) answered 4xx on paths the service does \
             not serve; top: {}; real-route 4xx {}% — not an incident",
            fmt_pct(probe_pct),
            fmt_count(total),
            fmt_count(probes),
            top.join(", "),
            fmt_pct(real_rate)
        );
        out.push(base.finding(
            FindingKind::Scanners,
            Severity::Observation,
            Measurement {
                metric: "probe_share",
                value: round2(probe_pct),
                threshold: t.scanner_observation_pct,
                unit: "%",
                window: stats.window,
            },
            evidence,
        ));
    }
    out
}

fn level(value: f64, warning: f64, critical: f64) -> Option<(Severity, f64)> {
    if value >= critical {
        Some((Severity::Critical, critical))
    } else if value >= warning {
        Some((Severity::Warning, warning))
    } else {
        None
    }
}

/// Whole-window 5xx rate, and the rate in the last `burst_minutes`, which a long quiet window
/// would otherwise dilute. One finding per service (one fingerprint): the worse of the two.
fn rate_5xx_rule(
    base: &FindingBase<'_>,
    stats: &HttpStats,
    t: &Thresholds,
    enough: bool,
) -> Option<Finding> {
    let total = stats.counts.total();
    let window_rate = stats.rate_5xx() * 100.0;
    let whole = if enough && stats.counts.s5xx >= t.min_error_requests {
        level(window_rate, t.rate_5xx_warning_pct, t.rate_5xx_critical_pct)
    } else {
        None
    };

    let burst_window = TimeWindow::last_minutes(stats.window.end, t.burst_minutes);
    let (b_total, b_5xx) = stats
        .timeline
        .iter()
        .filter(|b| b.ts >= burst_window.start && b.ts < burst_window.end)
        .fold((0u64, 0u64), |(n, e), b| {
            (n + b.counts.total(), e + b.counts.s5xx)
        });
    let burst_rate = if b_total == 0 {
        0.0
    } else {
        b_5xx as f64 / b_total as f64 * 100.0
    };
    let burst = if b_total >= t.burst_min_requests && b_5xx >= t.min_error_requests {
        level(
            burst_rate,
            t.burst_5xx_warning_pct,
            t.burst_5xx_critical_pct,
        )
    } else {
        None
    };

    let top = top_failing(stats, t, |e| e.errors_5xx);
    let whole_text = format!(
        "{}% of {} requests over the window",
        fmt_pct(window_rate),
        fmt_count(total)
    );
    let use_burst = match (whole, burst) {
        (None, None) => return None,
        (Some(_), None) => false,
        (None, Some(_)) => true,
        (Some((ws, _)), Some((bs, _))) => bs > ws,
    };
    if let (false, Some((sev, thr))) = (use_burst, whole) {
        let burst_note = if b_total > 0 {
            format!(
                ", {}% in the last {} min",
                fmt_pct(burst_rate),
                t.burst_minutes
            )
        } else {
            String::new()
        };
        let evidence = format!(
            "5xx {whole_text} ({} failed){burst_note}{top}",
            fmt_count(stats.counts.s5xx)
        );
        return Some(base.finding(
            FindingKind::ErrorRate5xx,
            sev,
            Measurement {
                metric: "rate_5xx",
                value: round2(window_rate),
                threshold: thr,
                unit: "%",
                window: stats.window,
            },
            evidence,
        ));
    }
    let (sev, thr) = burst?;
    let evidence = format!(
        "5xx burst: {}% of {} requests in the last {} min ({b_5xx} failed), {whole_text}{top}",
        fmt_pct(burst_rate),
        fmt_count(b_total),
        t.burst_minutes,
    );
    Some(base.finding(
        FindingKind::ErrorRate5xx,
        sev,
        Measurement {
            metric: "rate_5xx_recent",
            value: round2(burst_rate),
            threshold: thr,
            unit: "%",
            window: burst_window,
        },
        evidence,
    ))
}

fn top_failing(
    stats: &HttpStats,
    t: &Thresholds,
    errors: impl Fn(&railway::model::EndpointStat) -> u64,
) -> String {
    let mut eps: Vec<_> = stats.top_failing.iter().filter(|e| errors(e) > 0).collect();
    eps.sort_by_key(|e| std::cmp::Reverse(errors(e)));
    let parts: Vec<String> = eps
        .iter()
        .take(t.evidence_endpoints)
        .map(|e| format!("{} {} ×{}", e.method, e.path, errors(e)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("; top: {}", parts.join(", "))
    }
}

/// p95 over the threshold in at least `latency_sustained_share` of the buckets that saw traffic.
fn latency_rule(
    base: &FindingBase<'_>,
    stats: &HttpStats,
    t: &Thresholds,
    baseline: Option<&ServiceBaseline>,
) -> Option<Finding> {
    let buckets: Vec<f64> = stats
        .latency_timeline
        .iter()
        .map(|s| s.ms.p95)
        .filter(|v| *v > 0.0)
        .collect();
    let (value, how) = if buckets.is_empty() {
        let p95 = stats.latency_ms?.p95;
        (p95, "over the window".to_owned())
    } else {
        (
            sustained_level(&buckets, t.latency_sustained_share)?,
            String::new(),
        )
    };
    let absolute = level(value, t.p95_warning_ms, t.p95_critical_ms);
    let normal = baseline
        .and_then(|b| b.p95_ms.map(|m| (m, b.period_seconds)))
        .filter(|(m, _)| *m > 0.0);
    let mut against_baseline = None;
    let (severity, threshold) = match (absolute, normal) {
        (abs, None) => abs?,
        (abs, Some((median, period))) => {
            let ratio = value / median;
            against_baseline = Some(BaselineComparison {
                median: median.round(),
                ratio: round1(ratio),
                period_seconds: period,
            });
            let regression = ratio >= t.baseline_ratio && value >= t.baseline_p95_floor_ms;
            if median >= t.p95_warning_ms {
                // Slow by nature: judged against its own normal, not flagged forever.
                match (regression, abs) {
                    (true, Some(a)) => a,
                    (true, None) => (Severity::Warning, (median * t.baseline_ratio).round()),
                    (false, Some(_)) => {
                        (Severity::Observation, (median * t.baseline_ratio).round())
                    }
                    (false, None) => return None,
                }
            } else {
                match (abs, regression) {
                    (Some(a), _) => a,
                    (None, true) => (Severity::Warning, (median * t.baseline_ratio).round()),
                    (None, false) => return None,
                }
            }
        }
    };
    let how = if how.is_empty() {
        format!(
            "at or above {} in {:.0}% of {} buckets",
            fmt_ms(threshold),
            share_at_or_above(&buckets, threshold) * 100.0,
            buckets.len()
        )
    } else {
        how
    };
    let window_p95 = stats
        .latency_ms
        .map(|l| format!(", window p95 {}", fmt_ms(l.p95)))
        .unwrap_or_default();
    let slowest: Vec<String> = stats
        .slowest
        .iter()
        .filter(|e| e.p95_ms.is_some())
        .take(t.evidence_endpoints)
        .map(|e| {
            format!(
                "{} {} p95 {} ×{}",
                e.method,
                e.path,
                fmt_ms(e.p95_ms.unwrap_or(0.0)),
                e.requests
            )
        })
        .collect();
    let slowest = if slowest.is_empty() {
        String::new()
    } else {
        format!("; slowest: {}", slowest.join(", "))
    };
    let vs_normal = match &against_baseline {
        Some(b) => format!(
            ", {}× its {} median ({}){}",
            fmt_num(b.ratio),
            fmt_period(b.period_seconds),
            fmt_ms(b.median),
            if severity == Severity::Observation {
                ": its normal is above the threshold, judged against it"
            } else {
                ""
            }
        ),
        None => String::new(),
    };
    let evidence = format!(
        "p95 {}{vs_normal} {how}{window_p95}{slowest}",
        fmt_ms(value)
    );
    let mut f = base.finding(
        FindingKind::Latency,
        severity,
        Measurement {
            metric: "p95_ms",
            value: value.round(),
            threshold,
            unit: "ms",
            window: stats.window,
        },
        evidence,
    );
    f.baseline = against_baseline;
    Some(f)
}

pub(crate) fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub(crate) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// `2`, `0.5`, `1.5`: no trailing zeros.
pub(crate) fn fmt_num(v: f64) -> String {
    let s = format!("{:.2}", v);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub(crate) fn fmt_gb(gb: f64) -> String {
    if gb < 1.0 {
        format!("{:.0} MB", gb * MB_PER_GB)
    } else {
        format!("{} GB", fmt_num(gb))
    }
}

pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", fmt_num((ms / 100.0).round() / 10.0))
    } else {
        format!("{ms:.0} ms")
    }
}

pub(crate) fn fmt_pct(pct: f64) -> String {
    if pct >= 10.0 {
        format!("{pct:.0}")
    } else {
        fmt_num((pct * 10.0).round() / 10.0)
    }
}

pub(crate) fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `24 h`, `7 d`.
fn fmt_period(seconds: i64) -> String {
    if seconds >= 2 * 86_400 && seconds % 86_400 == 0 {
        format!("{} d", seconds / 86_400)
    } else {
        format!("{} h", (seconds as f64 / 3600.0).round())
    }
}

/// `09:42 UTC`.
pub(crate) fn fmt_hm(ts: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => format!("{:02}:{:02} UTC", t.hour(), t.minute()),
        Err(_) => ts.to_string(),
    }
}

pub(crate) fn fmt_hours(h: f64) -> String {
    if h < 1.0 {
        format!("~{:.0} min", (h * 60.0).max(1.0))
    } else if h < 48.0 {
        format!("~{:.0} h", h)
    } else {
        format!("~{:.0} d", h / 24.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_is_compact() {
        assert_eq!(fmt_num(2.0), "2");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_gb(1.0), "1 GB");
        assert_eq!(fmt_gb(0.512), "512 MB");
        assert_eq!(fmt_ms(4231.5), "4.2 s");
        assert_eq!(fmt_ms(87.2), "87 ms");
        assert_eq!(fmt_pct(4.25), "4.3");
        assert_eq!(fmt_pct(31.4), "31");
        assert_eq!(fmt_count(9012), "9,012");
        assert_eq!(fmt_count(12), "12");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        assert_eq!(fmt_hours(10.4), "~10 h");
        assert_eq!(fmt_hours(0.25), "~15 min");
        assert_eq!(fmt_hours(100.0), "~4 d");
    }
}
