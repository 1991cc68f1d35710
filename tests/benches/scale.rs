//! Scale benchmark: one monitoring cycle (monitor → context → fix, as `autofix check` runs it)
//! over generated projects of S = 3 … 2 000 services and over a workspace of 50 projects × 10
//! services, against the schema-validating fake Railway API.
//!
//! `cargo bench -p autofix-tests --bench scale` prints one row per size: Railway requests, bytes
//! received, the largest request (root fields, data points), the largest step output and event,
//! peak RSS and CPU time of the cycle. The fake runs in this process; each cycle runs in a child
//! process (this binary re-executed) so its peak RSS is its own (`VmHWM` of `/proc/self/status`,
//! CPU from `/proc/self/stat`, both read by the child at the end of its cycle); the child's
//! clients share one pacer of the default plan, as a worker's do. `--sizes 3,40` picks sizes,
//! `--window 30` the window in minutes (default 60).
//!
//! The run exits non-zero when a function run fails, when an incident the generator planted is
//! not found, when the fake's and the clients' request or byte counts disagree, or when a budget
//! is exceeded: a step output or event of 512 KB, 20 aliases or 30 000 points in one Railway
//! request, the plan's requests per second, peak RSS of 64 MB at S = 500 and 160 MB at 2 000.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use autofix_tests::fake_railway::{FakeAuth, FakeRailway};
use autofix_tests::harness::offline_deps;
use railway::{ClientConfig, Credentials, Pacer, Plan, RailwayClient, Source, Token};
use serde::{Deserialize, Serialize};
use serde_json::json;

const TOKEN: &str = "bench-token";
const WORKSPACE: (usize, usize) = (50, 10);

/// What the child measures about its own cycle.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ChildReport {
    runs: usize,
    failed: Vec<String>,
    steps: usize,
    largest_step: (String, usize),
    largest_event: (String, usize),
    peak_rss_kb: u64,
    cpu_ms: u64,
    incidents: usize,
    /// Requests and response bytes as the child's Railway clients counted them.
    client_requests: u64,
    client_bytes: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let endpoint = args[i + 1].clone();
        let targets: Vec<(String, String)> = args[i + 2]
            .split(',')
            .map(|t| {
                let (p, e) = t.split_once('/').expect("project/environment");
                (p.to_owned(), e.to_owned())
            })
            .collect();
        let window: u32 = args[i + 3].parse().expect("window minutes");
        let report = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(child(endpoint, targets, window));
        println!("{}", serde_json::to_string(&report).expect("report"));
        return;
    }
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let window: u32 = opt("--window").map_or(60, |w| w.parse().expect("--window N"));
    let sizes: Vec<String> = opt("--sizes").map_or_else(
        || {
            ["3", "40", "200", "500", "2000", "workspace"]
                .map(String::from)
                .to_vec()
        },
        |s| s.split(',').map(str::to_owned).collect(),
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(parent(sizes, window));
}

/// What a step output or an event may weigh (the target, under Inngest's 4 MiB step
/// and 256 KiB–3 MiB event limits).
const STATE_BUDGET: usize = 512 * 1000;

/// Peak RSS targets of one cycle, by project size.
fn rss_target_mb(label: &str) -> Option<f64> {
    match label {
        "500" => Some(64.0),
        "2000" => Some(160.0),
        _ => None,
    }
}

/// Operations of the monitor's health read; the others are the context and fix functions'.
const HEALTH_READ_OPERATIONS: &[&str] = &[
    "EnvironmentArchitecture",
    "EnvironmentResourceMetrics",
    "ServiceHttpMetricsBatch",
    "ServiceHttpLogsBatch",
    "EnvironmentDeployments",
    "ServiceHttpBaselineBatch",
];

