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
        // A leak is a slope. Differences of consecutive samples drown in sampling noise, so each
        // sample is turned into the average growth since the window's start (baseline: the mean
        // of its first samples), skipping the first quarter of the window where the elapsed time
        // is too short for the rate to mean anything.
        "memory_growth_mb_per_hour" => usage
            .map(|u| growth_since_start(&u.memory_gb))
            .unwrap_or_default(),
        "rate_5xx" | "rate_5xx_recent" => rate(|c| c.s5xx),
        "rate_4xx" => rate(|c| c.s4xx),
        "p95_ms" => stats
            .map(|s| s.latency_timeline.iter().map(|l| l.ms.p95).collect())
            .unwrap_or_default(),
        _ => return None,
    })
}

/// Samples averaged into the baseline of [`growth_since_start`].
const BASELINE_SAMPLES: usize = 4;

/// Per sample, `(value − baseline) / elapsed` in MB/h, for samples at least a quarter of the
/// series' span after the baseline.
fn growth_since_start(samples: &[railway::model::Sample]) -> Vec<f64> {
    if samples.len() <= BASELINE_SAMPLES {
        return Vec::new();
    }
    let head = &samples[..BASELINE_SAMPLES];
    let n = head.len() as f64;
    let base_v = head.iter().map(|s| s.value).sum::<f64>() / n;
    let base_t = head.iter().map(|s| s.ts as f64).sum::<f64>() / n;
    let span = (samples[samples.len() - 1].ts as f64 - base_t).max(1.0);
    samples[BASELINE_SAMPLES..]
        .iter()
        .filter(|s| s.ts as f64 - base_t >= span / 4.0)
        .map(|s| (s.value - base_v) * MB_PER_GB / ((s.ts as f64 - base_t) / 3600.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use railway::model::Sample;

    #[test]
    fn growth_since_start_recovers_a_noisy_slope() {
        // +45 MB/h with ±2 MB of alternating noise, 30 s apart, over 30 minutes.
        let samples: Vec<Sample> = (0..60)
            .map(|i| Sample {
                ts: i * 30,
                value: (500.0
                    + 45.0 * (i * 30) as f64 / 3600.0
                    + if i % 2 == 0 { 2.0 } else { -2.0 })
                    / MB_PER_GB,
            })
            .collect();
        let rates = growth_since_start(&samples);
        assert!(rates.len() > 40, "{}", rates.len());
        let median = crate::stats::median(&rates).unwrap();
        assert!((median - 45.0).abs() < 6.0, "{median}");
        assert!(growth_since_start(&samples[..3]).is_empty());
    }
}
