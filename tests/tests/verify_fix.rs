//! `verify-fix` driven by the test executor against fake GitHub (a PR that gets merged or closed,
//! a commit graph, comments, labels) and fake Railway (a deployment of the merge commit that
//! appears after the merge, metrics before and after it).

use std::sync::Arc;
use std::time::Duration;

use autofix_tests::fake_github::{FakeGitHub, FakePull};
use autofix_tests::fake_railway::{FakeAuth, FakeRailway};
use autofix_tests::harness::{App, composite, connect_github, leak_fix_request_at, offline_deps};
use demo::scenario::{ProjectBuilder, ServiceBuilder};
use inngest_testkit::{Options, RunRecord, VirtualClock};
use railway::model::{DeploymentStatus, ProjectSnapshot};
use serde_json::{Value, json};

const REPO: &str = "acme/api";
const MERGE: &str = "3e59e00000000000000000000000000000000042";
const DESCENDANT: &str = "d35ce00000000000000000000000000000000043";
const OLD: &str = "01d0000000000000000000000000000000000001";

/// The end of the incident window, and where the executor's simulated clock starts: every
/// fixture is built around it and the functions read the same clock (`Deps::now`), which only
/// the durable sleeps move, so each run sees the same series at the same offsets every time.
const T0: i64 = 1_780_000_020;
/// How much `after` behaviour the fixture's series holds past `T0`.
const AFTER_HOURS: i64 = 6;

/// The leak of the fixture (`api` +45 MB/h in the incident window ending at `T0`), followed by
/// six hours of `after` behaviour, as one series Railway serves by time range.
fn timeline(after: ServiceBuilder) -> ProjectSnapshot {
    timeline_until(after, T0 + AFTER_HOURS * 3600)
}

/// The incident window ending at `T0`, then `AFTER_HOURS` of `after` behaviour ending at `end`.
fn timeline_until(after: ServiceBuilder, end: i64) -> ProjectSnapshot {
    let before = ProjectBuilder::new("proj-shop", "shop", T0, 30)
        .service(
            ServiceBuilder::new("api")
                .repo(REPO)
                .memory_leak(55.0, 45.0),
        )
        .service(ServiceBuilder::new("postgres").database("postgres:16"))
        .build();
    let later = ProjectBuilder::new("proj-shop", "shop", end, AFTER_HOURS * 60)
        .service(after)
        .service(ServiceBuilder::new("postgres").database("postgres:16"))
        .build();
    let mut out = before;
    for (id, usage) in later.resources.services {
        let into = out.resources.services.entry(id).or_default();
        into.cpu.extend(usage.cpu);
        into.memory_gb.extend(usage.memory_gb);
    }
    out.resources.window.end = later.resources.window.end;
    for (id, stats) in later.http.services {
        if let Some(into) = out.http.services.get_mut(&id) {
            into.timeline.extend(stats.timeline);
            into.latency_timeline.extend(stats.latency_timeline);
        }
    }
    out.http.window.end = later.http.window.end;
    out
}

/// `snap` with `api`'s latest deployment replaced: `id` of `commit`, created at `created_at`.
fn deployed(mut snap: ProjectSnapshot, id: &str, commit: &str, created_at: i64) -> ProjectSnapshot {
    let api = snap
        .architecture
        .services
        .iter_mut()
        .find(|s| s.name == "api")
        .expect("api service");
    let dep = api.latest_deployment.as_mut().expect("api deployment");
    dep.id = id.into();
    dep.commit_hash = Some(commit.into());
    dep.status = DeploymentStatus::Success;
    dep.created_at = railway::timefmt::rfc3339(created_at);
    snap
}

/// The deployment running during the incident.
fn before_fix(snap: ProjectSnapshot) -> ProjectSnapshot {
    deployed(snap, "dep-old", OLD, T0 - 4 * 3600)
}

