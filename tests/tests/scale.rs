//! Scale: a 2 000-service project through the real router and the
//! test executor, against the schema-validating fake Railway API. Figures (RSS, CPU, bytes) are
//! in `cargo bench -p autofix-tests --bench scale`; these tests assert the limits.

use std::time::Duration;

use autofix_tests::fake_railway::{FakeAuth, FakeRailway};
use autofix_tests::harness::{App, composite, offline_deps};
use inngest_testkit::{Options, RunStatus};
use railway::{ClientConfig, Credentials, Pacer, Plan, RailwayClient, Source, Token};
use serde_json::{Value, json};

const TOKEN: &str = "scale-token";
/// What every step output and event must stay under at 2 000 services.
const STATE_BUDGET: usize = 512 * 1000;

fn client(fake: &FakeRailway, project: &str, environment: &str, plan: Plan) -> RailwayClient {
    let creds = Credentials {
        token: Token::Account(TOKEN.into()),
        project_id: project.into(),
        environment_id: environment.into(),
    };
    RailwayClient::new(
        ClientConfig::new(creds)
            .with_endpoint(fake.endpoint())
            .with_timeout(Duration::from_secs(120))
            .with_pacer(Pacer::new(plan)),
    )
    .unwrap()
}

fn size(v: &Value) -> usize {
    inngest::limits::json_size(v)
}

fn assert_requests_within_budget(fake: &FakeRailway) {
    for s in fake.request_stats() {
        assert!(
            s.root_fields <= railway::batch::MAX_ALIASES_PER_REQUEST,
            "{}: {} aliases",
            s.operation,
            s.root_fields
        );
        assert!(
            s.points <= railway::batch::MAX_POINTS_PER_REQUEST,
            "{}: {} points",
            s.operation,
            s.points
        );
    }
}

/// The fake serving `snap`, and offline deps reading it live on the Pro plan with a 60-minute
/// window.
async fn sixty_minutes_on_pro(
    snap: railway::model::ProjectSnapshot,
) -> (FakeRailway, pipeline::Deps) {
    let (project, env) = (
        snap.architecture.project.id.clone(),
        snap.architecture.environment.id.clone(),
    );
    let fake = FakeRailway::start(vec![snap], FakeAuth::Bearer(TOKEN.into())).await;
    let mut deps = offline_deps(
        Source::Live(client(&fake, &project, &env, Plan::Pro)),
        false,
    );
    deps.settings.window_minutes = 60;
    (fake, deps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_services_with_a_sixty_minute_window_complete_under_serve() {
    let services = 2000;
    let now = pipeline::system_now();
    // Four incidents: the chain after detection runs for each, and what is measured here is the
    // size of the project, not the number of fixes (the benchmark runs the denser mix).
    let incident_every = 1000;
    let snap = autofix_tests::scale::project_with(0, services, incident_every, now, 60);
    let (fake, deps) = sixty_minutes_on_pro(snap).await;
    // One read step makes ~420 requests; unoptimised test builds need the time.
    let app = App::start_with_step_timeout(
        deps,
        Options {
            max_calls: 10_000,
            call_timeout: Duration::from_secs(600),
            ..Options::dev()
        },
        Duration::from_secs(540),
    )
    .await;
    let started = std::time::Instant::now();
    app.inngest
        .send(json!({"name": "autofix/health.check.requested", "data": {}}))
        .await;
    app.inngest.run_until_idle().await.expect("runs finish");
    println!(
        "chain finished in {:?} with {} Railway requests",
        started.elapsed(),
        fake.request_count()
    );
    let mut ops = std::collections::BTreeMap::<String, usize>::new();
    for op in fake.operations() {
        *ops.entry(op).or_default() += 1;
    }
    println!("requests by operation: {ops:?}");
    assert_eq!(
        ops.get("EnvironmentArchitecture"),
        Some(&services.div_ceil(100)),
        "only the health read pages through the architecture; the context and fix functions read the services they name"
    );

    let runs = app.inngest.runs();
    for run in &runs {
        assert!(
            matches!(run.status, RunStatus::Completed(_)),
            "{} did not complete: {:?}",
            run.fn_id,
            run.status
        );
        for step in &run.steps {
            assert!(
                size(&step.memo) < STATE_BUDGET,
                "{} step {:?}: {} bytes",
                run.fn_id,
                step.name,
                size(&step.memo)
            );
        }
    }
    for event in app.inngest.events() {
        assert!(
            size(&event) < STATE_BUDGET,
            "{}: {} bytes",
            event["name"],
            size(&event)
        );
    }
    let monitor = &app.inngest.runs_of(&composite("monitor-project-health"))[0];
    let RunStatus::Completed(report) = &monitor.status else {
        unreachable!()
    };
    assert_eq!(report["services"], services);
    assert_eq!(
        report["fingerprints"].as_array().unwrap().len(),
        autofix_tests::scale::incident_services(services, incident_every),
        "every generated incident is found"
    );
    assert!(!app.inngest.runs_of(&composite("generate-fix")).is_empty());
    assert_requests_within_budget(&fake);
    assert!(
        fake.peak_requests_per_second() <= Plan::Pro.per_second(),
        "{} requests in one second",
        fake.peak_requests_per_second()
    );
}

/// Railway's `metrics` answers every service of the environment, ignored ones too: the usage
/// read's time slices are planned for all of them, so ignoring most services does not put one
/// request over the points budget (with slices planned for the monitored fifth, one request
/// carried 2 × 300 × 121 points).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_most_services_keeps_the_usage_read_within_the_points_budget() {
    let now = pipeline::system_now();
    let (fake, mut deps) =
        sixty_minutes_on_pro(autofix_tests::scale::project(3, 300, now, 60)).await;
    deps.settings.services = std::mem::take(&mut deps.settings.services)
        .ignore("api-*", "test")
        .ignore("web-*", "test");
    let app = App::start(deps).await;
    app.inngest
        .send(json!({"name": "autofix/health.check.requested", "data": {}}))
        .await;
    app.inngest.run_until_idle().await.expect("runs finish");
    let monitor = app
        .inngest
        .runs_of(&composite("monitor-project-health"))
        .into_iter()
        .next()
        .expect("the monitor ran");
    let RunStatus::Completed(report) = &monitor.status else {
        panic!("{:?}", monitor.status)
    };
    assert!(
        report["services"].as_u64().unwrap() < 100,
        "most services ignored: {}",
        report["services"]
    );
    assert!(
        fake.operations()
            .iter()
            .filter(|o| *o == "EnvironmentResourceMetrics")
            .count()
            > 2,
        "usage read in slices: {:?}",
        fake.operations()
    );
    assert_requests_within_budget(&fake);
}
