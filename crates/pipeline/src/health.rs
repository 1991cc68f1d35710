//! The verdict of one health read, bounded so that what Inngest stores (the `read-health` step
//! output) and what the next event carries stay well under Inngest's limits whatever the
//! project's size: 512 KB at 2 000 services and a 60-minute window, against a 4 MiB step-output
//! and a 256 KiB (Free) event limit.
//!
//! Detection sees the full series; only its result is kept: every incident (up to
//! [`MAX_INCIDENTS`]), the first [`MAX_OBSERVATIONS`] observations, the affected services, and
//! markdown summaries cut to a byte budget that always keeps the affected services' lines.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use detect::{Finding, Thresholds};
use railway::model::{Architecture, EnvironmentRef, HttpReport, ProjectRef, ResourceReport};
use serde::{Deserialize, Serialize};

use crate::IgnoredService;
use crate::events::AffectedService;

/// Incidents kept per cycle, worst first. Beyond this many at once, the cycle is an outage that
/// needs a person more than one fix per service.
pub const MAX_INCIDENTS: usize = 200;
/// Recoveries and observations kept per cycle (informational, never acted on).
pub const MAX_OBSERVATIONS: usize = 100;
/// Incident charts kept per cycle (each is one series at the window's resolution, ~3 KB), worst
/// incident first.
pub const MAX_CHARTS: usize = 24;
/// Ignored services listed by name; beyond, only their number.
pub const MAX_IGNORED_LISTED: usize = 200;
/// Budget of the architecture summary that also travels in both events.
pub const MAX_ARCHITECTURE_MARKDOWN_BYTES: usize = 48 * 1024;
/// Budget of the findings table.
pub const MAX_FINDINGS_MARKDOWN_BYTES: usize = 64 * 1024;

/// What detection reads. Keep it the one place inputs are gathered (`monitor::read_inputs`), so
/// new inputs reach detection without changing the step structure.
#[derive(Debug, Clone)]
pub struct DetectionInputs {
    /// The monitored services only (the selection already applied).
    pub architecture: Architecture,
    /// Services of the environment the selection left out, and why.
    pub ignored: Vec<IgnoredService>,
    pub resources: ResourceReport,
    pub http: HttpReport,
    /// Deployment history (suspect deployments) and baselines.
    pub history: detect::Context,
}

/// Output of the `read-health` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthRead {
    pub project: ProjectRef,
    pub environment: EnvironmentRef,
    /// Services monitored this cycle.
    pub services: usize,
    /// Incidents, then recoveries and observations, worst first (bounded).
    pub findings: Vec<Finding>,
    /// Findings detection produced but left out of `findings`.
    pub omitted_findings: usize,
    /// Services with a kept incident, plus the environment's databases.
    pub affected: Vec<AffectedService>,
    pub architecture_markdown: String,
    pub findings_markdown: String,
    /// Signals of the first [`MAX_CHARTS`] incidents.
    pub charts: Vec<charts::Chart>,
    /// Services the selection left out (the first [`MAX_IGNORED_LISTED`]).
    pub ignored_services: Vec<IgnoredService>,
    /// Ignored services beyond those listed.
    #[serde(default)]
    pub omitted_ignored: usize,
}

impl HealthRead {
    pub fn incidents(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_incident())
    }

    /// Distinct incident fingerprints, sorted.
    pub fn fingerprints(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.incidents().map(|f| f.fingerprint.clone()).collect();
        set.into_iter().collect()
    }
}

