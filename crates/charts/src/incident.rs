//! The signal behind a finding, taken from the data detection read.

use detect::{Finding, FindingKind};
use railway::model::{Architecture, HttpReport, ResourceReport, Sample};

use crate::{Chart, Marker, Point};

/// The chart of one incident: the series its kind is judged on, the threshold it crossed (when
/// it has one in the same unit) and the service's deployments inside the window. `None` when
/// the window holds no samples for it, or for kinds without a series (a crashed deployment).
pub fn for_finding(
    finding: &Finding,
    arch: &Architecture,
    resources: &ResourceReport,
    http: &HttpReport,
) -> Option<Chart> {
    let id = finding.service_id.as_str();
    let usage = resources.services.get(id);
    let stats = http.services.get(id);
    let share = |samples: &[Sample], limit: Option<f64>| -> Vec<Point> {
        match limit.filter(|l| *l > 0.0) {
            Some(limit) => samples
                .iter()
                .map(|s| Point {
                    ts: s.ts,
                    value: s.value / limit * 100.0,
                })
                .collect(),
            None => Vec::new(),
        }
    };
    let (signal, unit, points, threshold) = match finding.kind {
        FindingKind::Cpu => {
            let u = usage?;
            let p = share(&u.cpu, u.cpu_limit);
            ("CPU share of limit", "%", p, Some(finding.threshold))
        }
        FindingKind::Memory => {
            let u = usage?;
            let p = share(&u.memory_gb, u.memory_limit_gb);
            ("memory share of limit", "%", p, Some(finding.threshold))
        }
        // The finding's threshold is a growth rate (MB/h): not a level that fits this axis.
        FindingKind::MemoryTrend => {
            let u = usage?;
            let p = share(&u.memory_gb, u.memory_limit_gb);
            ("memory share of limit", "%", p, None)
        }
        FindingKind::ErrorRate5xx | FindingKind::ErrorRate4xx => {
            let s = stats?;
            let five = finding.kind == FindingKind::ErrorRate5xx;
            let p = s
                .timeline
                .iter()
                .map(|b| {
                    let total = b.counts.total();
                    let bad = if five { b.counts.s5xx } else { b.counts.s4xx };
                    Point {
                        ts: b.ts,
                        value: if total == 0 {
                            0.0
                        } else {
                            bad as f64 / total as f64 * 100.0
                        },
                    }
                })
                .collect();
            let signal = if five { "5xx share" } else { "4xx share" };
            (signal, "%", p, Some(finding.threshold))
        }
        FindingKind::Latency => {
            let s = stats?;
            let p = s
                .latency_timeline
                .iter()
                .map(|l| Point {
                    ts: l.ts,
                    value: l.ms.p95,
                })
                .collect();
            ("p95 latency", "ms", p, Some(finding.threshold))
        }
        // Observations without a series of their own: nothing to chart.
        FindingKind::Deployment | FindingKind::Scanners => return None,
    };
    if points.is_empty() {
        return None;
    }
    let markers = arch
        .service(id)
        .and_then(|s| s.latest_deployment.as_ref())
        .and_then(|d| {
            let ts = railway::timefmt::unix(&d.created_at)?;
            let first = points.first()?.ts;
            let last = points.last()?.ts;
            (first..=last).contains(&ts).then(|| Marker {
                ts,
                label: match &d.commit_hash {
                    Some(c) => format!("deploy {}", c.chars().take(7).collect::<String>()),
                    None => "deploy".into(),
                },
            })
        })
        .into_iter()
        .collect();
    Some(Chart {
        fingerprint: finding.fingerprint.clone(),
        service: finding.service.clone(),
        signal: signal.into(),
        unit: unit.into(),
        points,
        threshold,
        markers,
    })
}

/// Charts of every incident among `findings`, in their order, one per fingerprint.
pub fn for_findings(
    findings: &[Finding],
    arch: &Architecture,
    resources: &ResourceReport,
    http: &HttpReport,
) -> Vec<Chart> {
    let mut seen = std::collections::BTreeSet::new();
    findings
        .iter()
        .filter(|f| f.is_incident() && seen.insert(f.fingerprint.clone()))
        .filter_map(|f| for_finding(f, arch, resources, http))
        .collect()
}
