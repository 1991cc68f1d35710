//! The reads a health cycle makes against the live API. Request budget for one health read over
//! S non-database services: 1 (architecture, more only beyond 100 instances) + 1 (resource usage)
//! + ceil(S / 20) (HTTP stats).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};

use crate::batch::{self, BatchEntry};
use crate::client::RailwayClient;
use crate::error::RailwayError;
use crate::http::{self, DurationResult, HTTP_LOG_ROW_CAP, HttpRow, StatusSeries};
use crate::logs::{self, LogLimits, LogRow};
use crate::model::{
    Architecture, EnvironmentRef, HttpReport, HttpStats, ResourceReport, ResourceUsage, Sample,
    Service, ServiceLogs, TimeWindow,
};
use crate::ops::{
    self, ArchitectureBuilder, EnvironmentArchitecture, EnvironmentResourceMetrics,
    ProjectEnvironments,
};
use crate::timefmt::rfc3339;

/// Stop paging after this many pages (10 000 instances): a cursor that never ends is a server bug.
const MAX_PAGES: usize = 100;

/// Rows of raw HTTP logs per fallback request: public collectors saw requests fail beyond about
/// 30 000 returned data points, and each service may return 5 000 rows.
pub const LOG_FALLBACK_SERVICES_PER_REQUEST: usize = 6;

/// Point spacing as Railway's CLI and dashboard choose it.
pub fn sample_rate_seconds(window_seconds: i64) -> i64 {
    const HOUR: i64 = 3600;
    match window_seconds {
        s if s <= HOUR => 30,
        s if s <= 6 * HOUR => 60,
        s if s <= 24 * HOUR => 240,
        s if s <= 7 * 24 * HOUR => 3600,
        _ => 14_400,
    }
}

/// One planned HTTP-stats request: indexes into the service list, each with or without the
/// endpoint-logs field.
pub type HttpBatchPlan = Vec<(usize, bool)>;

/// Status-code series one service's `httpMetricsGroupedByStatus` is assumed to return when
/// budgeting points (Railway groups by exact code: 200, 201, 204, 301, 304, 404, 500, …).
const STATUS_SERIES_ESTIMATE: usize = 8;

/// One service's share of an HTTP-stats request: aliases, estimated points and cost.
fn http_share(with_logs: bool, buckets: usize, endpoint_rows: usize) -> batch::Share {
    let mut fields: Vec<&str> = METRICS_FIELDS.to_vec();
    let mut points = STATUS_SERIES_ESTIMATE * buckets + buckets + 1;
    if with_logs {
        fields.push("endpointLogs");
        points += endpoint_rows;
    }
    batch::Share {
        aliases: fields.len(),
        points,
        cost: batch::entry_cost(batch::HTTP_METRICS_TEMPLATE, &fields),
    }
}

/// Packs services into requests within [`batch::REQUEST_BUDGET`] (aliases counted per root
/// field, points estimated from the window's buckets); every service with a deployment gets the
/// endpoint-logs field.
pub fn plan_http_batches(
    has_deployment: &[bool],
    buckets: usize,
    endpoint_rows: usize,
) -> Vec<HttpBatchPlan> {
    let shares: Vec<batch::Share> = has_deployment
        .iter()
        .map(|&d| http_share(d, buckets, endpoint_rows))
        .collect();
    batch::pack(&shares, batch::REQUEST_BUDGET)
        .into_iter()
        .map(|range| range.map(|i| (i, has_deployment[i])).collect())
        .collect()
}

/// The usage read's time slices over `window` for an environment of `services` services (CPU and
/// memory: two series each; `metrics` answers every service of the environment).
pub(crate) fn usage_plan(window: TimeWindow, services: usize) -> Vec<TimeWindow> {
    let rate = sample_rate_seconds(window.seconds());
    usage_slices(window, rate, 2 * services.max(1))
}

/// The services HTTP stats are read for: every one that is not a database.
pub(crate) fn http_services(arch: &Architecture) -> Vec<&Service> {
    arch.services.iter().filter(|s| !s.is_database).collect()
}

