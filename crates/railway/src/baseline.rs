//! Each service's normal latency: the median of its hourly p95 over the 24 h before the detection
//! window, read in one batched request for at most [`MAX_BASELINE_SERVICES`] services (the ones
//! whose latency could be judged against a baseline; see `detect::baseline_candidates`), so the
//! read adds at most one request to a cycle whatever the number of services.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::batch::{self, BatchEntry};
use crate::client::RailwayClient;
use crate::error::RailwayError;
use crate::model::ServiceBaseline;
use crate::timefmt::rfc3339;

/// The template (also listed in [`crate::OPERATIONS`] and checked against the schema).
pub const BASELINE_TEMPLATE: &str = include_str!("../graphql/ServiceHttpBaseline.graphql");
/// Length of the period before the window that describes a service's normal.
pub const BASELINE_PERIOD_SECONDS: i64 = 24 * 3600;
/// One sample per hour: 24 points per service.
pub const BASELINE_STEP_SECONDS: i64 = 3600;
/// Services per baseline read: one request's worth of aliases.
pub const MAX_BASELINE_SERVICES: usize = batch::MAX_ALIASES_PER_REQUEST;
/// Hours with traffic needed before a median counts as the service's normal.
pub const MIN_BASELINE_SAMPLES: usize = 6;

#[derive(Debug, Deserialize)]
struct Baseline {
    samples: Vec<Sample>,
}

#[derive(Debug, Deserialize)]
struct Sample {
    p95: f64,
}

/// The median of the period's p95 samples; hours without traffic (p95 of 0) are not part of the
/// normal. `None` below [`MIN_BASELINE_SAMPLES`] hours with traffic.
pub fn baseline_from_p95(samples: &[f64], period_seconds: i64) -> ServiceBaseline {
    let mut v: Vec<f64> = samples
        .iter()
        .copied()
        .filter(|p| p.is_finite() && *p > 0.0)
        .collect();
    v.sort_by(f64::total_cmp);
    let p95_ms = (v.len() >= MIN_BASELINE_SAMPLES).then(|| {
        let mid = v.len() / 2;
        if v.len().is_multiple_of(2) {
            (v[mid - 1] + v[mid]) / 2.0
        } else {
            v[mid]
        }
    });
    ServiceBaseline {
        period_seconds,
        p95_ms,
        cpu: None,
        memory_gb: None,
    }
}

impl RailwayClient {
    /// The p95 baselines of `service_ids` (at most [`MAX_BASELINE_SERVICES`]; the rest are left
    /// out) over the [`BASELINE_PERIOD_SECONDS`] ending at `before`: one request.
    pub async fn http_baselines(
        &self,
        service_ids: &[String],
        before: i64,
    ) -> Result<BTreeMap<String, ServiceBaseline>, RailwayError> {
        let ids = &service_ids[..service_ids.len().min(MAX_BASELINE_SERVICES)];
        // Where Railway offers no HTTP metrics (the `httpLogs` fallback), there is no coarse
        // history to read: judged without a normal, as before baselines existed.
        if ids.is_empty() || self.http_metrics_unavailable.load(Ordering::Relaxed) {
            return Ok(BTreeMap::new());
        }
        let entries: Vec<BatchEntry> = ids
            .iter()
            .map(|id| BatchEntry {
                vars: BTreeMap::from([("serviceId", json!(id))]),
                fields: vec!["baseline"],
            })
            .collect();
        let Value::Object(shared) = json!({
            "environmentId": self.credentials().environment_id,
            "startDate": rfc3339(before - BASELINE_PERIOD_SECONDS),
            "endDate": rfc3339(before),
            "stepSeconds": BASELINE_STEP_SECONDS,
        }) else {
            unreachable!("json! object literal")
        };
        let doc =
            batch::build(BASELINE_TEMPLATE, &entries, &shared).map_err(RailwayError::Config)?;
        let mut data: batch::BatchData = match self
            .query_document(&doc.operation, &doc.query, doc.variables)
            .await
        {
            Err(RailwayError::FieldUnavailable { field, .. }) if field == "httpDurationMetrics" => {
                self.http_metrics_unavailable.store(true, Ordering::Relaxed);
                return Ok(BTreeMap::new());
            }
            other => other?,
        };
        let mut out = BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            let read: Option<Baseline> =
                batch::take(&mut data, i, "baseline").map_err(|e| RailwayError::Decode {
                    operation: doc.operation.clone(),
                    reason: e.to_string(),
                })?;
            let p95: Vec<f64> = read
                .map(|b| b.samples.iter().map(|s| s.p95).collect())
                .unwrap_or_default();
            let baseline = baseline_from_p95(&p95, BASELINE_PERIOD_SECONDS);
            if baseline.p95_ms.is_some() {
                out.insert(id.clone(), baseline);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_is_the_median_of_hours_with_traffic() {
        let mut hours = vec![0.0; 10];
        hours.extend([40.0, 42.0, 45.0, 41.0, 44.0, 900.0, 43.0]);
        let b = baseline_from_p95(&hours, 86_400);
        assert_eq!(b.p95_ms, Some(43.0), "one bad hour is not the normal");
        assert_eq!(b.period_seconds, 86_400);
        assert_eq!(
            baseline_from_p95(&[40.0, 41.0, 0.0, 0.0], 86_400).p95_ms,
            None
        );
        assert_eq!(
            baseline_from_p95(&[10.0, 20.0, 30.0, 40.0, 50.0, 60.0], 86_400).p95_ms,
            Some(35.0)
        );
    }

    #[test]
    fn twenty_services_make_one_document_of_twenty_aliases() {
        let entries: Vec<BatchEntry> = (0..MAX_BASELINE_SERVICES)
            .map(|i| BatchEntry {
                vars: BTreeMap::from([("serviceId", json!(format!("svc-{i}")))]),
                fields: vec!["baseline"],
            })
            .collect();
        let Value::Object(shared) =
            json!({"environmentId": "e", "startDate": "a", "endDate": "b", "stepSeconds": 3600})
        else {
            unreachable!()
        };
        let doc = batch::build(BASELINE_TEMPLATE, &entries, &shared).unwrap();
        assert_eq!(doc.query.matches("httpDurationMetrics").count(), 20);
        assert!(
            doc.query.contains("s19_baseline:httpDurationMetrics"),
            "{}",
            doc.query
        );
    }
}
