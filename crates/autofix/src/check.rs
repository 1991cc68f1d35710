//! `autofix check`: one cycle in-process, same function code, no durability, no agent.

use anyhow::Context;
use serde::Serialize;

use crate::config::Options;
use crate::deps;
use pipeline::events::HEALTH_CHECK_REQUESTED;
use pipeline::{ContextReport, FixOutcome, MonitorReport};

/// The `--json` document (documented in the README).
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// The cycle read the built-in demo project, not Railway.
    pub demo: bool,
    /// Railway project name.
    pub project: String,
    /// Railway environment name.
    pub environment: String,
    /// The detection window.
    pub window: railway::model::TimeWindow,
    /// No incident was found.
    pub healthy: bool,
    /// Every finding: incidents, observations and recoveries.
    pub findings: Vec<detect::Finding>,
    /// Fingerprints of the incidents, as the PR branches and issues carry them.
    pub fingerprints: Vec<String>,
    /// Services left out of the cycle (AUTOFIX_IGNORE_SERVICES, the worker, OpenCode).
    pub ignored_services: Vec<pipeline::IgnoredService>,
    /// Each incident's signal over the window (points, threshold, deployments).
    pub charts: Vec<charts::Chart>,
    /// The project's services and how they connect, as Markdown.
    pub architecture_markdown: String,
    /// The findings table, as Markdown.
    pub findings_markdown: String,
    /// The evidence read for each affected service.
    pub contexts: Vec<evidence::ServiceContext>,
    /// What `generate-fix` did for each repository (analysis, decision, PR).
    pub fixes: Vec<FixOutcome>,
    /// Failures of any function in the chain (name: message).
    pub errors: Vec<String>,
}

/// `autofix check`: one monitoring cycle in-process (no Inngest), printed as text or as the
/// `--json` document, optionally with a self-contained HTML report at `html`.
pub async fn run(
    options: Options,
    json: bool,
    html: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let built = deps::build(&options, deps::Purpose::Check).await?;
    let functions = pipeline::functions(built.deps.clone()).context("AUTOFIX_CRON")?;
    let runner = inngest::InlineRunner::new(functions);
    let event = inngest::Event::new(
        HEALTH_CHECK_REQUESTED,
        serde_json::json!({"reason": "autofix check"}),
    )?;
    let runs = runner.run(event).await;

    let mut monitor: Option<MonitorReport> = None;
    let mut contexts = Vec::new();
    let mut fixes = Vec::new();
    let mut errors = Vec::new();
    for run in runs {
        let output = match run.output {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!("{}: {e}", run.function_id));
                continue;
            }
        };
        match run.function_id.as_str() {
            pipeline::MONITOR_FN => {
                monitor = Some(serde_json::from_value(output).context("monitor output")?)
            }
            pipeline::CONTEXT_FN => {
                let report: ContextReport =
                    serde_json::from_value(output).context("context output")?;
                contexts.extend(report.contexts);
            }
            pipeline::FIX_FN => {
                fixes.push(serde_json::from_value::<FixOutcome>(output).context("fix output")?)
            }
            _ => {}
        }
    }
    let Some(monitor) = monitor else {
        anyhow::bail!("monitor-project-health failed: {}", errors.join("; "));
    };
    let report = CheckReport {
        demo: monitor.demo,
        project: monitor.project,
        environment: monitor.environment,
        window: monitor.window,
        healthy: monitor.healthy,
        findings: monitor.findings,
        fingerprints: monitor.fingerprints,
        ignored_services: monitor.ignored_services,
        charts: monitor.charts,
        architecture_markdown: monitor.architecture_markdown,
        findings_markdown: monitor.findings_markdown,
        contexts,
        fixes,
        errors,
    };
    if let Some(path) = html {
        write_atomically(path, &html_report(&report, &built.describe))
            .with_context(|| format!("--html {}", path.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report, &built.describe);
    }
    if !report.errors.is_empty() {
        anyhow::bail!("{} function run(s) failed", report.errors.len());
    }
    Ok(())
}

fn print_text(r: &CheckReport, d: &deps::Describe) {
    let label = if r.demo {
        " [DEMO PROJECT — built-in data, not your Railway account]"
    } else {
        ""
    };
    println!("# Autofix check: {} / {}{label}", r.project, r.environment);
    println!("analysis: {} · agent: {}", d.llm, d.agent);
    if r.ignored_services.is_empty() {
        println!("ignored services: none (rules: {})", d.ignored);
    } else {
        let list: Vec<String> = r
            .ignored_services
            .iter()
            .map(|s| format!("{} ({})", s.name, s.why))
            .collect();
        println!("ignored services: {}", list.join(", "));
    }
    println!();
    println!("## Architecture\n{}", r.architecture_markdown.trim_end());
    println!();
    println!("## Findings\n{}", r.findings_markdown.trim_end());
    print_sparklines(&r.charts);
    if r.healthy {
        println!("\nAll services healthy: no incident, nothing to fix.");
        return;
    }
    println!();
    println!("## Evidence (the LLM sees more: `--json` has all of it)");
    for c in &r.contexts {
        print_evidence(c);
    }
    println!();
    println!("## Fix plan");
    for f in &r.fixes {
        let repo = f.repo.as_deref().unwrap_or("(no repository)");
        println!("### {repo} — fingerprint {}", f.fingerprint);
        println!("{}", f.analysis_markdown.trim_end());
        println!(
            "outcome: {:?}{}",
            f.status,
            f.reason
                .as_deref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        );
        if let Some(task) = &f.task {
            println!(
                "\n#### Task for the coding agent (branch {})\n{}",
                task.branch,
                task.prompt_text.trim_end()
            );
        }
        println!();
    }
    for e in &r.errors {
        println!("error: {e}");
    }
}

