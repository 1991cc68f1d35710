//! What the detection test files share: a default-threshold run over a snapshot and the compact
//! form of its verdict.

use detect::{FindingKind, Report, Severity, Thresholds, detect};
use railway::model::ProjectSnapshot;

/// Detection over the whole snapshot with the default thresholds.
pub fn run(snap: &ProjectSnapshot) -> Report {
    detect(
        &snap.architecture,
        &snap.resources,
        &snap.http,
        &Thresholds::default(),
    )
}

/// `(service name, kind, severity)` of every finding, in report order.
pub fn verdict(report: &Report) -> Vec<(String, FindingKind, Severity)> {
    report
        .findings
        .iter()
        .map(|f| (f.service.clone(), f.kind, f.severity))
        .collect()
}
