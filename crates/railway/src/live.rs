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

/// Splits services into balanced batches of at most [`batch::MAX_SERVICES_PER_REQUEST`]; inside a
/// batch, services with a deployment get the endpoint-logs field while the batch stays within
/// [`batch::MAX_REQUEST_COST`], in list order.
pub fn plan_http_batches(has_deployment: &[bool]) -> Vec<HttpBatchPlan> {
    let n = has_deployment.len();
    if n == 0 {
        return Vec::new();
    }
    let batches = n.div_ceil(batch::MAX_SERVICES_PER_REQUEST);
    let size = n.div_ceil(batches);
    let metrics_cost = batch::entry_cost(batch::HTTP_METRICS_TEMPLATE, &METRICS_FIELDS);
    let logs_cost = batch::field_cost("httpLogs");
    (0..n)
        .collect::<Vec<_>>()
        .chunks(size)
        .map(|chunk| {
            let mut cost = metrics_cost * chunk.len() as u32;
            chunk
                .iter()
                .map(|&i| {
                    let with_logs =
                        has_deployment[i] && cost + logs_cost <= batch::MAX_REQUEST_COST;
                    if with_logs {
                        cost += logs_cost;
                    }
                    (i, with_logs)
                })
                .collect()
        })
        .collect()
}

const METRICS_FIELDS: [&str; 3] = ["byStatus", "latencyTimeline", "latencyWindow"];
const LOG_FIELDS: [&str; 3] = ["build", "deploy", "http"];

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

    /// CPU and memory of every service, in one request.
    pub async fn resource_usage(&self, window: TimeWindow) -> Result<ResourceReport, RailwayError> {
        let rate = sample_rate_seconds(window.seconds());
        let vars = ops::environment_resource_metrics::Variables {
            project_id: self.credentials.project_id.clone(),
            environment_id: self.credentials.environment_id.clone(),
            start_date: rfc3339(window.start),
            end_date: Some(rfc3339(window.end)),
            sample_rate_seconds: Some(rate),
            averaging_window_seconds: Some(rate),
        };
        let data: ops::MetricsData = self.query::<EnvironmentResourceMetrics>(vars).await?;
        let series = data
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
                    .filter(|v| v.ts >= window.start && v.ts < window.end)
                    .map(|v| Sample {
                        ts: v.ts,
                        value: v.value,
                    })
                    .collect();
                Some((measurement, service, values))
            })
            .collect();
        Ok(resource_report(window, rate, series))
    }

    /// HTTP stats of every non-database service: ceil(S / 20) requests with the metrics fields,
    /// or the `httpLogs` fallback when Railway does not offer them.
    pub async fn http_stats(
        &self,
        arch: &Architecture,
        window: TimeWindow,
    ) -> Result<HttpReport, RailwayError> {
        let services: Vec<&Service> = arch.services.iter().filter(|s| !s.is_database).collect();
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
        let has_dep: Vec<bool> = services
            .iter()
            .map(|s| s.latest_deployment.is_some())
            .collect();
        let shared = self.http_shared_vars(window);
        let mut report = HttpReport {
            window,
            services: BTreeMap::new(),
        };
        // Batches are independent: send them together (two at S = 40), well under Railway's
        // per-second limits (10/s on Hobby).
        let shared = &shared;
        let batches = plan_http_batches(&has_dep)
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
        let mut data: Map<String, Value> = self
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
            let mut data: Map<String, Value> = self
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

    /// Build, deployment and failed-or-slow HTTP logs of the given services' latest deployments,
    /// batched (10 services per request keeps within the cost ceiling: 47 per service).
    pub async fn logs(
        &self,
        arch: &Architecture,
        service_ids: &[String],
        window: TimeWindow,
        limits: &LogLimits,
    ) -> Result<BTreeMap<String, ServiceLogs>, RailwayError> {
        let mut out = BTreeMap::new();
        let mut deployed = Vec::new();
        for id in service_ids {
            let deployment = arch
                .service(id)
                .and_then(|s| s.latest_deployment.as_ref())
                .map(|d| d.id.clone());
            match deployment {
                Some(d) => deployed.push((id.clone(), d)),
                None => {
                    out.insert(
                        id.clone(),
                        ServiceLogs {
                            service_id: id.clone(),
                            ..Default::default()
                        },
                    );
                }
            }
        }
        let per_service = batch::entry_cost(batch::SERVICE_LOGS_TEMPLATE, &LOG_FIELDS).max(1);
        let per_request = ((batch::MAX_REQUEST_COST / per_service) as usize)
            .clamp(1, batch::MAX_SERVICES_PER_REQUEST);
        let lines = limits.max_lines.clamp(1, HTTP_LOG_ROW_CAP);
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
        for chunk in deployed.chunks(per_request) {
            match self.logs_batch(chunk, &shared, limits).await {
                Ok(batch) => out.extend(batch),
                // One bad deployment (logs past retention, removed) voids the batch: read the
                // services one by one so the others still arrive, and say what is missing.
                Err(RailwayError::GraphQl {
                    operation,
                    messages,
                }) => {
                    tracing::warn!(
                        operation,
                        ?messages,
                        "logs batch failed, reading services one by one"
                    );
                    for one in chunk {
                        match self
                            .logs_batch(std::slice::from_ref(one), &shared, limits)
                            .await
                        {
                            Ok(batch) => out.extend(batch),
                            Err(RailwayError::GraphQl { messages, .. }) => {
                                let (service_id, deployment_id) = one;
                                out.insert(
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
                                );
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
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
        let mut data: Map<String, Value> = self
            .query_document(&doc.operation, &doc.query, doc.variables)
            .await?;
        let op = doc.operation.as_str();
        let mut out = Vec::with_capacity(chunk.len());
        for (bi, (service_id, deployment_id)) in chunk.iter().enumerate() {
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
    fn http_batches_respect_alias_and_cost_caps() {
        for n in [1usize, 3, 13, 14, 20, 21, 40, 41, 100] {
            let plans = plan_http_batches(&vec![true; n]);
            assert_eq!(plans.len(), n.div_ceil(20), "n={n}");
            assert_eq!(plans.iter().map(Vec::len).sum::<usize>(), n);
            for plan in &plans {
                assert!(plan.len() <= batch::MAX_SERVICES_PER_REQUEST);
                let logs = plan.iter().filter(|(_, l)| *l).count() as u32;
                assert!(
                    15 * plan.len() as u32 + 21 * logs <= batch::MAX_REQUEST_COST,
                    "n={n}"
                );
            }
        }
        assert!(
            plan_http_batches(&[true; 13])[0].iter().all(|(_, l)| *l),
            "13 services fit with endpoints"
        );
        assert_eq!(
            plan_http_batches(&[true; 20])[0]
                .iter()
                .filter(|(_, l)| *l)
                .count(),
            9
        );
        assert!(plan_http_batches(&[false, true])[0] == vec![(0, false), (1, true)]);
        assert!(plan_http_batches(&[]).is_empty());
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