/// The `autofix/pr.opened` event generate-fix sends for the fixture's incident and PR 42.
async fn pr_opened() -> (Value, String) {
    let request = leak_fix_request_at(T0).await;
    let data = &request["data"];
    let fp = data["fingerprint"].as_str().unwrap().to_owned();
    let findings: Vec<Value> = data["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            json!({
                "service_id": f["service_id"], "service": f["service"], "kind": f["kind"],
                "metric": f["metric"], "value": f["value"], "threshold": f["threshold"],
                "unit": f["unit"], "fingerprint": f["fingerprint"],
            })
        })
        .collect();
    let service_ids: Vec<Value> = data["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["is_database"] == false)
        .map(|s| s["id"].clone())
        .collect();
    let event = json!({
        "name": "autofix/pr.opened",
        "data": {
            "project": data["project"], "environment": data["environment"],
            "repo": REPO, "pr_number": 42, "pr_url": "https://github.com/acme/api/pull/42",
            "pr_key": "acme/api#42", "fingerprint": fp, "service_ids": service_ids,
            "findings": findings, "window": data["window"],
        }
    });
    (event, fp)
}

struct World {
    app: App,
    github: FakeGitHub,
    railway: FakeRailway,
}

async fn world(first: ProjectSnapshot, settings: pipeline::Settings, options: Options) -> World {
    let github = FakeGitHub::start(Some("ghp-test-secret")).await;
    let railway =
        FakeRailway::start(vec![first.clone()], FakeAuth::Bearer("rw-token".into())).await;
    let credentials = railway::Credentials {
        token: railway::Token::Account("rw-token".into()),
        project_id: first.architecture.project.id.clone(),
        environment_id: first.architecture.environment.id.clone(),
    };
    let client = railway::RailwayClient::new(
        railway::ClientConfig::new(credentials).with_endpoint(railway.endpoint()),
    )
    .expect("railway client");
    let mut deps = offline_deps(railway::Source::Live(client), false);
    let clock = VirtualClock::starting_at(T0);
    railway.set_clock(clock.clone());
    let now = clock.clone();
    deps.now = Arc::new(move || now.now());
    deps.settings = settings;
    connect_github(&mut deps, &github);
    let options = Options {
        clock: Some(clock),
        ..options
    };
    let app = App::start_with(deps, options).await;
    World {
        app,
        github,
        railway,
    }
}

fn only_verify_run(app: &App) -> RunRecord {
    let runs = app.inngest.runs_of(&composite("verify-fix"));
    assert_eq!(runs.len(), 1);
    runs.into_iter().next().unwrap()
}

fn open_pr(fp: &str) -> FakePull {
    FakePull::open(
        42,
        &format!("autofix/{fp}"),
        Some(&fix_plan::naming::marker(fp)),
    )
}