/// The HTTP-stats requests for `services` over `window` (buckets at the window's sample rate).
pub(crate) fn http_plan(
    services: &[&Service],
    window: TimeWindow,
    endpoint_rows: u32,
) -> Vec<HttpBatchPlan> {
    let has_deployment: Vec<bool> = services
        .iter()
        .map(|s| s.latest_deployment.is_some())
        .collect();
    let buckets = (window.seconds() / sample_rate_seconds(window.seconds()).max(1)) as usize + 1;
    plan_http_batches(&has_deployment, buckets, endpoint_rows as usize)
}

/// Time slices of the window such that one `metrics` request over `series` series (services ×
/// measurements) stays within the points budget. Slice edges fall on sample boundaries.
pub fn usage_slices(window: TimeWindow, rate: i64, series: usize) -> Vec<TimeWindow> {
    let rate = rate.max(1);
    let samples = (window.seconds() + rate - 1) / rate;
    let per_slice = (batch::REQUEST_BUDGET.points / series.max(1)).max(1) as i64;
    let mut out = Vec::new();
    let mut start = window.start;
    while start < window.end {
        let end = (start + per_slice * rate).min(window.end);
        out.push(TimeWindow { start, end });
        start = end;
    }
    debug_assert!(out.len() as i64 <= samples.max(1));
    out
}

const METRICS_FIELDS: [&str; 3] = ["byStatus", "latencyTimeline", "latencyWindow"];
const LOG_FIELDS: [&str; 4] = ["target", "build", "deploy", "http"];

/// Groups measurement series into per-service usage; limits are the last non-zero sample.
pub fn resource_report(
    window: TimeWindow,
    sample_rate_seconds: i64,
    series: Vec<(String, String, Vec<Sample>)>,
) -> ResourceReport {
    let mut services: BTreeMap<String, ResourceUsage> = BTreeMap::new();
    for (measurement, service_id, mut values) in series {
        values.sort_by_key(|s| s.ts);
        let usage = services
            .entry(service_id.clone())
            .or_insert_with(|| ResourceUsage {
                service_id,
                ..Default::default()
            });
        let last_limit = || values.iter().rev().map(|s| s.value).find(|v| *v > 0.0);
        match measurement.as_str() {
            "CPU_USAGE" => usage.cpu = values,
            "MEMORY_USAGE_GB" => usage.memory_gb = values,
            "CPU_LIMIT" => usage.cpu_limit = last_limit(),
            "MEMORY_LIMIT_GB" => usage.memory_limit_gb = last_limit(),
            _ => {}
        }
    }
    ResourceReport {
        window,
        sample_rate_seconds,
        services,
    }
}

fn decode_err(operation: &str, e: serde_json::Error) -> RailwayError {
    RailwayError::Decode {
        operation: operation.to_owned(),
        reason: e.to_string(),
    }
}

impl RailwayClient {
    /// Environments of the configured project.
    pub async fn environments(&self) -> Result<Vec<EnvironmentRef>, RailwayError> {
        let vars = ops::project_environments::Variables {
            project_id: self.credentials.project_id.clone(),
        };
        let data: ops::EnvironmentsData = self.query::<ProjectEnvironments>(vars).await?;
        Ok(data
            .project
            .environments
            .edges
            .into_iter()
            .map(|e| EnvironmentRef {
                id: e.node.id,
                name: e.node.name,
            })
            .collect())
    }

    /// The same client pointed at the environment with this id or (case-insensitive) name.
    pub async fn resolve_environment(self, id_or_name: &str) -> Result<Self, RailwayError> {
        let envs = self.environments().await?;
        let found = envs
            .iter()
            .find(|e| e.id == id_or_name)
            .or_else(|| {
                envs.iter()
                    .find(|e| e.name.eq_ignore_ascii_case(id_or_name))
            })
            .map(|e| e.id.clone());
        match found {
            Some(id) => Ok(self.with_environment_id(id)),
            None => Err(RailwayError::EnvironmentNotFound {
                project_id: self.credentials.project_id.clone(),
                name: id_or_name.to_owned(),
            }),
        }
    }

    /// Every service and volume of the environment, with each service's latest deployment; pages
    /// through Railway's connections until done.
    pub async fn architecture(&self) -> Result<Architecture, RailwayError> {
        let mut builder = ArchitectureBuilder::default();
        for _ in 0..MAX_PAGES {
            let vars = ops::environment_architecture::Variables {
                project_id: self.credentials.project_id.clone(),
                environment_id: self.credentials.environment_id.clone(),
                services_after: builder.services_cursor.clone(),
                volumes_after: builder.volumes_cursor.clone(),
            };
            builder.add_page(self.query::<EnvironmentArchitecture>(vars).await?);
            if builder.done() {
                break;
            }
        }
        builder.finish().ok_or_else(|| RailwayError::MissingData {
            operation: "EnvironmentArchitecture".into(),
        })
    }

