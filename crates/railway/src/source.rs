//! One interface for the live API and for static snapshots (demo project, tests).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::client::RailwayClient;
use crate::error::RailwayError;
use crate::http;
use crate::live::{LogTarget, empty_http_stats};
use crate::logs::{self, LogLimits};
use crate::model::{
    Architecture, HttpReport, ProjectSnapshot, ResourceReport, ServiceLogs, TimeWindow,
};
use crate::timefmt;

/// Builds a snapshot whose data ends at the given Unix time.
pub type SnapshotGenerator = Arc<dyn Fn(i64) -> ProjectSnapshot + Send + Sync>;

/// Where Railway data comes from: the API, a fixed snapshot, or the demo generator.
#[derive(Clone)]
pub enum Source {
    /// Railway's API.
    Live(RailwayClient),
    /// Tests: answers from the snapshot, sliced to the asked window (feature `test-support`).
    #[cfg(feature = "test-support")]
    Static(Box<ProjectSnapshot>),
    /// The built-in demo: regenerated for every read so that a long-running worker always finds
    /// data in the window it asks for (a snapshot taken at start would age out of the window).
    Generated(SnapshotGenerator),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Live(c) => f.debug_tuple("Live").field(c).finish(),
            #[cfg(feature = "test-support")]
            Self::Static(s) => f
                .debug_tuple("Static")
                .field(&s.architecture.project.name)
                .finish(),
            Self::Generated(_) => f.write_str("Generated"),
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl Source {
    /// Every service and volume of the environment.
    pub async fn architecture(&self) -> Result<Architecture, RailwayError> {
        match self {
            Self::Live(c) => c.architecture().await,
            #[cfg(feature = "test-support")]
            Self::Static(s) => Ok(s.architecture.clone()),
            Self::Generated(g) => Ok(g(unix_now()).architecture),
        }
    }

    /// The services `ids` names as Railway configures them in the configured environment (an
    /// unknown id is absent): the live API reads only those services, not the architecture.
    pub async fn named_services(
        &self,
        ids: &[String],
    ) -> Result<crate::NamedServices, RailwayError> {
        match self {
            Self::Live(c) => c.named_services(ids).await,
            #[cfg(feature = "test-support")]
            Self::Static(s) => Ok(crate::NamedServices::from_architecture(
                &s.architecture,
                ids,
            )),
            Self::Generated(g) => Ok(crate::NamedServices::from_architecture(
                &g(unix_now()).architecture,
                ids,
            )),
        }
    }

    /// CPU and memory of every service of the environment over `window`; the live read plans its
    /// time slices for `environment_services` (ignored services included: Railway answers them).
    pub async fn resource_usage(
        &self,
        environment_services: usize,
        window: TimeWindow,
    ) -> Result<ResourceReport, RailwayError> {
        match self {
            Self::Live(c) => c.resource_usage(environment_services, window).await,
            #[cfg(feature = "test-support")]
            Self::Static(s) => Ok(slice_resources(&s.resources, window)),
            Self::Generated(g) => Ok(slice_resources(&g(window.end).resources, window)),
        }
    }

    /// HTTP traffic of every non-database service over `window`.
    pub async fn http_stats(
        &self,
        arch: &Architecture,
        window: TimeWindow,
    ) -> Result<HttpReport, RailwayError> {
        match self {
            Self::Live(c) => c.http_stats(arch, window).await,
            #[cfg(feature = "test-support")]
            Self::Static(s) => Ok(slice_http(arch, &s.http, window)),
            Self::Generated(g) => Ok(slice_http(arch, &g(window.end).http, window)),
        }
    }

    /// Logs of the given deployments (ids as an event carries them; the live API re-checks
    /// each belongs to its service).
    pub async fn logs(
        &self,
        targets: &[LogTarget],
        window: TimeWindow,
        limits: &LogLimits,
    ) -> Result<BTreeMap<String, ServiceLogs>, RailwayError> {
        match self {
            Self::Live(c) => c.logs(targets, window, limits).await,
            #[cfg(feature = "test-support")]
            Self::Static(s) => Ok(slice_logs(&s.logs, targets, window, limits)),
            Self::Generated(g) => Ok(slice_logs(&g(window.end).logs, targets, window, limits)),
        }
    }

    /// Recent deployments of every service, newest first, keyed by service id: one request.
    pub async fn deployments(
        &self,
    ) -> Result<BTreeMap<String, Vec<crate::model::DeploymentRecord>>, RailwayError> {
        match self {
            Self::Live(c) => c.deployments().await,
            #[cfg(feature = "test-support")]
            Self::Static(s) => Ok(s.deployments.clone()),
            Self::Generated(g) => Ok(g(unix_now()).deployments),
        }
    }

    /// The p95 baselines of `service_ids` (at most [`crate::MAX_BASELINE_SERVICES`]) over the
    /// 24 h before `before`: one request live; a snapshot's own baselines otherwise.
    pub async fn http_baselines(
        &self,
        service_ids: &[String],
        before: i64,
    ) -> Result<BTreeMap<String, crate::model::ServiceBaseline>, RailwayError> {
        let ids = &service_ids[..service_ids.len().min(crate::MAX_BASELINE_SERVICES)];
        let pick = |all: &BTreeMap<String, crate::model::ServiceBaseline>| {
            ids.iter()
                .filter_map(|id| all.get(id).map(|b| (id.clone(), b.clone())))
                .filter(|(_, b)| b.p95_ms.is_some())
                .collect()
        };
        match self {
            Self::Live(c) => c.http_baselines(ids, before).await,
            #[cfg(feature = "test-support")]
            Self::Static(s) => Ok(pick(&s.baselines)),
            Self::Generated(g) => Ok(pick(&g(before).baselines)),
        }
    }

    /// Requests made so far (live), 0 for a snapshot.
    pub fn request_count(&self) -> u64 {
        match self {
            Self::Live(c) => c.request_count(),
            #[cfg(feature = "test-support")]
            Self::Static(_) => 0,
            Self::Generated(_) => 0,
        }
    }
}

/// Samples inside the window; limits are kept (they describe the service, not the window).
pub fn slice_resources(report: &ResourceReport, window: TimeWindow) -> ResourceReport {
    ResourceReport {
        window,
        sample_rate_seconds: report.sample_rate_seconds,
        services: report
            .services
            .iter()
            .map(|(id, u)| (id.clone(), u.within(window)))
            .collect(),
    }
}

/// Buckets inside the window, with totals recomputed from them. Window-wide percentiles and
/// endpoint lists cannot be re-derived from buckets and are kept as the snapshot states them.
/// Like the live API, databases are left out and every other service is present.
pub fn slice_http(arch: &Architecture, report: &HttpReport, window: TimeWindow) -> HttpReport {
    let mut services = BTreeMap::new();
    for svc in arch.services.iter().filter(|s| !s.is_database) {
        let stats = match report.services.get(&svc.id) {
            None => empty_http_stats(&svc.id, window),
            Some(s) => s.within(window),
        };
        services.insert(svc.id.clone(), stats);
    }
    HttpReport { window, services }
}

/// What the live query would return: build logs as they are, runtime logs in the window, failed
/// or slow requests in the window; then the same bounds.
pub fn slice_logs(
    all: &BTreeMap<String, ServiceLogs>,
    targets: &[LogTarget],
    window: TimeWindow,
    limits: &LogLimits,
) -> BTreeMap<String, ServiceLogs> {
    let within = |ts: &str| timefmt::unix(ts).is_some_and(|t| window.contains(t));
    targets
        .iter()
        .map(|t| {
            let id = &t.service_id;
            let deployment_id = t.deployment_id.clone();
            let mut out = ServiceLogs {
                service_id: id.clone(),
                deployment_id,
                ..Default::default()
            };
            if let Some(src) = all.get(id) {
                out.deployment_id = src.deployment_id.clone().or(out.deployment_id);
                out.build = src.build.clone();
                out.deploy = src
                    .deploy
                    .iter()
                    .filter(|l| within(&l.timestamp))
                    .cloned()
                    .collect();
                out.http = src
                    .http
                    .iter()
                    .filter(|l| within(&l.timestamp))
                    .filter(|l| {
                        http::is_error_or_slow(
                            i64::from(l.status),
                            l.total_duration_ms as i64,
                            limits.slow_request_ms,
                        )
                    })
                    .cloned()
                    .collect();
                out.truncated = src.truncated.clone();
            }
            logs::bound(&mut out, limits);
            (id.clone(), out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        EnvironmentRef, HttpBucket, HttpStats, HttpStatsSource, LogLine, ProjectRef, ResourceUsage,
        Sample, Service, ServiceSource, StatusCounts,
    };

    fn svc(id: &str, is_database: bool) -> Service {
        Service {
            id: id.into(),
            instance_id: id.into(),
            name: id.into(),
            source: ServiceSource::default(),
            builder: None,
            root_directory: None,
            start_command: None,
            replicas: None,
            region: None,
            latest_deployment: None,
            is_database,
            domains: Vec::new(),
        }
    }

    fn arch() -> Architecture {
        Architecture {
            project: ProjectRef {
                id: "p".into(),
                name: "p".into(),
            },
            environment: EnvironmentRef {
                id: "e".into(),
                name: "e".into(),
            },
            services: vec![svc("api", false), svc("idle", false), svc("db", true)],
            volumes: Vec::new(),
        }
    }

    #[test]
    fn http_is_sliced_and_totals_recomputed() {
        let bucket = |ts, s5xx| HttpBucket {
            ts,
            counts: StatusCounts {
                s2xx: 10,
                s5xx,
                ..Default::default()
            },
        };
        let full = HttpStats {
            service_id: "api".into(),
            window: TimeWindow { start: 0, end: 300 },
            counts: StatusCounts {
                s2xx: 30,
                s5xx: 7,
                ..Default::default()
            },
            timeline: vec![bucket(0, 0), bucket(100, 2), bucket(200, 5)],
            latency_ms: None,
            latency_timeline: Vec::new(),
            top_failing: Vec::new(),
            slowest: Vec::new(),
            source: HttpStatsSource::Metrics,
            probes: Default::default(),
        };
        let report = HttpReport {
            window: full.window,
            services: BTreeMap::from([("api".into(), full)]),
        };
        let w = TimeWindow {
            start: 100,
            end: 300,
        };
        let sliced = slice_http(&arch(), &report, w);
        assert_eq!(
            sliced.services.keys().collect::<Vec<_>>(),
            ["api", "idle"],
            "databases out, idle present"
        );
        let api = &sliced.services["api"];
        assert_eq!(
            api.counts,
            StatusCounts {
                s2xx: 20,
                s5xx: 7,
                ..Default::default()
            }
        );
        assert_eq!(api.timeline.len(), 2);
        assert_eq!(api.window, w);
        assert_eq!(sliced.services["idle"].counts.total(), 0);
    }

    #[test]
    fn resources_keep_limits_and_window_samples() {
        let usage = ResourceUsage {
            service_id: "api".into(),
            cpu: (0..10)
                .map(|i| Sample {
                    ts: i * 60,
                    value: 0.1,
                })
                .collect(),
            cpu_limit: Some(2.0),
            memory_gb: Vec::new(),
            memory_limit_gb: None,
        };
        let report = ResourceReport {
            window: TimeWindow { start: 0, end: 600 },
            sample_rate_seconds: 60,
            services: BTreeMap::from([("api".into(), usage)]),
        };
        let sliced = slice_resources(
            &report,
            TimeWindow {
                start: 300,
                end: 600,
            },
        );
        assert_eq!(sliced.services["api"].cpu.len(), 5);
        assert_eq!(sliced.services["api"].cpu_limit, Some(2.0));
    }

    #[test]
    fn logs_keep_build_and_filter_runtime_and_requests() {
        let line = |ts: i64| LogLine {
            timestamp: timefmt::rfc3339(ts),
            message: "m".into(),
            severity: None,
            attributes: BTreeMap::new(),
        };
        let req = |ts: i64, status: u16, ms: u64| crate::model::HttpLogLine {
            timestamp: timefmt::rfc3339(ts),
            method: "GET".into(),
            path: "/".into(),
            status,
            total_duration_ms: ms,
            upstream_duration_ms: None,
            response_details: None,
            request_id: None,
        };
        let logs = ServiceLogs {
            service_id: "api".into(),
            deployment_id: Some("d".into()),
            build: vec![line(-10_000)],
            deploy: vec![line(-1), line(10), line(20)],
            http: vec![
                req(10, 200, 5),
                req(11, 500, 5),
                req(12, 200, 5000),
                req(-5, 500, 1),
            ],
            truncated: Vec::new(),
        };
        let all = BTreeMap::from([("api".to_owned(), logs)]);
        let w = TimeWindow { start: 0, end: 100 };
        let target = |id: &str| LogTarget {
            service_id: id.into(),
            deployment_id: None,
        };
        let out = slice_logs(
            &all,
            &[target("api"), target("idle")],
            w,
            &LogLimits::default(),
        );
        let api = &out["api"];
        assert_eq!(
            (api.build.len(), api.deploy.len(), api.http.len()),
            (1, 2, 2)
        );
        assert_eq!(
            out["idle"],
            ServiceLogs {
                service_id: "idle".into(),
                ..Default::default()
            }
        );
    }
}