/// Runs detection over the inputs and keeps its bounded result.
pub fn summarize(inputs: DetectionInputs, thresholds: &Thresholds) -> HealthRead {
    let arch = &inputs.architecture;
    let report = detect::detect_with(
        arch,
        &inputs.resources,
        &inputs.http,
        thresholds,
        &inputs.history,
    );
    let total = report.findings.len();
    // `detect` sorts worst first, so the kept findings are the most severe.
    let incidents: Vec<Finding> = report.incidents().take(MAX_INCIDENTS).cloned().collect();
    let others = report
        .findings
        .iter()
        .filter(|f| !f.is_incident())
        .take(MAX_OBSERVATIONS)
        .cloned();
    let affected = affected_services(arch, &incidents);
    let keep: BTreeSet<&str> = affected.iter().map(|s| s.id.as_str()).collect();
    let architecture_markdown = bounded_lines(
        &detect::architecture_summary_markdown(arch, Some(&inputs.resources)),
        |i| {
            arch.services
                .get(i)
                .is_some_and(|s| keep.contains(s.id.as_str()))
        },
        MAX_ARCHITECTURE_MARKDOWN_BYTES,
        "services",
    );
    let findings_markdown = bounded_lines(
        &detect::findings_markdown(&report, arch),
        |_| false,
        MAX_FINDINGS_MARKDOWN_BYTES,
        "lines",
    );
    let mut charts = charts::for_findings(&incidents, arch, &inputs.resources, &inputs.http);
    charts.truncate(MAX_CHARTS);
    let mut findings = incidents;
    findings.extend(others);
    let mut ignored_services = inputs.ignored;
    let omitted_ignored = ignored_services.len().saturating_sub(MAX_IGNORED_LISTED);
    ignored_services.truncate(MAX_IGNORED_LISTED);
    HealthRead {
        project: arch.project.clone(),
        environment: arch.environment.clone(),
        services: arch.services.len(),
        omitted_findings: total - findings.len(),
        findings,
        affected,
        architecture_markdown,
        findings_markdown,
        charts,
        ignored_services,
        omitted_ignored,
    }
}

/// Databases whose logs join an incident's evidence, at most.
pub const MAX_DATABASES: usize = 10;

/// Services with incidents, plus the databases of the environment (the first
/// [`MAX_DATABASES`] in Railway's order, those with an incident always): a slow API is often a
/// slow database, and its logs are the evidence.
pub fn affected_services(arch: &Architecture, incidents: &[Finding]) -> Vec<AffectedService> {
    let mut databases = 0;
    arch.services
        .iter()
        .filter(|s| {
            let incident = incidents.iter().any(|f| f.service_id == s.id);
            let database = s.is_database && databases < MAX_DATABASES;
            databases += usize::from(s.is_database && !incident && database);
            incident || database
        })
        .map(|s| AffectedService {
            id: s.id.clone(),
            name: s.name.clone(),
            repo: s.source.repo.clone(),
            root_directory: s.root_directory.clone(),
            deployment_id: s.latest_deployment.as_ref().map(|d| d.id.clone()),
            is_database: s.is_database,
        })
        .collect()
}

/// Cuts markdown to `budget` bytes at line boundaries. The first line (a header) always stays;
/// body line `i` (0-based after the header) is kept first when `must(i)`, then the others in
/// order while they fit; one closing line says how many were left out.
fn bounded_lines(text: &str, must: impl Fn(usize) -> bool, budget: usize, what: &str) -> String {
    if text.len() <= budget {
        return text.to_owned();
    }
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let body: Vec<&str> = lines.collect();
    // Room for the closing line.
    let mut used = header.len() + 1 + 80;
    let mut keep = vec![false; body.len()];
    for pass_must in [true, false] {
        for (i, line) in body.iter().enumerate() {
            if keep[i] || must(i) != pass_must {
                continue;
            }
            if used + line.len() + 1 > budget {
                if pass_must {
                    continue;
                }
                break;
            }
            used += line.len() + 1;
            keep[i] = true;
        }
    }
    let mut out = String::with_capacity(used);
    let _ = writeln!(out, "{header}");
    for (line, _) in body.iter().zip(&keep).filter(|(_, k)| **k) {
        let _ = writeln!(out, "{line}");
    }
    let left = keep.iter().filter(|k| !**k).count();
    let _ = writeln!(
        out,
        "- … {left} more {what} not shown (kept under {budget} bytes)"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines_keep_header_required_lines_and_count_the_rest() {
        let text: String = std::iter::once("# head".to_owned())
            .chain((0..100).map(|i| format!("- line {i:03} {}", "x".repeat(20))))
            .map(|l| l + "\n")
            .collect();
        assert_eq!(bounded_lines(&text, |_| false, text.len(), "x"), text);
        let out = bounded_lines(&text, |i| i == 99, 600, "services");
        assert!(out.len() <= 600, "{}", out.len());
        assert!(out.starts_with("# head\n- line 000"));
        assert!(out.contains("- line 099"), "required line kept");
        let shown = out.lines().filter(|l| l.starts_with("- line")).count();
        assert!(
            out.contains(&format!("{} more services not shown", 100 - shown)),
            "{out}"
        );
    }
}