#[tokio::test]
async fn merged_and_deployed_fix_is_measured_as_fixed_with_figures_on_the_pr() {
    let (event, fp) = pr_opened().await;
    let healthy_after = ServiceBuilder::new("api").repo(REPO).memory_flat(40.0);
    let snap = timeline(healthy_after);
    let w = world(
        before_fix(snap.clone()),
        pipeline::Settings::default(),
        Options::dev(),
    )
    .await;
    w.github.add_pull(REPO, open_pr(&fp));
    // Merged between the second and third read (T0 + 1 h, T0 + 2 h: the PR is polled hourly);
    // the deployment of a later commit on main (a descendant of the merge) shows up on Railway
    // after the first deployment poll, and is SUCCESS at the second, five minutes later.
    w.github
        .after_pull_reads(REPO, 42, 2, |p| p.close(Some(MERGE.into())));
    w.github.add_commit(DESCENDANT, MERGE);
    w.railway.set_snapshots_after(
        1,
        vec![deployed(snap, "dep-fix", DESCENDANT, T0 + 2 * 3600 + 60)],
    );

    w.app.inngest.send(event).await;
    w.app.inngest.run_until_idle().await.unwrap();

    let run = only_verify_run(&w.app);
    let out = run.output().unwrap_or_else(|| panic!("{:?}", run.status));
    assert_eq!(out["status"], "verified", "{out:#}");
    assert_eq!(out["verdict"], "fixed", "{out:#}");
    assert_eq!(out["merge_commit"], MERGE);
    assert_eq!(out["deployment"]["deployment_id"], "dep-fix");
    // SUCCESS was seen at the second deployment poll, by the run's clock; the after window
    // starts once the settle period (30 min) has passed, and is as long as the incident window.
    let seen = out["deployment"]["success_seen_at"].as_i64().unwrap();
    assert_eq!(seen, T0 + 2 * 3600 + 300);
    assert_eq!(out["after_window"]["start"].as_i64().unwrap(), seen + 1800);
    assert_eq!(out["after_window"]["end"].as_i64().unwrap(), seen + 3600);
    assert!(
        seen + 3600 < T0 + AFTER_HOURS * 3600,
        "the fixture covers the after window"
    );
    let growth = &out["comparisons"][0];
    assert_eq!(growth["metric"], "memory_growth_mb_per_hour");
    assert!(
        growth["before"]["median"].as_f64().unwrap() > 20.0,
        "{growth:#}"
    );
    assert!(
        growth["after"]["median"].as_f64().unwrap().abs() < 10.0,
        "{growth:#}"
    );
    assert!(growth["test"]["p_decrease"].as_f64().unwrap() < 0.05);

    // One comment on the PR with the verdict and the before/after figures.
    let comments = w.github.comments();
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    assert_eq!(comments[0].number, 42);
    assert!(body.contains("**Fixed**"), "{body}");
    assert!(body.contains("memory_growth_mb_per_hour"), "{body}");
    assert!(body.contains("MB/h"), "{body}");
    assert!(body.contains("**fixed**"), "{body}");
    // The incident is resolved for the rest of the system.
    let resolved: Vec<Value> = w
        .app
        .inngest
        .events()
        .into_iter()
        .filter(|e| e["name"] == "autofix/incident.resolved")
        .collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["data"]["verdict"], "fixed");
    assert_eq!(resolved[0]["data"]["pr_number"], 42);
    // Every wait was durable.
    assert!(!run.sleeps.is_empty());
    // Each deployment poll read only the fixed services; the architecture was read once, by the
    // measurement.
    let ops = w.railway.operations();
    let count = |op: &str| ops.iter().filter(|o| *o == op).count();
    assert_eq!(count("ServiceTargetsBatch"), 2, "{ops:?}");
    assert_eq!(count("EnvironmentArchitecture"), 1, "{ops:?}");
    let stored = serde_json::to_string(&w.app.inngest.runs()).unwrap();
    assert!(!stored.contains("ghp-test-secret") && !stored.contains("rw-token"));
}

#[tokio::test]
async fn merged_fix_that_leaves_the_leak_is_not_fixed() {
    let (event, fp) = pr_opened().await;
    // A little faster than before the fix: at the same rate, sampling noise alone made the
    // after sample "significantly lower" (improved) in some runs.
    let still_leaking = ServiceBuilder::new("api")
        .repo(REPO)
        .memory_leak(57.0, 52.0);
    let snap = timeline(still_leaking);
    let w = world(
        before_fix(snap.clone()),
        pipeline::Settings::default(),
        Options::dev(),
    )
    .await;
    w.github.add_pull(REPO, open_pr(&fp));
    // Merged at the second read (T0 + 1 h); deployed and SUCCESS at the third deployment poll.
    w.github
        .after_pull_reads(REPO, 42, 1, |p| p.close(Some(MERGE.into())));
    w.railway
        .set_snapshots_after(2, vec![deployed(snap, "dep-fix", MERGE, T0 + 3600 + 360)]);

    w.app.inngest.send(event).await;
    w.app.inngest.run_until_idle().await.unwrap();

    let run = only_verify_run(&w.app);
    let out = run.output().unwrap_or_else(|| panic!("{:?}", run.status));
    assert_eq!(out["verdict"], "not_fixed", "{out:#}");
    let seen = out["deployment"]["success_seen_at"].as_i64().unwrap();
    assert_eq!(seen, T0 + 3600 + 600);
    assert_eq!(out["comparisons"][0]["still_detected"], true);
    let body = &w.github.comments()[0].body;
    assert!(body.contains("**Not fixed**"), "{body}");
    assert!(body.contains("Still detected after the deploy"), "{body}");
    let names: Vec<Value> = w
        .app
        .inngest
        .events()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert!(
        names.contains(&json!("autofix/fix.ineffective")),
        "{names:?}"
    );
    assert!(!names.contains(&json!("autofix/incident.resolved")));
}

