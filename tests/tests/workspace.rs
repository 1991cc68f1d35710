//! Workspace mode (`AUTOFIX_PROJECTS`) through the binary's own start-up wiring, the real router
//! and the test executor, against the schema-validating fake Railway API: one cron tick fans out
//! to every selected project and environment, each in its own run, within the plan's rate.

use std::collections::BTreeSet;

use autofix_tests::fake_github::FakeGitHub;
use autofix_tests::fake_llm::{FakeLlm, Flavor, Reply};
use autofix_tests::fake_railway::{FakeAuth, FakeRailway};
use autofix_tests::harness::{
    App, GITHUB_TOKEN, composite, connect_github, connect_llm, offline_deps,
};
use inngest_testkit::{Options, RunRecord, RunStatus};
use railway::{Pacer, Plan};
use serde_json::json;

const TOKEN: &str = "workspace-token-0123456789";
const MONITOR: &str = "monitor-project-health";

/// Options as `autofix` parses them from `env` (plus the fake's endpoint and the token).
fn options(fake: &FakeRailway, env: &[(&str, &str)]) -> autofix::config::Options {
    let mut all: Vec<(String, String)> = vec![
        ("RAILWAY_API_TOKEN".into(), TOKEN.into()),
        ("RAILWAY_API_URL".into(), fake.endpoint().to_owned()),
    ];
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    autofix::cli::parse_from(["autofix", "check"], |k| {
        all.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .expect("options parse")
    .options
}

/// The deps `autofix serve` builds in workspace mode (settings, one client and one pacer for the
/// worker, the workspace listed and checked at start), with the offline LLM/agent/GitHub.
async fn workspace_deps(
    fake: &FakeRailway,
    env: &[(&str, &str)],
) -> Result<(pipeline::Deps, Pacer, usize), String> {
    let options = options(fake, env);
    let settings = options.pipeline_settings().map_err(|e| e.to_string())?;
    let selection = options
        .workspace_selection()
        .map_err(|e| e.to_string())?
        .expect("workspace mode");
    let pacer = Pacer::new(options.railway_plan().map_err(|e| e.to_string())?);
    let (ws, selected) = autofix::deps::workspace(&options, &settings, selection, &pacer)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let mut deps = offline_deps(railway::Source::Live(ws.client.clone()), false);
    deps.settings = settings;
    deps.workspace = Some(ws);
    Ok((deps, pacer, selected.len()))
}

/// A fresh path named `name` in a directory of its own under the system's temp directory.
fn scratch_file(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("autofix-workspace-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// 50 projects: the first five with one incident each (a leaking service), the rest healthy.
fn fifty_projects() -> Vec<railway::model::ProjectSnapshot> {
    let now = pipeline::system_now();
    (0..50)
        .map(|i| autofix_tests::scale::project(i, if i < 5 { 10 } else { 6 }, now, 30))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_cron_tick_checks_fifty_projects_in_their_own_runs_within_the_plan_rate() {
    let fake = FakeRailway::start(fifty_projects(), FakeAuth::Bearer(TOKEN.into())).await;
    // The default plan (Hobby: 10 requests per second, 1 000 per hour).
    let (deps, pacer, selected) = workspace_deps(&fake, &[("AUTOFIX_PROJECTS", "all")])
        .await
        .expect("workspace start-up");
    assert_eq!(selected, 50);
    assert_eq!(pacer.plan(), Plan::Hobby);
    let app = App::start_with(
        deps,
        Options {
            max_calls: 10_000,
            ..Options::dev()
        },
    )
    .await;

    // Registered: a key per project and environment, and one per Railway token, which carries a
    // hash of the token and never the token.
    let monitor_fn = app
        .registration
        .function(&composite(MONITOR))
        .expect("monitor registered");
    let concurrency = monitor_fn.raw["concurrency"].as_array().expect("limits");
    assert_eq!(concurrency.len(), 2, "{concurrency:?}");
    assert_eq!(concurrency[0]["key"], pipeline::TARGET_CONCURRENCY_KEY);
    assert_eq!(concurrency[0]["limit"], 1);
    let budget_key = concurrency[1]["key"].as_str().unwrap();
    assert!(budget_key.starts_with("\"railway-"), "{budget_key}");
    assert!(!monitor_fn.raw.to_string().contains(TOKEN));

    app.inngest.trigger_cron(&composite(MONITOR)).await;
    app.inngest.run_until_idle().await.expect("runs finish");

    let runs = app.inngest.runs_of(&composite(MONITOR));
    assert_eq!(runs.len(), 51, "the cron run and one run per project");
    let cron = runs
        .iter()
        .find(|r| r.event["name"] == "inngest/scheduled.timer")
        .expect("the cron run");
    let steps: Vec<&str> = cron
        .steps
        .iter()
        .filter_map(|s| s.name.as_deref())
        .collect();
    assert_eq!(steps, ["list-targets", "sendEvent"], "one durable send");
    let sent = cron.step("sendEvent").unwrap().memo["data"]["ids"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(sent, 50, "the one send carries every target's event");

    let mut keys = BTreeSet::new();
    for run in runs.iter().filter(|r| r.id != cron.id) {
        let RunStatus::Completed(report) = &run.status else {
            panic!("{:?}", run.status)
        };
        let key = run.event["data"]["target_key"].as_str().expect("a key");
        let target = &report["target"];
        assert_eq!(
            format!(
                "{}/{}",
                target["project"]["id"].as_str().unwrap(),
                target["environment"]["id"].as_str().unwrap()
            ),
            key,
            "the run checked the project its key names"
        );
        keys.insert(key.to_owned());
    }
    assert_eq!(
        keys.len(),
        50,
        "one concurrency key per project/environment"
    );
    let with_incident: BTreeSet<String> = runs
        .iter()
        .filter_map(|r| match &r.status {
            RunStatus::Completed(report) if report["healthy"] == false => {
                Some(report["target"]["project"]["id"].as_str()?.to_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        with_incident,
        (0..5).map(|i| format!("p{i}")).collect::<BTreeSet<_>>()
    );
    // Each incident's context is read from its own project (the trust check would refuse any
    // other), and reaches its own fix run.
    let contexts = app.inngest.runs_of(&composite(pipeline::CONTEXT_FN));
    assert_eq!(contexts.len(), 5);
    for run in &contexts {
        assert!(
            matches!(run.status, RunStatus::Completed(_)),
            "{:?}",
            run.status
        );
    }
    assert_eq!(app.inngest.runs_of(&composite(pipeline::FIX_FN)).len(), 5);

    let arrivals = fake.arrivals();
    assert!(
        arrivals.len() > Plan::Hobby.per_second() * 10,
        "{} requests: the rate limit was exercised",
        arrivals.len()
    );
    assert!(arrivals.len() <= Plan::Hobby.per_hour());
    let peak = fake.peak_requests_per_second();
    assert!(
        peak <= Plan::Hobby.per_second(),
        "{peak} requests within one second (Hobby allows {})",
        Plan::Hobby.per_second()
    );
}

#[tokio::test]
async fn a_selection_and_overrides_apply_by_railways_names() {
    let fake = FakeRailway::start(
        fifty_projects()[..6].to_vec(),
        FakeAuth::Bearer(TOKEN.into()),
    )
    .await;
    let file = scratch_file("autofix.toml");
    // project-0 leaks memory in `leaky-7`; ignoring that service here makes it healthy.
    std::fs::write(
        &file,
        "[[project]]\nselect = \"project-0\"\nignore_services = [\"leaky-*\"]\nwindow_minutes = 15\n",
    )
    .unwrap();
    let (deps, _, selected) = workspace_deps(
        &fake,
        &[
            ("AUTOFIX_PROJECTS", "project-0, project-1/p1-env, p2"),
            ("AUTOFIX_CONFIG", file.to_str().unwrap()),
            (
                "AUTOFIX_WORKSPACE_ID",
                autofix_tests::fake_railway::FAKE_WORKSPACE_ID,
            ),
        ],
    )
    .await
    .expect("start-up");
    assert_eq!(selected, 3, "a name, a name/environment id, an id (p2)");
    let app = App::start(deps).await;
    app.inngest.trigger_cron(&composite(MONITOR)).await;
    app.inngest.run_until_idle().await.expect("runs finish");
    let reports: Vec<serde_json::Value> = app
        .inngest
        .runs_of(&composite(MONITOR))
        .into_iter()
        .filter_map(|r| match r.status {
            RunStatus::Completed(v) if v.get("target").is_some() => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(reports.len(), 3);
    let p0 = reports
        .iter()
        .find(|r| r["target"]["project"]["id"] == "p0")
        .expect("project-0 checked");
    assert_eq!(p0["healthy"], true, "{}", p0["findings_markdown"]);
    assert_eq!(
        p0["window"]["end"].as_i64().unwrap() - p0["window"]["start"].as_i64().unwrap(),
        15 * 60
    );
    assert!(
        p0["ignored_services"]
            .to_string()
            .contains("autofix.toml [[project]] #1"),
        "{}",
        p0["ignored_services"]
    );
    let p1 = reports
        .iter()
        .find(|r| r["target"]["project"]["id"] == "p1")
        .unwrap();
    assert_eq!(p1["healthy"], false, "the defaults elsewhere");

    // An event naming a project outside the selection, or a key that is not its target's, is
    // refused without retries.
    let outside = json!({"project": {"id": "p3", "name": "project-3"}, "environment": {"id": "p3-env", "name": "production"}});
    for data in [
        json!({"target": outside, "target_key": "p3/p3-env"}),
        json!({"target": {"project": {"id": "p0", "name": "project-0"}, "environment": {"id": "p0-env", "name": "production"}}, "target_key": "p9/x"}),
        // Selected by the event's name, but Railway's name for p3 is project-3.
        json!({"target": {"project": {"id": "p3", "name": "project-0"}, "environment": {"id": "p3-env", "name": "production"}}, "target_key": "p3/p3-env"}),
    ] {
        let ids = app
            .inngest
            .send(json!({"name": "autofix/health.check.requested", "data": data}))
            .await;
        app.inngest.run_until_idle().await.expect("runs finish");
        let run = app
            .inngest
            .runs_of(&composite(MONITOR))
            .into_iter()
            .find(|r| r.id == ids[0])
            .unwrap();
        let RunStatus::Failed(error) = &run.status else {
            panic!("{data}: {:?}", run.status)
        };
        assert_eq!(error["name"], "UntrustedTarget", "{data}: {error}");
    }
}

#[tokio::test]
async fn start_up_fails_naming_the_variable_when_a_name_selects_nothing() {
    let fake = FakeRailway::start(
        fifty_projects()[..3].to_vec(),
        FakeAuth::Bearer(TOKEN.into()),
    )
    .await;
    let e = workspace_deps(&fake, &[("AUTOFIX_PROJECTS", "project-0, shpo")])
        .await
        .err()
        .expect("a typo fails the start")
        .to_string();
    assert!(
        e.starts_with("AUTOFIX_PROJECTS: `shpo` selects no project"),
        "{e}"
    );
    assert!(
        e.contains("project-0/production"),
        "lists what is visible: {e}"
    );

    let file = scratch_file("overrides.toml");
    std::fs::write(
        &file,
        "[[project]]\nselect = \"project-0\"\n[[project]]\nselect = \"blog\"\n",
    )
    .unwrap();
    let e = workspace_deps(
        &fake,
        &[
            ("AUTOFIX_PROJECTS", "all"),
            ("AUTOFIX_CONFIG", file.to_str().unwrap()),
        ],
    )
    .await
    .err()
    .expect("an unknown project in AUTOFIX_CONFIG fails the start")
    .to_string();
    assert!(e.starts_with("AUTOFIX_CONFIG: "), "{e}");
    assert!(
        e.contains("overrides.toml [[project]] #2: select: matches no project"),
        "{e}"
    );

    let e = workspace_deps(
        &fake,
        &[
            ("AUTOFIX_PROJECTS", "all"),
            ("AUTOFIX_WORKSPACE_ID", "ws-other"),
        ],
    )
    .await
    .err()
    .expect("an unknown workspace fails the start");
    assert!(e.contains("Workspace not found"), "{e}");
    assert!(!e.contains(TOKEN));
}

/// The context and fix functions re-read the services an event names from the target the event
/// names; a target the token can read but `AUTOFIX_PROJECTS` does not select is refused by
/// Railway's names, in the same read (no architecture read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_context_and_fix_requests_for_an_unselected_project_are_refused() {
    let fake = FakeRailway::start(
        fifty_projects()[..4].to_vec(),
        FakeAuth::Bearer(TOKEN.into()),
    )
    .await;
    let (deps, _, selected) = workspace_deps(
        &fake,
        &[
            ("AUTOFIX_PROJECTS", "project-0, project-1"),
            (
                "AUTOFIX_WORKSPACE_ID",
                autofix_tests::fake_railway::FAKE_WORKSPACE_ID,
            ),
        ],
    )
    .await
    .expect("start-up");
    assert_eq!(selected, 2);
    let app = App::start(deps).await;
    app.inngest.trigger_cron(&composite(MONITOR)).await;
    app.inngest.run_until_idle().await.expect("runs finish");

    for (name, function) in [
        ("autofix/service.context.requested", "pull-service-context"),
        ("autofix/fix.requested", "generate-fix"),
    ] {
        let genuine = app
            .inngest
            .events()
            .into_iter()
            .find(|e| e["name"] == name && e["data"]["project"]["id"] == "p1")
            .unwrap_or_else(|| panic!("project-1's incident sent {name}"));
        assert!(
            app.inngest
                .runs_of(&composite(function))
                .iter()
                .all(|r| matches!(r.status, RunStatus::Completed(_))),
            "the genuine {name} runs succeed"
        );
        // The same request, moved to project-3: its services are real and the token reads
        // them, but the selection leaves project-3 out.
        let mut forged: serde_json::Value = serde_json::from_str(
            &serde_json::to_string(&json!({"name": name, "data": genuine["data"]}))
                .unwrap()
                .replace("project-1", "project-3")
                .replace("p1", "p3"),
        )
        .unwrap();
        assert_eq!(forged["data"]["project"]["id"], "p3");
        // generate-fix's rate limit (one per key and fingerprint a period) would skip a copy.
        if let Some(key) = forged["data"]["concurrency_key"].as_str() {
            forged["data"]["concurrency_key"] = format!("{key}-forged").into();
        }
        let before = fake.request_count();
        let ids = app.inngest.send(forged).await;
        app.inngest.run_until_idle().await.expect("runs finish");
        let run = app
            .inngest
            .runs_of(&composite(function))
            .into_iter()
            .find(|r| r.id == ids[0])
            .expect("the forged request ran");
        let RunStatus::Failed(error) = &run.status else {
            panic!("{name} for project-3 was not refused: {:?}", run.status)
        };
        assert_eq!(error["name"], "UntrustedTarget", "{error}");
        assert!(
            error["message"].as_str().unwrap_or_default().contains(
                "\"project-3\" / environment \"production\" is not selected by AUTOFIX_PROJECTS"
            ),
            "{error}"
        );
        assert_eq!(
            fake.operations()[before as usize..],
            ["ServiceTargetsBatch"],
            "one read of the named services, not the architecture"
        );
    }
}

/// An `investigate` answer for the leak of `leaky-7` that every generated project has: its
/// evidence id (`log:leaky-7#1`) and repository are the same in each project.
fn investigate_leaky_7() -> serde_json::Value {
    json!({
        "summary": "Memory of leaky-7 grows ~40 MB/h; the allocation site is not in the evidence.",
        "root_causes": [{"cause": "Unknown allocation growth", "evidence": ["log:leaky-7#1"], "services": ["leaky-7"]}],
        "affected_services": ["leaky-7"],
        "actions": [{"repo": "acme/leaky-7", "action": "investigate", "rationale": "Not enough evidence to change code safely."}],
        "recommendations": ["Profile the heap"],
        "debugging_steps": ["Compare two heap snapshots"],
        "confidence": 0.9,
    })
}

/// Workspace mode with `AUTOFIX_OPEN_ISSUES`: project-0, project-1 and project-2 are visible,
/// the first two selected; project-0 and project-1 both deploy `leaky-7` from acme/leaky-7 and
/// both leak, and the model says `investigate` for each. One cron tick has run.
struct IssueWorld {
    app: App,
    github: FakeGitHub,
    fake: FakeRailway,
    _llm: FakeLlm,
}

async fn issue_world() -> IssueWorld {
    let fake = FakeRailway::start(
        fifty_projects()[..3].to_vec(),
        FakeAuth::Bearer(TOKEN.into()),
    )
    .await;
    let (mut deps, _, selected) =
        workspace_deps(&fake, &[("AUTOFIX_PROJECTS", "project-0, project-1")])
            .await
            .expect("start-up");
    assert_eq!(selected, 2);
    let llm = FakeLlm::start(
        Flavor::OpenAi,
        vec![
            Reply::answer(&investigate_leaky_7()),
            Reply::answer(&investigate_leaky_7()),
        ],
    )
    .await;
    let github = FakeGitHub::start(Some(GITHUB_TOKEN)).await;
    deps.settings.open_issues = true;
    connect_llm(&mut deps, &llm);
    connect_github(&mut deps, &github);
    let app = App::start(deps).await;
    app.inngest.trigger_cron(&composite(MONITOR)).await;
    app.inngest.run_until_idle().await.expect("runs finish");
    IssueWorld {
        app,
        github,
        fake,
        _llm: llm,
    }
}

/// The `incident-issue` runs that followed a run of `function`.
fn issue_runs_after(app: &App, function: &str) -> Vec<RunRecord> {
    app.inngest
        .runs_of(&composite(pipeline::ISSUE_FN))
        .into_iter()
        .filter(|r| r.event["data"]["function_id"] == composite(function))
        .collect()
}

/// The completed monitor report of `project_id`'s run.
fn monitor_report(app: &App, project_id: &str) -> serde_json::Value {
    app.inngest
        .runs_of(&composite(MONITOR))
        .into_iter()
        .find_map(|r| match r.status {
            RunStatus::Completed(v) if v["target"]["project"]["id"] == project_id => Some(v),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no completed run of {project_id}"))
}

/// What Inngest emits when a monitor run ends with `result`, its incidents now `recovered`.
fn recovered(result: &serde_json::Value, run_id: &str) -> serde_json::Value {
    let mut result = result.clone();
    for f in result["findings"].as_array_mut().unwrap() {
        f["severity"] = json!("recovered");
    }
    json!({"name": "inngest/function.finished", "data": {
        "function_id": composite(MONITOR), "run_id": run_id, "result": result}})
}

/// Sends `event` (as a new event: without the id Inngest deduplicates on), runs until idle and
/// returns the one `incident-issue` run it started.
async fn issue_run_of(app: &App, mut event: serde_json::Value) -> RunRecord {
    event.as_object_mut().unwrap().remove("id");
    let ids = app.inngest.send(event).await;
    app.inngest.run_until_idle().await.expect("runs finish");
    assert_eq!(ids.len(), 1, "one incident-issue run");
    app.inngest.run(&ids[0]).expect("the run")
}

fn untrusted(run: &RunRecord) -> String {
    let RunStatus::Failed(error) = &run.status else {
        panic!("{:?}", run.status)
    };
    assert_eq!(error["name"], "UntrustedTarget", "{error}");
    error.to_string()
}

#[tokio::test]
async fn workspace_issues_name_their_project_and_a_recovery_closes_only_that_projects_issue() {
    let w = issue_world().await;
    let issues = w.github.issues("acme/leaky-7");
    assert_eq!(issues.len(), 2, "one issue per project: {issues:#?}");
    for (project, other) in [("p0", "project-1"), ("p1", "project-0")] {
        let report = monitor_report(&w.app, project);
        let name = report["target"]["project"]["name"].as_str().unwrap();
        let finding = report["findings"][0]["fingerprint"].as_str().unwrap();
        let issue = issues
            .iter()
            .find(|i| i.body.contains(&fix_plan::issue::finding_marker(finding)))
            .unwrap_or_else(|| panic!("no issue for {project}'s finding: {issues:#?}"));
        assert!(
            issue.title.contains(&format!("in {name}/production")),
            "{}",
            issue.title
        );
        assert!(
            issue
                .body
                .contains(&format!("Railway project/environment: {name}/production")),
            "{}",
            issue.body
        );
        assert!(!issue.body.contains(other) && !issue.title.contains(other));
    }

    // The cron run checked no project itself: its incident-issue run does nothing.
    let after_monitor = issue_runs_after(&w.app, MONITOR);
    let cron_run = w
        .app
        .inngest
        .runs_of(&composite(MONITOR))
        .into_iter()
        .find(|r| r.event["name"] == "inngest/scheduled.timer")
        .unwrap();
    let cron_issue = after_monitor
        .iter()
        .find(|r| r.event["data"]["run_id"] == cron_run.id.0.as_str())
        .expect("incident-issue followed the cron run");
    let out = cron_issue.output().expect("completed");
    assert!(
        out["skipped"]
            .as_str()
            .is_some_and(|s| s.contains("without a target")),
        "{out}"
    );
    assert!(cron_issue.steps.is_empty(), "{:?}", cron_issue.steps);

    // project-0 recovers: its issue is closed, project-1's (same repository) stays open.
    let before = w.fake.request_count();
    let run = issue_run_of(
        &w.app,
        recovered(&monitor_report(&w.app, "p0"), "01RECOVERP0"),
    )
    .await;
    assert_eq!(run.output().unwrap()["closed"].as_array().unwrap().len(), 1);
    assert!(
        w.fake.request_count() > before,
        "p0 is re-read from Railway"
    );
    let p1_marker = fix_plan::issue::finding_marker(
        monitor_report(&w.app, "p1")["findings"][0]["fingerprint"]
            .as_str()
            .unwrap(),
    );
    for issue in w.github.issues("acme/leaky-7") {
        let want = if issue.body.contains(&p1_marker) {
            "open"
        } else {
            "closed"
        };
        assert_eq!(issue.state, want, "{}", issue.title);
    }
}

#[tokio::test]
async fn workspace_issue_runs_refuse_targets_outside_the_selection() {
    let w = issue_world().await;
    let issues_before = w.github.issues("acme/leaky-7");
    let p1 = monitor_report(&w.app, "p1");

    // A recovery naming project-2 (visible, not selected) is refused; one naming project-1 with
    // project-0's services closes nothing; one without a target does nothing at all.
    let mut outside = p1.clone();
    outside["target"] = json!({"project": {"id": "p2", "name": "project-1"}, "environment": {"id": "p2-env", "name": "production"}});
    let run = issue_run_of(&w.app, recovered(&outside, "01FORGEDP2")).await;
    assert!(untrusted(&run).contains("not selected by AUTOFIX_PROJECTS"));
    let mut mixed = monitor_report(&w.app, "p0");
    mixed["target"] = p1["target"].clone();
    let run = issue_run_of(&w.app, recovered(&mixed, "01FORGEDMIX")).await;
    assert_eq!(
        run.output().unwrap()["closed"],
        json!([]),
        "{:?}",
        run.status
    );
    let mut untargeted = p1.clone();
    untargeted.as_object_mut().unwrap().remove("target");
    let before = w.fake.request_count();
    let run = issue_run_of(&w.app, recovered(&untargeted, "01FORGEDNONE")).await;
    assert!(
        run.output().unwrap()["skipped"].is_string(),
        "{:?}",
        run.status
    );
    assert_eq!(w.fake.request_count(), before, "nothing read");
    assert_eq!(w.github.issues("acme/leaky-7"), issues_before);

    // A finished fix run whose request names project-2, or a repository project-1 does not
    // deploy from, writes no issue.
    let fix_finished = issue_runs_after(&w.app, pipeline::FIX_FN)
        .into_iter()
        .find(|r| r.event["data"]["event"]["data"]["project"]["id"] == "p1")
        .expect("the p1 fix run's function.finished")
        .event;
    let mut elsewhere = fix_finished.clone();
    elsewhere["data"]["event"]["data"]["project"]["id"] = json!("p2");
    elsewhere["data"]["event"]["data"]["environment"]["id"] = json!("p2-env");
    assert!(untrusted(&issue_run_of(&w.app, elsewhere).await).contains("AUTOFIX_PROJECTS"));
    let mut other_repo = fix_finished.clone();
    other_repo["data"]["result"]["repo"] = json!("acme/web-1-fork");
    other_repo["data"]["result"]["analysis"]["actions"][0]["repo"] = json!("acme/web-1-fork");
    assert!(untrusted(&issue_run_of(&w.app, other_repo).await).contains("acme/web-1-fork"));
    assert!(w.github.issues("acme/web-1-fork").is_empty());
    assert_eq!(w.github.issues("acme/leaky-7"), issues_before);

    // The genuine event still upserts the same issue, in place.
    let run = issue_run_of(&w.app, fix_finished).await;
    let upserted = &run.output().expect("completed")["upserted"];
    assert_eq!(upserted[0]["change"], "unchanged", "{upserted}");
}