async fn parent(sizes: Vec<String>, window: u32) {
    let exe = std::env::current_exe().expect("own path");
    println!(
        "window {window} min; limits: step output 4 MiB (target 512 KB), event 256 KiB–3 MiB (target 512 KB), Railway ≤ 20 aliases and ≤ 30 000 points per request"
    );
    println!();
    println!(
        "| S | Railway requests (health read + context/fix) | bytes received | largest response | largest request (aliases / points) | peak req/s | largest step output | largest event | peak RSS | CPU | result |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for size in sizes {
        let now = pipeline::system_now();
        let (label, snapshots) = if size == "workspace" {
            let (p, s) = WORKSPACE;
            (
                format!("{p} × {s}"),
                (0..p)
                    .map(|i| autofix_tests::scale::project(i, s, now, i64::from(window)))
                    .collect::<Vec<_>>(),
            )
        } else {
            let s: usize = size.parse().expect("size");
            (
                s.to_string(),
                vec![autofix_tests::scale::project(0, s, now, i64::from(window))],
            )
        };
        let expected_incidents: usize = snapshots
            .iter()
            .map(|s| {
                autofix_tests::scale::incident_services(
                    s.architecture.services.len(),
                    autofix_tests::scale::INCIDENT_EVERY,
                )
            })
            .sum();
        let targets: Vec<String> = snapshots
            .iter()
            .map(|s| {
                format!(
                    "{}/{}",
                    s.architecture.project.id, s.architecture.environment.id
                )
            })
            .collect();
        let fake = FakeRailway::start(snapshots, FakeAuth::Bearer(TOKEN.into())).await;
        let endpoint = fake.endpoint().to_owned();
        let out = tokio::task::spawn_blocking({
            let exe = exe.clone();
            let targets = targets.join(",");
            move || {
                Command::new(exe)
                    .args(["--child", &endpoint, &targets, &window.to_string()])
                    .output()
                    .expect("child runs")
            }
        })
        .await
        .expect("child joins");
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            eprintln!("child for S = {label} failed: {}", out.status);
            std::process::exit(1);
        }
        let report: ChildReport = serde_json::from_slice(
            out.stdout
                .split(|b| *b == b'\n')
                .rfind(|l| l.starts_with(b"{"))
                .expect("child report line"),
        )
        .expect("child report");
        let stats = fake.request_stats();
        let bytes: usize = stats.iter().map(|s| s.response_bytes).sum();
        let largest = stats.iter().map(|s| s.response_bytes).max().unwrap_or(0);
        let aliases = stats.iter().map(|s| s.root_fields).max().unwrap_or(0);
        let points = stats.iter().map(|s| s.points).max().unwrap_or(0);
        let health_read = fake
            .operations()
            .iter()
            .filter(|op| HEALTH_READ_OPERATIONS.contains(&op.as_str()))
            .count();
        let requests = fake.request_count();

        let mut problems = report.failed.clone();
        if requests != report.client_requests || stats.len() as u64 != requests {
            problems.push(format!(
                "request counts disagree: fake saw {requests}, answered {}, clients sent {}",
                stats.len(),
                report.client_requests
            ));
        }
        if bytes as u64 != report.client_bytes {
            problems.push(format!(
                "bytes disagree: fake sent {bytes}, clients received {}",
                report.client_bytes
            ));
        }
        if report.incidents != expected_incidents {
            problems.push(format!(
                "{} incidents found, {expected_incidents} generated",
                report.incidents
            ));
        }
        if report.peak_rss_kb == 0 || report.cpu_ms == 0 {
            problems.push("no RSS or CPU figure from the child".into());
        }
        if aliases > railway::batch::MAX_ALIASES_PER_REQUEST {
            problems.push(format!("a request has {aliases} aliases"));
        }
        if points > railway::batch::MAX_POINTS_PER_REQUEST {
            problems.push(format!("a request returned {points} points"));
        }
        if report.largest_step.1 >= STATE_BUDGET {
            problems.push(format!(
                "step {} is {} bytes",
                report.largest_step.0, report.largest_step.1
            ));
        }
        if report.largest_event.1 >= STATE_BUDGET {
            problems.push(format!(
                "event {} is {} bytes",
                report.largest_event.0, report.largest_event.1
            ));
        }
        let per_second = fake.peak_requests_per_second();
        if per_second > Plan::default().per_second() {
            problems.push(format!(
                "{per_second} requests in one second (plan: {})",
                Plan::default().per_second()
            ));
        }
        let rss_mb = report.peak_rss_kb as f64 / 1024.0;
        if let Some(target) = rss_target_mb(&label)
            && rss_mb >= target
        {
            problems.push(format!("peak RSS {rss_mb:.1} MB ≥ target {target} MB"));
        }
        let result = if problems.is_empty() {
            format!("ok: {} runs, {} incidents", report.runs, report.incidents)
        } else {
            format!("**FAILED**: {}", problems.join("; "))
        };
        println!(
            "| {label} | {requests} ({health_read} + {}) | {} | {} | {aliases} / {points} | {} | {} ({}) | {} ({}) | {rss_mb:.1} MB | {:.2} s | {result} |",
            requests as usize - health_read,
            mb(bytes),
            mb(largest),
            per_second,
            kb(report.largest_step.1),
            report.largest_step.0,
            kb(report.largest_event.1),
            if report.largest_event.0.is_empty() {
                "none sent"
            } else {
                &report.largest_event.0
            },
            report.cpu_ms as f64 / 1000.0,
        );
        if !problems.is_empty() {
            failures.push(format!("S = {label}: {}", problems.join("; ")));
        }
    }
    if !failures.is_empty() {
        eprintln!();
        for f in &failures {
            eprintln!("scale benchmark failed: {f}");
        }
        std::process::exit(1);
    }
}