    /// CPU and memory of every service of the environment (`metrics` answers them all, ignored
    /// or not; `environment_services` of them plan the slices): limits once as scalars (one
    /// sample per service), usage in as many time slices as the points budget needs (one up to
    /// ~125 services at 60 minutes).
    pub async fn resource_usage(
        &self,
        environment_services: usize,
        window: TimeWindow,
    ) -> Result<ResourceReport, RailwayError> {
        use ops::environment_resource_metrics::MetricMeasurement as M;
        let rate = sample_rate_seconds(window.seconds());
        let limits = self.metrics_series(
            vec![M::CPU_LIMIT, M::MEMORY_LIMIT_GB],
            window,
            window.seconds().max(1),
        );
        let slices = usage_plan(window, environment_services);
        let usage =
            futures::future::try_join_all(slices.into_iter().map(|slice| {
                self.metrics_series(vec![M::CPU_USAGE, M::MEMORY_USAGE_GB], slice, rate)
            }));
        let (limits, usage) = futures::future::try_join(limits, usage).await?;
        let mut merged: BTreeMap<(String, String), Vec<Sample>> = BTreeMap::new();
        for (measurement, service, values) in limits.into_iter().chain(usage.into_iter().flatten())
        {
            merged.entry((measurement, service)).or_default().extend(
                values
                    .into_iter()
                    .filter(|v| v.ts >= window.start && v.ts < window.end),
            );
        }
        let series = merged
            .into_iter()
            .map(|((measurement, service), mut values)| {
                values.sort_by_key(|v| v.ts);
                values.dedup_by_key(|v| v.ts);
                (measurement, service, values)
            })
            .collect();
        Ok(resource_report(window, rate, series))
    }

    /// One `metrics` request grouped by service: `(measurement, service id, samples)`.
    async fn metrics_series(
        &self,
        measurements: Vec<ops::environment_resource_metrics::MetricMeasurement>,
        window: TimeWindow,
        rate: i64,
    ) -> Result<Vec<(String, String, Vec<Sample>)>, RailwayError> {
        let vars = ops::environment_resource_metrics::Variables {
            project_id: self.credentials.project_id.clone(),
            environment_id: self.credentials.environment_id.clone(),
            measurements,
            start_date: rfc3339(window.start),
            end_date: Some(rfc3339(window.end)),
            sample_rate_seconds: Some(rate),
            averaging_window_seconds: Some(rate),
        };
        let data: ops::MetricsData = self.query::<EnvironmentResourceMetrics>(vars).await?;
        Ok(data
            .metrics
            .into_iter()
            .filter_map(|m| {
                let measurement = serde_json::to_value(&m.measurement)
                    .ok()?
                    .as_str()?
                    .to_owned();
                let service = m.tags.service_id?;
                let values = m
                    .values
                    .into_iter()
                    .map(|v| Sample {
                        ts: v.ts,
                        value: v.value,
                    })
                    .collect();
                Some((measurement, service, values))
            })
            .collect())
    }

