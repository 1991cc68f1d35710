//! Baselines read live: the monitor asks Railway for the 24 h before the window for the services
//! whose latency a normal can judge (one request of at most 20 aliases, none when no service is
//! slow enough), and detection reports against that normal.

use autofix_tests::harness::{composite, live_app};
use demo::scenario_file::ScenarioFile;
use inngest_testkit::RunStatus;
use serde_json::{Value, json};

fn project(now: i64, extra_healthy: usize) -> railway::model::ProjectSnapshot {
    let text = format!(
        r#"
name = "baselines-live"
now = {now}

[[service]]
name = "reports"
repo = "acme/reports"
rps = 4.0
endpoints = [{{ method = "GET", path = "/reports", median_ms = 1250.0 }}]
baseline_p95_ms = 2500.0

[[service]]
name = "api"
repo = "acme/api"
rps = 6.0
redeployed = 16
commit_message = "Add response cache for /process"
slower_since = {{ minutes = 12, factor = 12.0 }}
baseline_p95_ms = 60.0

[[service]]
name = "web"
repo = "acme/web"
count = {extra_healthy}
baseline_p95_ms = 40.0

[expect]
"#
    );
    ScenarioFile::parse("inline.toml", &text)
        .expect("scenario parses")
        .build()
        .0
}

async fn cycle(snapshot: railway::model::ProjectSnapshot) -> (Value, Vec<String>) {
    let (app, fake) = live_app(snapshot).await;
    app.inngest
        .send(json!({"name": "autofix/health.check.requested", "data": {}}))
        .await;
    app.inngest.run_until_idle().await.expect("cycle");
    let run = &app.inngest.runs_of(&composite("monitor-project-health"))[0];
    let RunStatus::Completed(out) = &run.status else {
        panic!("monitor did not complete: {:?}", run.status);
    };
    (out.clone(), fake.operations())
}

fn latency<'a>(report: &'a Value, service: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["service"] == service && f["kind"] == "latency")
        .unwrap_or_else(|| panic!("latency finding on {service}: {report:#}"))
}

#[tokio::test]
async fn a_slow_by_nature_service_is_judged_against_its_normal_and_a_regression_against_its_own() {
    let (report, ops) = cycle(project(pipeline::system_now(), 30)).await;

    // Without its 2.5 s normal, `reports` would be a latency incident every cycle.
    let reports = latency(&report, "reports");
    assert_eq!(reports["severity"], "observation", "{reports:#}");
    assert_eq!(reports["baseline"]["median"], 2500.0, "{reports:#}");

    // `api` went from 60 ms to ~0.7 s: below the absolute 1 s level, a regression by its normal.
    let api = latency(&report, "api");
    assert_ne!(api["severity"], "observation", "{api:#}");
    assert!(
        api["evidence"]
            .as_str()
            .unwrap()
            .contains("its 24 h median"),
        "{api:#}"
    );
    assert!(api["suspect_deployment"]["commit_message"].is_string());

    // One baseline request for the two candidates (the later functions make none); the 30 fast
    // services cost nothing.
    let baseline_reads: Vec<&String> = ops
        .iter()
        .filter(|o| o.starts_with("ServiceHttpBaseline"))
        .collect();
    assert_eq!(baseline_reads.len(), 1, "{ops:?}");
}

/// `healthy` fast services beside `reports`, slow by nature (a baseline candidate) or not.
fn quiet_project(now: i64, healthy: usize, slow_reports: bool) -> railway::model::ProjectSnapshot {
    let median = if slow_reports { 1250.0 } else { 20.0 };
    let text = format!(
        r#"
name = "quiet"
now = {now}

[[service]]
name = "reports"
repo = "acme/reports"
rps = 4.0
endpoints = [{{ method = "GET", path = "/reports", median_ms = {median} }}]
baseline_p95_ms = 2500.0

[[service]]
name = "web"
repo = "acme/web"
count = {healthy}
baseline_p95_ms = 40.0

[expect]
"#
    );
    ScenarioFile::parse("quiet.toml", &text)
        .expect("scenario parses")
        .build()
        .0
}

#[tokio::test]
async fn the_baseline_read_adds_one_request_whatever_the_number_of_services_and_none_when_nothing_is_slow()
 {
    for healthy in [3, 120] {
        let now = pipeline::system_now();
        // Neither project has an incident, so every request is the monitor's.
        let (with, ops_with) = cycle(quiet_project(now, healthy, true)).await;
        let (without, ops_without) = cycle(quiet_project(now, healthy, false)).await;
        assert_eq!(with["healthy"], true, "{with:#}");
        assert_eq!(without["healthy"], true, "{without:#}");
        let baseline_reads = |ops: &[String]| {
            ops.iter()
                .filter(|o| o.starts_with("ServiceHttpBaseline"))
                .count()
        };
        assert_eq!(baseline_reads(&ops_with), 1, "S={healthy}+1: {ops_with:?}");
        assert_eq!(baseline_reads(&ops_without), 0, "{ops_without:?}");
        assert_eq!(
            ops_with.len(),
            ops_without.len() + 1,
            "S={healthy}+1: {ops_with:?} vs {ops_without:?}"
        );
    }
}

#[tokio::test]
async fn without_railways_http_metrics_the_cycle_runs_on_absolute_thresholds() {
    let (app, fake) = live_app(project(pipeline::system_now(), 3)).await;
    fake.set_http_metrics_unavailable(true);
    app.inngest
        .send(json!({"name": "autofix/health.check.requested", "data": {}}))
        .await;
    app.inngest.run_until_idle().await.expect("cycle");
    let run = &app.inngest.runs_of(&composite("monitor-project-health"))[0];
    let RunStatus::Completed(report) = &run.status else {
        panic!("monitor did not complete: {:?}", run.status);
    };
    // No normal to read on the httpLogs fallback: slow-by-nature is judged by the absolute level.
    assert_ne!(latency(report, "reports")["severity"], "observation");
}
