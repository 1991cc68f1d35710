//! The per-sample series behind each finding metric, read from the same Railway reports
//! detection reads, in the finding's unit: what the before/after test compares.

use railway::model::{HttpReport, ResourceReport};

/// Detection's conversion (decimal megabytes), so growth rates match the finding's `MB/h`.
const MB_PER_GB: f64 = 1000.0;

/// The series for `metric` (a [`detect::Finding::metric`]) of one service; `None` for metrics
/// that are a state rather than a series (a crashed deployment), or that Autofix does not know.
pub fn series(
    metric: &str,
    service_id: &str,
    resources: &ResourceReport,
    http: &HttpReport,
) -> Option<Vec<f64>> {
    let usage = resources.services.get(service_id);
    let stats = http.services.get(service_id);
    let share = |samples: &[railway::model::Sample], limit: Option<f64>| -> Vec<f64> {
        match limit.filter(|l| *l > 0.0) {
            Some(l) => samples.iter().map(|s| s.value / l * 100.0).collect(),
            None => Vec::new(),
        }
    };
    let rate = |part: fn(&railway::model::StatusCounts) -> u64| -> Vec<f64> {
        stats
            .map(|s| {
                s.timeline
                    .iter()
                    .filter(|b| b.counts.total() > 0)
                    .map(|b| part(&b.counts) as f64 / b.counts.total() as f64 * 100.0)
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(match metric {
        "cpu_share_of_limit" => usage.map_or_else(Vec::new, |u| share(&u.cpu, u.cpu_limit)),
        "memory_share_of_limit" => {
            usage.map_or_else(Vec::new, |u| share(&u.memory_gb, u.memory_limit_gb))
        }
        // A leak is a slope: compare the growth between consecutive samples, in MB/h.
        "memory_growth_mb_per_hour" => usage
            .map(|u| {
                u.memory_gb
                    .windows(2)
                    .filter(|w| w[1].ts > w[0].ts)
                    .map(|w| {
                        (w[1].value - w[0].value) * MB_PER_GB / ((w[1].ts - w[0].ts) as f64 / 3600.0)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "rate_5xx" | "rate_5xx_recent" => rate(|c| c.s5xx),
        "rate_4xx" => rate(|c| c.s4xx),
        "p95_ms" => stats
            .map(|s| s.latency_timeline.iter().map(|l| l.ms.p95).collect())
            .unwrap_or_default(),
        _ => return None,
    })
}