/// A few lines per service: the strongest log patterns, failing and slow routes, upstreams.
fn print_evidence(c: &evidence::ServiceContext) {
    println!(
        "### {}{}",
        c.service,
        c.repo
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    let mut shown = 0;
    for p in c
        .log_patterns
        .iter()
        .filter(|p| !matches!(p.level.as_str(), "info" | "debug" | "trace"))
        .take(4)
    {
        println!(
            "- log {} ×{}: {}",
            p.level,
            p.count,
            one_line(&p.pattern, 140)
        );
        shown += 1;
    }
    for g in c.http_failures.iter().take(3) {
        println!(
            "- HTTP {} {} {} ×{}",
            g.status,
            g.method,
            one_line(&g.route, 80),
            g.count
        );
        shown += 1;
    }
    for g in c.slow_requests.iter().take(2) {
        let p95 = g
            .p95_ms
            .map(|ms| format!(" p95 {:.1} s", ms / 1000.0))
            .unwrap_or_default();
        println!(
            "- slow {} {} ×{}{p95}",
            g.method,
            one_line(&g.route, 80),
            g.count
        );
        shown += 1;
    }
    for u in &c.upstreams {
        println!(
            "- upstream {}: {:?} {}",
            u.name,
            u.health,
            u.incidents.join("; ")
        );
        shown += 1;
    }
    if shown == 0 {
        println!("- no errors, warnings or failing requests in the window");
    }
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}

/// One sparkline per incident: coloured on a terminal, plain characters when piped (or with
/// `NO_COLOR`), so a redirected report stays clean text.
fn print_sparklines(charts: &[charts::Chart]) {
    use std::io::IsTerminal;
    if charts.is_empty() {
        return;
    }
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    println!();
    for c in charts {
        let values = c.values();
        let line = if colour {
            charts::sparkline_ansi(&values, c.threshold, 48)
        } else {
            charts::sparkline(&values, c.threshold, 48)
        };
        let peak = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let threshold = c
            .threshold
            .map(|t| format!(", threshold {t} {}", c.unit))
            .unwrap_or_default();
        println!(
            "{:<24} {line}  {} (peak {peak:.1} {}{threshold})",
            c.service, c.signal, c.unit
        );
    }
}

fn html_report(r: &CheckReport, d: &deps::Describe) -> String {
    let window = |ts: i64| {
        time::OffsetDateTime::from_unix_timestamp(ts)
            .map(|t| {
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute()
                )
            })
            .unwrap_or_default()
    };
    let findings = r
        .findings
        .iter()
        .map(|f| html_report::FindingRow {
            severity: format!("{:?}", f.severity).to_lowercase(),
            service: f.service.clone(),
            kind: f.kind.as_str().into(),
            value: format!("{} {}", f.value, f.unit),
            threshold: format!("{} {}", f.threshold, f.unit),
            evidence: f.evidence.clone(),
            fingerprint: f.fingerprint.clone(),
        })
        .collect();
    let evidence = r
        .contexts
        .iter()
        .map(|c| html_report::Section {
            heading: c.service.clone(),
            body: serde_json::to_string_pretty(c).unwrap_or_default(),
        })
        .collect();
    let fix_plan = r
        .fixes
        .iter()
        .map(|f| {
            let mut body = f.analysis_markdown.trim_end().to_owned();
            body.push_str(&format!(
                "\n\noutcome: {:?}{}",
                f.status,
                f.reason
                    .as_deref()
                    .map(|x| format!(" — {x}"))
                    .unwrap_or_default()
            ));
            if let Some(t) = &f.task {
                body.push_str(&format!(
                    "\n\nTask for the coding agent (branch {}):\n{}",
                    t.branch, t.prompt_text
                ));
            }
            html_report::Section {
                heading: format!(
                    "{} — fingerprint {}",
                    f.repo.as_deref().unwrap_or("(no repository)"),
                    f.fingerprint
                ),
                body,
            }
        })
        .collect();
    html_report::render(&html_report::Report {
        title: format!("Autofix check: {} / {}", r.project, r.environment),
        subtitle: format!(
            "window {} – {} UTC · analysis: {} · agent: {}",
            window(r.window.start),
            window(r.window.end),
            d.llm,
            d.agent
        ),
        banner: r
            .demo
            .then(|| "DEMO PROJECT — built-in data, not your Railway account".to_owned()),
        architecture: r.architecture_markdown.clone(),
        findings,
        charts: r.charts.clone(),
        evidence,
        fix_plan,
    })
}

/// Writes to a sibling temporary file, then renames: a reader never sees half a report, and a
/// failed write leaves any previous report in place.
fn write_atomically(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report.html".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