#[tokio::test]
async fn a_deployment_of_an_unrelated_commit_is_not_the_fix() {
    let (event, fp) = pr_opened().await;
    let snap = timeline(ServiceBuilder::new("api").repo(REPO).memory_flat(40.0));
    let settings = pipeline::Settings {
        verify_deploy_timeout: Duration::from_secs(600),
        verify_deploy_poll_interval: Duration::from_secs(300),
        ..pipeline::Settings::default()
    };
    // Railway only ever runs an older commit: the merge never reaches production.
    let w = world(before_fix(snap), settings, Options::dev()).await;
    w.github.add_pull(REPO, open_pr(&fp));
    w.github
        .after_pull_reads(REPO, 42, 0, |p| p.close(Some(MERGE.into())));
    w.app.inngest.send(event).await;
    w.app.inngest.run_until_idle().await.unwrap();
    let out = only_verify_run(&w.app).output().cloned().unwrap();
    assert_eq!(out["status"], "not_deployed", "{out:#}");
    assert_eq!(out["verdict"], Value::Null);
    assert!(w.github.comments()[0].body.contains("no deployment"));
    assert!(
        w.app
            .inngest
            .events()
            .iter()
            .all(|e| e["name"] != "autofix/incident.resolved")
    );
}

#[tokio::test]
async fn closed_unmerged_pr_is_labelled_rejected() {
    let (event, fp) = pr_opened().await;
    let snap = timeline(ServiceBuilder::new("api").repo(REPO).memory_flat(40.0));
    let w = world(snap, pipeline::Settings::default(), Options::dev()).await;
    w.github.add_pull(REPO, open_pr(&fp));
    w.github.after_pull_reads(REPO, 42, 1, |p| p.close(None));
    w.app.inngest.send(event).await;
    w.app.inngest.run_until_idle().await.unwrap();
    let out = only_verify_run(&w.app).output().cloned().unwrap();
    assert_eq!(out["status"], "rejected", "{out:#}");
    let pr = w.github.pull_state(REPO, 42).unwrap();
    assert_eq!(pr.labels, [github::REJECTED_LABEL]);
    let body = &w.github.comments()[0].body;
    assert!(
        body.contains("Remove the label") && body.contains(&fp),
        "{body}"
    );
    assert_eq!(w.railway.request_count(), 0, "nothing to measure");
}

