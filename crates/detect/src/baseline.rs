//! Which services need their normal read before they can be judged.

use railway::model::{Architecture, HttpReport};

use crate::Thresholds;

/// The services whose latency a baseline can change the verdict on, most latent first, at most
/// `max`: those whose p95 (over the window or in any bucket) reaches the lower of
/// `baseline_p95_floor_ms` and `p95_warning_ms`. Below both, neither baseline rule can fire (a
/// regression needs the floor; a service judged against a high normal is one above the warning
/// level), so their verdict is the same with or without a baseline, and the read stays one
/// request whatever the number of services.
pub fn baseline_candidates(
    arch: &Architecture,
    http: &HttpReport,
    t: &Thresholds,
    max: usize,
) -> Vec<String> {
    let level = t.baseline_p95_floor_ms.min(t.p95_warning_ms);
    let mut peaks: Vec<(f64, &str)> = arch
        .services
        .iter()
        .filter(|s| !s.is_database)
        .filter_map(|s| {
            let stats = http.services.get(&s.id)?;
            let peak = stats
                .latency_timeline
                .iter()
                .map(|b| b.ms.p95)
                .chain(stats.latency_ms.iter().map(|p| p.p95))
                .filter(|p| p.is_finite())
                .fold(f64::NEG_INFINITY, f64::max);
            (peak >= level).then_some((peak, s.id.as_str()))
        })
        .collect();
    peaks.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    peaks
        .into_iter()
        .take(max)
        .map(|(_, id)| id.to_owned())
        .collect()
}
