//! The three functions end to end: the real router, driven by the test executor, over the demo
//! project and over the fake Railway API.

use autofix_tests::harness::{App, composite, live_app, offline_deps};
use demo::scenario::{ProjectBuilder, ServiceBuilder};
use inngest_testkit::{RunRecord, RunStatus, Trigger};
use serde_json::{Value, json};

fn completed(run: &RunRecord) -> &Value {
    match &run.status {
        RunStatus::Completed(v) => v,
        other => panic!("run of {} did not complete: {other:?}", run.fn_id),
    }
}

fn flagged_services(monitor_output: &Value) -> Vec<String> {
    let mut names: Vec<String> = monitor_output["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["severity"] != "observation")
        .map(|f| f["service"].as_str().expect("service name").to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn registration_shows_three_functions_and_a_demo_run_reaches_a_dry_run_fix() {
    let snapshot = demo::demo_project(pipeline::system_now());
    let app = App::start(offline_deps(
        railway::Source::Static(Box::new(snapshot)),
        true,
    ))
    .await;

    let reg = &app.registration;
    assert_eq!(reg.app_id, "autofix");
    let mut ids: Vec<&str> = reg.functions.iter().map(|f| f.id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "autofix-generate-fix",
            "autofix-monitor-project-health",
            "autofix-pull-service-context",
            "autofix-verify-fix"
        ]
    );
    let monitor = reg
        .function("autofix-monitor-project-health")
        .expect("monitor registered");
    assert!(monitor.triggers.contains(&Trigger::Cron {
        cron: "*/10 * * * *".into(),
        jitter: None
    }));
    assert!(monitor.triggers.iter().any(
        |t| matches!(t, Trigger::Event { event, .. } if event == "autofix/health.check.requested")
    ));
    let fix = reg
        .function("autofix-generate-fix")
        .expect("generate-fix registered");
    assert_eq!(
        fix.raw["concurrency"][0]["key"], "event.data.concurrency_key",
        "{}",
        fix.raw
    );
    assert_eq!(fix.raw["concurrency"][0]["limit"], 1);
    assert!(
        fix.raw["rateLimit"]["key"]
            .as_str()
            .unwrap_or_default()
            .contains("fingerprint"),
        "{}",
        fix.raw
    );

    app.inngest
        .send(json!({"name": "autofix/health.check.requested", "data": {}}))
        .await;
    app.inngest.run_until_idle().await.expect("runs finish");

    let monitor_runs = app.inngest.runs_of(&composite("monitor-project-health"));
    assert_eq!(monitor_runs.len(), 1);
    let report = completed(&monitor_runs[0]);
    assert_eq!(report["demo"], true);
    assert_eq!(
        flagged_services(report),
        ["image-worker", "reports-api", "storefront-api"]
    );
    assert!(
        report["findings_markdown"]
            .as_str()
            .unwrap()
            .contains("storefront-api")
    );

    let context_runs = app.inngest.runs_of(&composite("pull-service-context"));
    assert_eq!(context_runs.len(), 1, "one context run per cycle");
    completed(&context_runs[0]);

    let fix_runs = app.inngest.runs_of(&composite("generate-fix"));
    assert_eq!(
        fix_runs.len(),
        3,
        "one generate-fix per repository with an incident"
    );
    let outcomes: Vec<&Value> = fix_runs.iter().map(completed).collect();
    let dry: Vec<&&Value> = outcomes
        .iter()
        .filter(|o| o["status"] == "dry_run")
        .collect();
    assert_eq!(
        dry.len(),
        2,
        "leak and slow queries get a task: {outcomes:#?}"
    );
    for o in &dry {
        let task = &o["task"];
        let fp = o["fingerprint"].as_str().unwrap();
        assert_eq!(task["branch"], format!("autofix/{fp}"));
        let text = task["prompt_text"].as_str().unwrap();
        assert!(
            text.contains(&format!("<!-- autofix:fingerprint={fp} -->")),
            "marker in the PR body"
        );
        assert!(text.contains(o["repo"].as_str().unwrap()));
    }
    let skipped: Vec<&&Value> = outcomes
        .iter()
        .filter(|o| o["status"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["repo"], "acme-demo/image-worker");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("investigate")
    );
}

/// A small project: one leaking API, one healthy spiky gateway, a database.
fn leak_project(now: i64, project_id: &str) -> railway::model::ProjectSnapshot {
    ProjectBuilder::new(project_id, "shop", now, 30)
        .service(
            ServiceBuilder::new("api")
                .repo("acme/api")
                .memory_leak(55.0, 45.0),
        )
        .service(
            ServiceBuilder::new("gateway")
                .repo("acme/gateway")
                .cpu_spiky(),
        )
        .service(ServiceBuilder::new("postgres").database("postgres:16"))
        .build()
}

#[tokio::test]
async fn a_cron_run_against_railway_reaches_pull_service_context_with_the_incident() {
    let (app, fake) = live_app(leak_project(pipeline::system_now(), "proj-shop")).await;

    app.inngest
        .trigger_cron(&composite("monitor-project-health"))
        .await;
    app.inngest.run_until_idle().await.expect("runs finish");

    let monitor = &app.inngest.runs_of(&composite("monitor-project-health"))[0];
    assert_eq!(monitor.trigger_name(), Some("inngest/scheduled.timer"));
    let report = completed(monitor);
    assert_eq!(
        flagged_services(report),
        ["api"],
        "only the leak is an incident"
    );
    assert_eq!(report["healthy"], false);

    // The event monitor sent is what pull-service-context ran on.
    let context = &app.inngest.runs_of(&composite("pull-service-context"))[0];
    let data = &context.event["data"];
    assert_eq!(data["project"]["id"], "proj-shop");
    let kinds: Vec<&str> = data["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["memory_trend"]);
    let fp = data["findings"][0]["fingerprint"].as_str().unwrap();
    assert_eq!(data["fingerprints"], json!([fp]));
    let services: Vec<&str> = data["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        services,
        ["api", "postgres"],
        "the incident's service and the database"
    );
    assert_eq!(data["services"][0]["repo"], "acme/api");

    // pull-service-context read the logs in one request and asked for one fix for acme/api.
    let context_out = completed(context);
    assert_eq!(context_out["fix_requests"].as_array().unwrap().len(), 1);
    let fix_events: Vec<Value> = app
        .inngest
        .events()
        .into_iter()
        .filter(|e| e["name"] == "autofix/fix.requested")
        .collect();
    assert_eq!(fix_events.len(), 1);
    let fix = &fix_events[0]["data"];
    assert_eq!(fix["repo"], "acme/api");
    assert_eq!(fix["concurrency_key"], "acme/api");
    let contexts = fix["contexts"].as_array().unwrap();
    let api_ctx = contexts
        .iter()
        .find(|c| c["service"] == "api")
        .expect("api context");
    assert!(
        !api_ctx["log_patterns"].as_array().unwrap().is_empty(),
        "log patterns for the leaking api"
    );
    assert!(
        contexts.iter().any(|c| c["service"] == "postgres"),
        "database evidence travels along"
    );
    let size = serde_json::to_vec(fix).unwrap().len();
    assert!(
        size < pipeline::Settings::default().max_event_bytes,
        "event of {size} bytes"
    );

    // Budget: architecture + CPU/memory limits + usage + HTTP stats + deployment history for
    // the monitor, architecture + logs for context, architecture for generate-fix's
    // `read-targets` (the event's targets re-read from Railway).
    let ops = fake.operations();
    assert_eq!(fake.request_count(), ops.len() as u64);
    assert!(fake.request_count() <= 8, "requests: {ops:?}");
    assert_eq!(
        ops.iter()
            .filter(|o| o.as_str() == "EnvironmentDeployments")
            .count(),
        1,
        "{ops:?}"
    );
}

/// What the product sends to Railway in a whole cycle (monitor, context, generate-fix's target
/// read, and the HTTP-logs fallback), checked against Railway's public schema rather than against
/// our fake's idea of it.
#[tokio::test]
async fn every_document_a_cycle_sends_is_valid_against_railways_public_schema() {
    let Some(schema) = test_data::shared_file("railway/schema.graphql") else {
        return;
    };
    let schema = railway::validate::Schema::parse(&std::fs::read_to_string(schema).unwrap())
        .expect("public schema parses");
    let (app, fake) = live_app(leak_project(pipeline::system_now(), "proj-shop")).await;
    fake.set_http_metrics_unavailable(true);
    app.inngest
        .trigger_cron(&composite("monitor-project-health"))
        .await;
    app.inngest.run_until_idle().await.expect("runs finish");
    assert!(
        app.inngest
            .events()
            .iter()
            .any(|e| e["name"] == "autofix/fix.requested"),
        "the cycle reached generate-fix"
    );

    let documents = fake.documents();
    let mut operations = fake.operations();
    operations.sort();
    operations.dedup();
    assert!(operations.len() >= 5, "{operations:?}");
    for (document, operation) in documents.iter().zip(fake.operations()) {
        let errors = schema.check(document);
        assert!(errors.is_empty(), "{operation}: {errors:?}\n{document}");
    }
}

#[tokio::test]
async fn the_same_ongoing_incident_keeps_its_fingerprint_across_cycles() {
    let now = pipeline::system_now();
    let (app, fake) = live_app(leak_project(now - 600, "proj-shop")).await;
    app.inngest
        .trigger_cron(&composite("monitor-project-health"))
        .await;
    app.inngest.run_until_idle().await.expect("first cycle");
    // Ten minutes later the numbers have moved; the problem has not.
    fake.set_snapshots(vec![leak_project(now, "proj-shop")]);
    app.inngest
        .trigger_cron(&composite("monitor-project-health"))
        .await;
    app.inngest.run_until_idle().await.expect("second cycle");

    let runs = app.inngest.runs_of(&composite("monitor-project-health"));
    assert_eq!(runs.len(), 2);
    let fps: Vec<&Value> = runs.iter().map(|r| &completed(r)["fingerprints"]).collect();
    assert_eq!(fps[0], fps[1]);
    assert_eq!(fps[0].as_array().unwrap().len(), 1);
    let fixes: Vec<String> = app
        .inngest
        .events()
        .into_iter()
        .filter(|e| e["name"] == "autofix/fix.requested")
        .map(|e| e["data"]["fingerprint"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fixes.len(), 2);
    assert_eq!(fixes[0], fixes[1], "repo-level fingerprint is stable too");
}

fn project_with_services(now: i64, services: usize) -> railway::model::ProjectSnapshot {
    let mut builder = ProjectBuilder::new("proj-big", "big", now, 30);
    for i in 0..services {
        builder = builder
            .service(ServiceBuilder::new(&format!("svc-{i:02}")).repo(&format!("acme/svc-{i:02}")));
    }
    builder.build()
}

#[tokio::test]
async fn steps_and_requests_per_cycle_do_not_grow_with_the_number_of_services() {
    let mut steps = Vec::new();
    for services in [3, 40] {
        let (app, fake) = live_app(project_with_services(pipeline::system_now(), services)).await;
        app.inngest
            .send(json!({"name": "autofix/health.check.requested", "data": {}}))
            .await;
        app.inngest.run_until_idle().await.expect("cycle");
        let run = &app.inngest.runs_of(&composite("monitor-project-health"))[0];
        assert_eq!(
            completed(run)["healthy"],
            true,
            "{services} healthy services"
        );
        let names: Vec<&str> = run.steps.iter().filter_map(|s| s.name.as_deref()).collect();
        assert_eq!(
            names,
            ["choose-window", "read-health"],
            "detection runs inside the read step: its inputs are never stored"
        );
        steps.push(run.steps.len());
        // Architecture, limits, usage, one deployment-history read, then 5 services (4 aliases
        // each) per HTTP request.
        let budget = 4 + services.div_ceil(5) as u64;
        assert!(
            fake.request_count() <= budget,
            "{} requests for S={services}",
            fake.request_count()
        );
    }
    assert_eq!(steps[0], steps[1], "steps per cycle for S=3 and S=40");
}

#[tokio::test]
async fn a_malformed_health_check_event_fails_without_retries_naming_the_field() {
    let snapshot = demo::demo_project(pipeline::system_now());
    let app = App::start(offline_deps(
        railway::Source::Static(Box::new(snapshot)),
        true,
    ))
    .await;
    app.inngest
        .send(
            json!({"name": "autofix/health.check.requested", "data": {"window_minutes": "sixty"}}),
        )
        .await;
    app.inngest
        .send(json!({"name": "autofix/health.check.requested", "data": {"window_minutes": 2}}))
        .await;
    app.inngest.run_until_idle().await.expect("runs finish");
    let runs = app.inngest.runs_of(&composite("monitor-project-health"));
    assert_eq!(runs.len(), 2);
    for run in &runs {
        let error = match &run.status {
            RunStatus::Failed(e) => e.to_string(),
            other => panic!("expected a failure, got {other:?}"),
        };
        assert!(error.contains("window_minutes"), "{error}");
        assert_eq!(
            run.retries.iter().filter(|r| r.retried).count(),
            0,
            "non-retriable: {:?}",
            run.retries
        );
    }
    assert!(
        app.inngest
            .runs_of(&composite("pull-service-context"))
            .is_empty()
    );
}

#[tokio::test]
async fn the_router_answers_probes_and_refuses_oversized_bodies() {
    let snapshot = demo::demo_project(pipeline::system_now());
    let app = App::start(offline_deps(
        railway::Source::Static(Box::new(snapshot)),
        true,
    ))
    .await;
    let http = reqwest::Client::new();
    let base = app.serve_url.join("/").unwrap();
    let health = http
        .get(base.join("healthz").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    let huge = vec![b' '; autofix::serve::MAX_BODY_BYTES + 1];
    let answer = http
        .post(app.serve_url.clone())
        .query(&[
            ("fnId", "autofix-monitor-project-health"),
            ("stepId", "step"),
        ])
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
}

#[tokio::test]
async fn the_demo_source_has_data_for_windows_long_after_start() {
    // `autofix serve` on the demo runs for days: its cycles must keep finding the demo incidents.
    let source = railway::Source::Generated(std::sync::Arc::new(demo::demo_project));
    let arch = source.architecture().await.unwrap();
    let later = railway::model::TimeWindow::last_minutes(pipeline::system_now() + 6 * 3600, 30);
    let resources = source
        .resource_usage(arch.services.len(), later)
        .await
        .unwrap();
    assert!(
        resources.services.values().all(|u| !u.cpu.is_empty()),
        "samples in the later window"
    );
    let http = source.http_stats(&arch, later).await.unwrap();
    let report = detect::detect(&arch, &resources, &http, &detect::Thresholds::default());
    let mut flagged: Vec<&str> = report.incidents().map(|f| f.service.as_str()).collect();
    flagged.sort();
    flagged.dedup();
    assert_eq!(flagged, ["image-worker", "reports-api", "storefront-api"]);

    // A snapshot taken at start would have aged out of that window.
    let frozen = railway::Source::Static(Box::new(demo::demo_project(pipeline::system_now())));
    let stale = frozen
        .resource_usage(arch.services.len(), later)
        .await
        .unwrap();
    assert!(stale.services.values().all(|u| u.cpu.is_empty()));
}
