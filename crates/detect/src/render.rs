//! Compact Markdown for the Inngest UI and for LLM prompts: one line per service or finding, no
//! decoration that costs tokens without carrying facts.

use std::fmt::Write as _;

use railway::model::{Architecture, DeploymentStatus, ResourceReport, Service, TimeWindow};

use crate::rules::{fmt_gb, fmt_num};
use crate::{Report, Severity};

/// `2026-11-23 08:40 UTC`, or the raw number if out of range.
fn fmt_ts(ts: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => ts.to_string(),
    }
}

fn fmt_window(w: &TimeWindow) -> String {
    let start = fmt_ts(w.start);
    let end = fmt_ts(w.end);
    // Same day: print the date once.
    let end = if start.get(..10) == end.get(..10) {
        end[11..].to_owned()
    } else {
        end
    };
    let start = start.trim_end_matches(" UTC");
    format!("{start}–{end} ({} min)", w.seconds() / 60)
}

fn status_text(s: &DeploymentStatus) -> String {
    match serde_json::to_value(s) {
        Ok(serde_json::Value::String(v)) => v,
        _ => format!("{s:?}"),
    }
}

/// Services, their source, deployment, limits and volumes, one line each. With `resources`,
/// each line also carries median CPU and memory as a share of the limit.
pub fn architecture_summary_markdown(
    arch: &Architecture,
    resources: Option<&ResourceReport>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Project **{}** / environment **{}**: {} service{}, {} volume{}",
        arch.project.name,
        arch.environment.name,
        arch.services.len(),
        plural(arch.services.len()),
        arch.volumes.len(),
        plural(arch.volumes.len())
    );
    for svc in &arch.services {
        let _ = writeln!(out, "- {}", service_line(arch, svc, resources));
    }
    out
}

fn service_line(arch: &Architecture, svc: &Service, resources: Option<&ResourceReport>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut head = format!("**{}**", svc.name);
    if svc.is_database {
        head.push_str(" (database)");
    }
    parts.push(head);
    match (&svc.source.repo, &svc.source.image) {
        (Some(repo), _) => parts.push(format!("repo {repo}")),
        (None, Some(image)) => parts.push(format!("image {image}")),
        (None, None) => parts.push("no source".into()),
    }
    if let Some(b) = &svc.builder {
        parts.push(b.to_lowercase());
    }
    if let Some(dir) = svc
        .root_directory
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "/")
    {
        parts.push(format!("root {dir}"));
    }
    if let Some(d) = &svc.latest_deployment {
        let commit = d
            .commit_hash
            .as_deref()
            .map(|c| format!(" @{}", &c[..c.len().min(7)]))
            .unwrap_or_default();
        parts.push(format!("deploy {}{commit}", status_text(&d.status)));
    } else {
        parts.push("no deployment".into());
    }
    if let Some(r) = svc.replicas.filter(|r| *r != 1) {
        parts.push(format!("{r} replicas"));
    }
    if let Some(region) = &svc.region {
        parts.push(region.clone());
    }
    if let Some(u) = resources.and_then(|r| r.services.get(&svc.id)) {
        let mut usage = Vec::new();
        let median = |v: &[railway::model::Sample]| {
            crate::stats::percentile(&v.iter().map(|s| s.value).collect::<Vec<_>>(), 0.5)
        };
        match (median(&u.cpu), u.cpu_limit.filter(|l| *l > 0.0)) {
            (Some(m), Some(l)) => {
                usage.push(format!("cpu {:.0}% of {} vCPU", m / l * 100.0, fmt_num(l)))
            }
            (Some(m), None) => usage.push(format!("cpu {} vCPU (no limit)", fmt_num(m))),
            (None, Some(l)) => usage.push(format!("cpu limit {} vCPU", fmt_num(l))),
            (None, None) => {}
        }
        match (median(&u.memory_gb), u.memory_limit_gb.filter(|l| *l > 0.0)) {
            (Some(m), Some(l)) => usage.push(format!("mem {:.0}% of {}", m / l * 100.0, fmt_gb(l))),
            (Some(m), None) => usage.push(format!("mem {} (no limit)", fmt_gb(m))),
            (None, Some(l)) => usage.push(format!("mem limit {}", fmt_gb(l))),
            (None, None) => {}
        }
        if !usage.is_empty() {
            parts.push(usage.join(", "));
        }
    }
    for v in arch.volumes_of(&svc.id) {
        parts.push(format!(
            "volume {} at {} {:.0}/{:.0} MB",
            v.name, v.mount_path, v.current_size_mb, v.size_mb
        ));
    }
    if !svc.domains.is_empty() {
        parts.push(svc.domains.join(" "));
    }
    parts.join(" · ")
}

/// The window, a one-line verdict, then one table row per finding (incidents first) and the
/// services skipped checks, so a reader knows what was not judged.
pub fn findings_markdown(report: &Report, arch: &Architecture) -> String {
    let mut out = String::new();
    let incidents = report.incidents().count();
    let recovered = report.recovered().count();
    let observations = report.findings.len() - incidents - recovered;
    let affected = report.affected_services().len();
    let _ = writeln!(out, "Window {}", fmt_window(&report.window));
    if report.findings.is_empty() {
        let _ = writeln!(out, "All {} services healthy.", report.services.len());
    } else {
        let recovered_text = if recovered > 0 {
            format!(", {recovered} recovered")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{incidents} incident{} on {affected} service{}, {observations} observation{}{recovered_text}.",
            plural(incidents),
            plural(affected),
            plural(observations)
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| severity | service | kind | value | threshold | evidence |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for f in &report.findings {
            let sev = match f.severity {
                Severity::Critical => "**critical**",
                Severity::Warning => "warning",
                Severity::Observation => "observation",
                Severity::Recovered => "recovered",
            };
            let sampled = if f.sampled.is_some() {
                " (sampled)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "| {sev} | {} | {} | {} {}{sampled} | {} {} | {} |",
                cell(&f.service),
                f.kind.as_str(),
                fmt_num(f.value),
                f.unit,
                fmt_num(f.threshold),
                f.unit,
                cell(&f.evidence)
            );
        }
    }
    let healthy: Vec<&str> = report
        .services
        .iter()
        .filter(|s| s.status == crate::HealthStatus::Healthy)
        .map(|s| s.service.as_str())
        .collect();
    if !healthy.is_empty() && !report.findings.is_empty() {
        let _ = writeln!(out, "\nHealthy: {}.", healthy.join(", "));
    }
    let notes: Vec<String> = report
        .services
        .iter()
        .filter(|s| !s.notes.is_empty())
        .map(|s| {
            let name = arch
                .service(&s.service_id)
                .map(|x| x.name.as_str())
                .unwrap_or(&s.service);
            format!("- {name}: {}", s.notes.join("; "))
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNot judged:");
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Service names and evidence come from the user's project: keep them from breaking the table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_prints_the_date_once() {
        let w = TimeWindow {
            start: 1_795_423_200,
            end: 1_795_425_000,
        };
        assert_eq!(fmt_window(&w), "2026-11-23 08:40–09:10 UTC (30 min)");
    }

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