fn mb(b: usize) -> String {
    format!("{:.2} MB", b as f64 / 1e6)
}

fn kb(b: usize) -> String {
    format!("{:.0} KB", b as f64 / 1e3)
}

async fn child(endpoint: String, targets: Vec<(String, String)>, window: u32) -> ChildReport {
    let mut report = ChildReport::default();
    // One worker, one pacer: every target's client shares the plan's budget, as under `serve`.
    let pacer = Pacer::new(Plan::default());
    for (project, environment) in targets {
        let creds = Credentials {
            token: Token::Account(TOKEN.into()),
            project_id: project,
            environment_id: environment,
        };
        let client = RailwayClient::new(
            ClientConfig::new(creds)
                .with_endpoint(endpoint.clone())
                .with_timeout(Duration::from_secs(120))
                .with_pacer(pacer.clone()),
        )
        .expect("client");
        let counted = client.clone();
        let mut deps = offline_deps(Source::Live(client), false);
        deps.settings.window_minutes = window;
        let functions = pipeline::functions(Arc::new(deps)).expect("functions");
        let runner = inngest::InlineRunner::new(functions);
        let event = inngest::Event::new(
            pipeline::events::HEALTH_CHECK_REQUESTED,
            json!({ "reason": "scale benchmark" }),
        )
        .expect("event");
        for run in runner.run(event).await {
            report.runs += 1;
            match &run.output {
                Err(e) => report.failed.push(format!("{}: {e}", run.function_id)),
                Ok(v) if run.function_id == pipeline::MONITOR_FN => {
                    report.incidents += v["fingerprints"].as_array().map_or(0, Vec::len);
                }
                Ok(_) => {}
            }
            for (id, value) in &run.steps {
                report.steps += 1;
                let size = inngest::limits::json_size(value);
                if size > report.largest_step.1 {
                    report.largest_step = (id.clone(), size);
                }
            }
            for event in &run.sent {
                let size =
                    serde_json::to_value(event).map_or(0, |v| inngest::limits::json_size(&v));
                if size > report.largest_event.1 {
                    report.largest_event = (event.name.clone(), size);
                }
            }
        }
        report.client_requests += counted.request_count();
        report.client_bytes += counted.bytes_received();
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    report.peak_rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    // utime and stime, fields 14 and 15 of /proc/self/stat, in clock ticks (100 per second).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    report.cpu_ms = (ticks(11) + ticks(12)) * 10;
    report
}