/// The longest run `settings` allow: a merge on the very last PR poll, the deployment on the very
/// last deployment poll, then settle, measure, comment and event. Returns the run and its plan.
async fn longest_run(settings: pipeline::Settings) -> (RunRecord, pipeline::VerifyPlan) {
    let (event, fp) = pr_opened().await;
    let plan = pipeline::VerifyPlan::from_settings(&settings);
    // Where the run's clock will be when the fix is SUCCESS: both loops used to the end.
    let deployed_at = T0
        + (plan.pr_interval * (plan.pr_polls - 1) + plan.deploy_interval * (plan.deploy_polls - 1))
            .as_secs() as i64;
    let settle = settings.verify_settle.as_secs() as i64;
    let healthy = ServiceBuilder::new("api").repo(REPO).memory_flat(40.0);
    let snap = timeline_until(healthy, deployed_at + settle + 3 * 3600);
    // Each deployment poll is one Railway request: the fix appears for the last one.
    let fix = deployed(snap.clone(), "dep-fix", MERGE, deployed_at - 60);
    let options = Options {
        max_calls: 2_000,
        max_total_calls: 3_000,
        ..Options::dev()
    };
    let w = world(before_fix(snap), settings, options).await;
    w.github.add_pull(REPO, open_pr(&fp));
    let last_pr_poll = plan.pr_polls as usize - 1;
    w.github
        .after_pull_reads(REPO, 42, last_pr_poll, |p| p.close(Some(MERGE.into())));
    w.railway
        .set_snapshots_after(u64::from(plan.deploy_polls) - 1, vec![fix]);
    w.app.inngest.send(event).await;
    w.app.inngest.run_until_idle().await.unwrap();
    let run = only_verify_run(&w.app);
    let out = run.output().unwrap_or_else(|| panic!("{:?}", run.status));
    assert_eq!(out["status"], "verified", "{out:#}");
    assert_eq!(
        out["verdict"], "fixed",
        "measured on real after data: {out:#}"
    );
    assert!(
        out["deployment"]["success_seen_at"]
            .as_i64()
            .unwrap()
            .abs_diff(deployed_at)
            <= 1,
        "{out:#}"
    );
    let week = Duration::from_secs(7 * 86_400);
    assert!(
        run.sleeps
            .iter()
            .all(|s| s.duration.is_some_and(|d| d <= week)),
        "{:?}",
        run.sleeps.iter().map(|s| &s.until).collect::<Vec<_>>()
    );
    (run, plan)
}

/// A run that uses every poll takes exactly the steps `VerifyPlan::worst_case_steps` predicts
/// (40 + 20 polls here).
#[tokio::test]
async fn the_longest_verify_run_takes_exactly_the_planned_steps() {
    let settings = pipeline::Settings {
        verify_max_wait: Duration::from_secs(39 * 3600),
        verify_poll_interval: Duration::from_secs(3600),
        verify_deploy_timeout: Duration::from_secs(19 * 300),
        verify_deploy_poll_interval: Duration::from_secs(300),
        ..pipeline::Settings::default()
    };
    let (run, plan) = longest_run(settings).await;
    assert_eq!((plan.pr_polls, plan.deploy_polls), (40, 20));
    assert_eq!(
        run.steps.len() as u32,
        plan.worst_case_steps(),
        "the plan counts every step"
    );
}

/// The largest waits the configuration accepts (a year of PR polls every second, a 30-day
/// deployment wait, a 24-hour settle), run end to end with the executor: the whole run, from
/// the first PR read to the verdict event, stays under Inngest's 1 000 steps per run.
#[tokio::test]
async fn a_whole_verify_run_at_the_maximum_wait_settings_stays_under_1000_steps() {
    let settings = autofix::cli::parse_from(
        [
            "autofix",
            "check",
            "--verify-max-days",
            "365",
            "--verify-poll-interval",
            "1s",
            "--verify-deploy-timeout",
            "30d",
            "--verify-settle",
            "24h",
        ],
        |_| None,
    )
    .expect("the maximum settings parse")
    .options
    .pipeline_settings()
    .expect("the maximum settings are valid");
    assert_eq!(settings.verify_max_wait, Duration::from_secs(365 * 86_400));
    // Checked before running: without the poll budget this run would not end.
    let planned = pipeline::VerifyPlan::from_settings(&settings).worst_case_steps();
    assert!(planned < 1_000, "{planned} steps planned");
    let (run, plan) = longest_run(settings).await;
    let steps = run.steps.len();
    println!(
        "verify-fix at the maximum wait settings: {steps} steps, {} sleeps",
        run.sleeps.len()
    );
    assert_eq!(steps as u32, plan.worst_case_steps());
    assert!(steps < 1_000, "{steps} steps");
}