    /// HTTP stats of every non-database service: ceil(S / 20) requests with the metrics fields,
    /// or the `httpLogs` fallback when Railway does not offer them.
    pub async fn http_stats(
        &self,
        arch: &Architecture,
        window: TimeWindow,
    ) -> Result<HttpReport, RailwayError> {
        let services = http_services(arch);
        if !self.http_metrics_unavailable.load(Ordering::Relaxed) {
            match self.http_stats_from_metrics(&services, window).await {
                Err(RailwayError::FieldUnavailable { field, .. })
                    if matches!(
                        field.as_str(),
                        "httpMetricsGroupedByStatus" | "httpDurationMetrics"
                    ) =>
                {
                    tracing::warn!(
                        field,
                        "Railway HTTP metrics unavailable, aggregating httpLogs instead"
                    );
                    self.http_metrics_unavailable.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        self.http_stats_from_logs(&services, window).await
    }

    fn http_shared_vars(&self, window: TimeWindow) -> Map<String, Value> {
        let Value::Object(map) = json!({
            "environmentId": self.credentials.environment_id,
            "startDate": rfc3339(window.start),
            "endDate": rfc3339(window.end),
            "stepSeconds": sample_rate_seconds(window.seconds()),
            "endpointFilter": http::error_or_slow_filter(self.http_config.slow_request_ms),
            "endpointLimit": self.http_config.endpoint_rows,
            "limit": HTTP_LOG_ROW_CAP,
            "beforeDate": rfc3339(window.start),
            "anchorDate": rfc3339(window.end),
        }) else {
            unreachable!("json! object literal")
        };
        map
    }

    async fn http_stats_from_metrics(
        &self,
        services: &[&Service],
        window: TimeWindow,
    ) -> Result<HttpReport, RailwayError> {
        let shared = self.http_shared_vars(window);
        let mut report = HttpReport {
            window,
            services: BTreeMap::new(),
        };
        // Batches are independent; the client's in-flight limit and pacer decide how many are
        // on the wire at once.
        let shared = &shared;
        let batches = http_plan(services, window, self.http_config.endpoint_rows)
            .into_iter()
            .map(|plan| async move {
                let batch_services: Vec<(&Service, bool)> = plan
                    .iter()
                    .map(|&(i, with_logs)| (services[i], with_logs))
                    .collect();
                match self
                    .http_metrics_batch(&batch_services, shared, window)
                    .await
                {
                    // Every root field is non-null, so one failing `httpLogs` (e.g. a removed
                    // deployment) voids the whole answer. The endpoint lists are the optional part:
                    // ask once more without them rather than lose the batch's figures.
                    Err(RailwayError::GraphQl {
                        operation,
                        messages,
                    }) if plan.iter().any(|(_, l)| *l) => {
                        tracing::warn!(
                            operation,
                            ?messages,
                            "HTTP metrics batch failed, retrying without endpoint logs"
                        );
                        let without: Vec<(&Service, bool)> =
                            batch_services.iter().map(|(s, _)| (*s, false)).collect();
                        self.http_metrics_batch(&without, shared, window).await
                    }
                    other => other,
                }
            });
        for stats in futures::future::try_join_all(batches)
            .await?
            .into_iter()
            .flatten()
        {
            report.services.insert(stats.service_id.clone(), stats);
        }
        Ok(report)
    }

    /// One batched request for the given services; `bool` = include the endpoint-logs field.
    async fn http_metrics_batch(
        &self,
        services: &[(&Service, bool)],
        shared: &Map<String, Value>,
        window: TimeWindow,
    ) -> Result<Vec<HttpStats>, RailwayError> {
        let entries: Vec<BatchEntry> = services
            .iter()
            .map(|(s, with_logs)| {
                let mut vars = BTreeMap::from([("serviceId", json!(s.id))]);
                let mut fields = METRICS_FIELDS.to_vec();
                if let (true, Some(d)) = (with_logs, &s.latest_deployment) {
                    vars.insert("deploymentId", json!(d.id));
                    fields.push("endpointLogs");
                }
                BatchEntry { vars, fields }
            })
            .collect();
        let doc = batch::build(batch::HTTP_METRICS_TEMPLATE, &entries, shared)
            .map_err(RailwayError::Config)?;
        let mut data: batch::BatchData = self
            .query_document(&doc.operation, &doc.query, doc.variables)
            .await?;
        let op = doc.operation.as_str();
        let mut out = Vec::with_capacity(services.len());
        for (bi, (s, _)) in services.iter().enumerate() {
            let by_status: Vec<StatusSeries> = batch::take(&mut data, bi, "byStatus")
                .map_err(|e| decode_err(op, e))?
                .unwrap_or_default();
            let timeline: Option<DurationResult> =
                batch::take(&mut data, bi, "latencyTimeline").map_err(|e| decode_err(op, e))?;
            let whole: Option<DurationResult> =
                batch::take(&mut data, bi, "latencyWindow").map_err(|e| decode_err(op, e))?;
            let rows: Vec<HttpRow> = batch::take(&mut data, bi, "endpointLogs")
                .map_err(|e| decode_err(op, e))?
                .unwrap_or_default();
            let stats = http::from_metrics(
                &s.id,
                window,
                &by_status,
                &timeline.map(|t| t.samples).unwrap_or_default(),
                &whole.map(|t| t.samples).unwrap_or_default(),
                &rows,
                self.http_config.slow_request_ms,
            );
            out.push(stats);
        }
        Ok(out)
    }

    async fn http_stats_from_logs(
        &self,
        services: &[&Service],
        window: TimeWindow,
    ) -> Result<HttpReport, RailwayError> {
        let step = sample_rate_seconds(window.seconds());
        let mut report = HttpReport {
            window,
            services: BTreeMap::new(),
        };
        let deployed: Vec<(&Service, &str)> = services
            .iter()
            .filter_map(|s| s.latest_deployment.as_ref().map(|d| (*s, d.id.as_str())))
            .collect();
        for s in services.iter().filter(|s| s.latest_deployment.is_none()) {
            report.services.insert(
                s.id.clone(),
                http::from_logs(&s.id, window, Vec::new(), step, HTTP_LOG_ROW_CAP),
            );
        }
        let shared = self.http_shared_vars(window);
        for chunk in deployed.chunks(LOG_FALLBACK_SERVICES_PER_REQUEST) {
            let entries: Vec<BatchEntry> = chunk
                .iter()
                .map(|(_, dep)| BatchEntry {
                    vars: BTreeMap::from([("deploymentId", json!(dep))]),
                    fields: vec!["requests"],
                })
                .collect();
            let doc = batch::build(batch::HTTP_LOGS_TEMPLATE, &entries, &shared)
                .map_err(RailwayError::Config)?;
            let mut data: batch::BatchData = self
                .query_document(&doc.operation, &doc.query, doc.variables)
                .await?;
            for (bi, (s, _)) in chunk.iter().enumerate() {
                let rows: Vec<HttpRow> = batch::take(&mut data, bi, "requests")
                    .map_err(|e| decode_err(&doc.operation, e))?
                    .unwrap_or_default();
                report.services.insert(
                    s.id.clone(),
                    http::from_logs(&s.id, window, rows, step, HTTP_LOG_ROW_CAP),
                );
            }
        }
        Ok(report)
    }

    /// Build, deployment and failed-or-slow HTTP logs of the given deployments, batched within
    /// [`batch::REQUEST_BUDGET`]. Each deployment is checked in the same request to belong to
    /// its service in this client's project and environment (ids may come from an event); the
    /// logs of one that does not are dropped and the mismatch is recorded in `truncated`.
    pub async fn logs(
        &self,
        targets: &[LogTarget],
        window: TimeWindow,
        limits: &LogLimits,
    ) -> Result<BTreeMap<String, ServiceLogs>, RailwayError> {
        let mut out = BTreeMap::new();
        let mut deployed = Vec::new();
        for t in targets {
            match &t.deployment_id {
                Some(d) => deployed.push((t.service_id.clone(), d.clone())),
                None => {
                    out.insert(
                        t.service_id.clone(),
                        ServiceLogs {
                            service_id: t.service_id.clone(),
                            ..Default::default()
                        },
                    );
                }
            }
        }
        let lines = limits.max_lines.clamp(1, HTTP_LOG_ROW_CAP);
        let share = batch::Share {
            aliases: LOG_FIELDS.len(),
            points: 3 * (lines + 1) + 1,
            cost: batch::entry_cost(batch::SERVICE_LOGS_TEMPLATE, &LOG_FIELDS),
        };
        let Value::Object(shared) = json!({
            "logLimit": lines,
            "startDate": rfc3339(window.start),
            "endDate": rfc3339(window.end),
            "httpFilter": http::error_or_slow_filter(limits.slow_request_ms),
            "httpLimit": lines,
            "beforeDate": rfc3339(window.start),
            "anchorDate": rfc3339(window.end),
        }) else {
            unreachable!("json! object literal")
        };
        let shared = &shared;
        let chunks = batch::pack(&vec![share; deployed.len()], batch::REQUEST_BUDGET);
        let reads = chunks.into_iter().map(|range| {
            let chunk = &deployed[range];
            async move {
                match self.logs_batch(chunk, shared, limits).await {
                    Ok(batch) => Ok(batch),
                    // One bad deployment (logs past retention, removed) voids the batch: read
                    // the services one by one so the others still arrive, and say what is
                    // missing.
                    Err(RailwayError::GraphQl {
                        operation,
                        messages,
                    }) => {
                        tracing::warn!(
                            operation,
                            ?messages,
                            "logs batch failed, reading services one by one"
                        );
                        let mut got = Vec::new();
                        for one in chunk {
                            match self
                                .logs_batch(std::slice::from_ref(one), shared, limits)
                                .await
                            {
                                Ok(batch) => got.extend(batch),
                                Err(RailwayError::GraphQl { messages, .. }) => {
                                    let (service_id, deployment_id) = one;
                                    got.push((
                                        service_id.clone(),
                                        ServiceLogs {
                                            service_id: service_id.clone(),
                                            deployment_id: Some(deployment_id.clone()),
                                            truncated: vec![format!(
                                                "logs unavailable: {}",
                                                messages.join("; ")
                                            )],
                                            ..Default::default()
                                        },
                                    ));
                                }
                                Err(e) => return Err(e),
                            }
                        }
                        Ok(got)
                    }
                    Err(e) => Err(e),
                }
            }
        });
        for batch in futures::future::try_join_all(reads).await? {
            out.extend(batch);
        }
        Ok(out)
    }

    async fn logs_batch(
        &self,
        chunk: &[(String, String)],
        shared: &Map<String, Value>,
        limits: &LogLimits,
    ) -> Result<Vec<(String, ServiceLogs)>, RailwayError> {
        let entries: Vec<BatchEntry> = chunk
            .iter()
            .map(|(_, d)| BatchEntry {
                vars: BTreeMap::from([("deploymentId", json!(d))]),
                fields: LOG_FIELDS.to_vec(),
            })
            .collect();
        let doc = batch::build(batch::SERVICE_LOGS_TEMPLATE, &entries, shared)
            .map_err(RailwayError::Config)?;
        let mut data: batch::BatchData = self
            .query_document(&doc.operation, &doc.query, doc.variables)
            .await?;
        let op = doc.operation.as_str();
        let mut out = Vec::with_capacity(chunk.len());
        for (bi, (service_id, deployment_id)) in chunk.iter().enumerate() {
            let target: Option<DeploymentOwner> =
                batch::take(&mut data, bi, "target").map_err(|e| decode_err(op, e))?;
            let owner_ok = target.as_ref().is_some_and(|t| {
                t.service_id.as_deref() == Some(service_id.as_str())
                    && t.environment_id == self.credentials.environment_id
                    && t.project_id == self.credentials.project_id
            });
            if !owner_ok {
                tracing::warn!(
                    service_id,
                    deployment_id,
                    "deployment does not belong to the service in this environment; logs dropped"
                );
                out.push((
                    service_id.clone(),
                    ServiceLogs {
                        service_id: service_id.clone(),
                        deployment_id: None,
                        truncated: vec![format!(
                            "deployment {deployment_id} is not a deployment of this service in this environment; logs not used"
                        )],
                        ..Default::default()
                    },
                ));
                continue;
            }
            let build: Vec<LogRow> = batch::take(&mut data, bi, "build")
                .map_err(|e| decode_err(op, e))?
                .unwrap_or_default();
            let deploy: Vec<LogRow> = batch::take(&mut data, bi, "deploy")
                .map_err(|e| decode_err(op, e))?
                .unwrap_or_default();
            let http: Vec<HttpRow> = batch::take(&mut data, bi, "http")
                .map_err(|e| decode_err(op, e))?
                .unwrap_or_default();
            let mut service_logs = ServiceLogs {
                service_id: service_id.clone(),
                deployment_id: Some(deployment_id.clone()),
                build: build.into_iter().map(LogRow::into_line).collect(),
                deploy: deploy.into_iter().map(LogRow::into_line).collect(),
                http: http.into_iter().map(HttpRow::into_line).collect(),
                truncated: Vec::new(),
            };
            logs::bound(&mut service_logs, limits);
            out.push((service_id.clone(), service_logs));
        }
        Ok(out)
    }
}

/// A service whose logs to read, and the deployment to read them from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// Railway service id.
    pub service_id: String,
    /// The deployment whose logs to read; `None` gives the service empty logs (nothing deployed).
    pub deployment_id: Option<String>,
}

/// Who a deployment belongs to, as Railway says.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentOwner {
    service_id: Option<String>,
    environment_id: String,
    project_id: String,
}

/// Empty stats for a service the source has no HTTP data for.
pub fn empty_http_stats(service_id: &str, window: TimeWindow) -> HttpStats {
    http::from_metrics(service_id, window, &[], &[], &[], &[], 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_rates_follow_the_cli() {
        assert_eq!(sample_rate_seconds(1800), 30);
        assert_eq!(sample_rate_seconds(3600), 30);
        assert_eq!(sample_rate_seconds(3601), 60);
        assert_eq!(sample_rate_seconds(86_400), 240);
        assert_eq!(sample_rate_seconds(7 * 86_400), 3600);
        assert_eq!(sample_rate_seconds(30 * 86_400), 14_400);
    }

    #[test]
    fn http_batches_respect_alias_point_and_cost_budgets() {
        for (n, buckets) in [
            (1usize, 61),
            (3, 61),
            (20, 121),
            (41, 121),
            (100, 121),
            (7, 3000),
        ] {
            let has_dep: Vec<bool> = (0..n).map(|i| i % 3 != 0).collect();
            let plans = plan_http_batches(&has_dep, buckets, 500);
            assert_eq!(plans.iter().map(Vec::len).sum::<usize>(), n, "n={n}");
            for plan in &plans {
                let shares: Vec<batch::Share> = plan
                    .iter()
                    .map(|&(_, l)| http_share(l, buckets, 500))
                    .collect();
                let aliases: usize = shares.iter().map(|s| s.aliases).sum();
                let points: usize = shares.iter().map(|s| s.points).sum();
                let cost: u32 = shares.iter().map(|s| s.cost).sum();
                assert!(
                    aliases <= batch::MAX_ALIASES_PER_REQUEST,
                    "n={n}: {aliases}"
                );
                assert!(
                    points <= batch::MAX_POINTS_PER_REQUEST || plan.len() == 1,
                    "n={n}: {points}"
                );
                assert!(cost <= batch::MAX_REQUEST_COST);
                assert!(
                    plan.iter().all(|&(i, l)| l == has_dep[i]),
                    "endpoints for every deployed service"
                );
            }
        }
        assert_eq!(
            plan_http_batches(&[true; 5], 121, 500).len(),
            1,
            "5 × 4 aliases fit"
        );
        assert_eq!(plan_http_batches(&[true; 6], 121, 500).len(), 2);
        assert!(plan_http_batches(&[], 121, 500).is_empty());
    }

    #[test]
    fn usage_slices_keep_points_within_budget() {
        let w = TimeWindow {
            start: 0,
            end: 3600,
        };
        assert_eq!(
            usage_slices(w, 30, 2 * 100),
            [w],
            "100 services fit one request"
        );
        let slices = usage_slices(w, 30, 2 * 2000);
        assert_eq!(slices.len(), 120usize.div_ceil(30_000 / 4000));
        assert_eq!(slices.first().unwrap().start, 0);
        assert_eq!(slices.last().unwrap().end, 3600);
        for pair in slices.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "contiguous");
            assert_eq!(pair[0].end % 30, 0, "on sample boundaries");
        }
        for s in &slices {
            let samples = (s.seconds() as usize).div_ceil(30);
            assert!(samples * 2 * 2000 <= batch::MAX_POINTS_PER_REQUEST);
        }
    }

    #[test]
    fn resource_limits_use_last_non_zero_sample() {
        let w = TimeWindow { start: 0, end: 100 };
        let s = |ts, value| Sample { ts, value };
        let r = resource_report(
            w,
            30,
            vec![
                ("CPU_USAGE".into(), "a".into(), vec![s(30, 0.5), s(0, 0.2)]),
                ("CPU_LIMIT".into(), "a".into(), vec![s(0, 2.0), s(30, 0.0)]),
                ("MEMORY_LIMIT_GB".into(), "a".into(), vec![s(0, 0.0)]),
                ("MEMORY_USAGE_GB".into(), "b".into(), vec![s(0, 1.0)]),
            ],
        );
        assert_eq!(r.services["a"].cpu, vec![s(0, 0.2), s(30, 0.5)]);
        assert_eq!(r.services["a"].cpu_limit, Some(2.0));
        assert_eq!(r.services["a"].memory_limit_gb, None);
        assert_eq!(r.services["b"].memory_gb.len(), 1);
    }
}
