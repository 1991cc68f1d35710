//! `AUTOFIX_OPEN_ISSUES`: one GitHub issue per incident Autofix will not fix by itself, driven by
//! the real chain under the test executor against fake GitHub and a fake LLM.

use autofix_tests::fake_github::FakeGitHub;
use autofix_tests::fake_llm::{FakeLlm, Flavor, Reply};
use autofix_tests::harness::{
    App, composite, connect_github, connect_llm, leak_deps, leak_fix_request,
};
use serde_json::{Value, json};

const REPO: &str = "acme/api";

fn investigate_plan(request: &Value) -> Value {
    let finding = &request["data"]["findings"][0];
    json!({
        "summary": "Memory of api grows by ~45 MB/h; the allocation site is not in the evidence.",
        "root_causes": [{"cause": "Unknown allocation growth", "evidence": [finding["fingerprint"]], "services": ["api"]}],
        "affected_services": ["api"],
        "actions": [{"repo": REPO, "action": "investigate", "rationale": "Not enough evidence to change code safely."}],
        "recommendations": ["Profile the heap"],
        "debugging_steps": ["Compare two heap snapshots taken an hour apart"],
        "confidence": 0.9,
    })
}

struct World {
    app: App,
    github: FakeGitHub,
    _llm: FakeLlm,
}

/// The leak fixture with an LLM that answers `investigate` every cycle and GitHub configured.
async fn world(open_issues: bool, cycles: usize) -> World {
    let request = leak_fix_request().await;
    let replies = (0..cycles)
        .map(|_| Reply::answer(&investigate_plan(&request)))
        .collect();
    let llm = FakeLlm::start(Flavor::OpenAi, replies).await;
    let github = FakeGitHub::start(Some("ghp-test-secret")).await;
    let mut deps = leak_deps();
    deps.settings.open_issues = open_issues;
    connect_llm(&mut deps, &llm);
    connect_github(&mut deps, &github);
    World {
        app: App::start(deps).await,
        github,
        _llm: llm,
    }
}

async fn cycle(app: &App) {
    app.inngest
        .send(json!({"name": "autofix/health.check.requested", "data": {}}))
        .await;
    app.inngest.run_until_idle().await.expect("runs finish");
}

fn issue_writes(github: &FakeGitHub) -> Vec<(String, String)> {
    github
        .requests()
        .into_iter()
        .filter(|r| r.uri.contains("/issues") && !r.uri.contains("/comments"))
        .map(|r| (r.method, r.uri))
        .filter(|(m, _)| m != "GET")
        .collect()
}

fn outputs(app: &App) -> Vec<Value> {
    app.inngest
        .runs_of(&composite("incident-issue"))
        .iter()
        .map(|r| {
            r.output()
                .cloned()
                .unwrap_or_else(|| panic!("incident-issue did not complete: {:?}", r.status))
        })
        .collect()
}

#[tokio::test]
async fn an_investigate_outcome_opens_one_issue_with_analysis_evidence_and_chart() {
    let w = world(true, 1).await;
    cycle(&w.app).await;
    let issues = w.github.issues(REPO);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    let issue = &issues[0];
    assert_eq!(issue.state, "open");
    assert_eq!(issue.labels, [github::INCIDENT_LABEL]);
    assert!(
        issue.title.contains("needs investigation"),
        "{}",
        issue.title
    );
    let fix = w.app.inngest.runs_of(&composite("generate-fix"));
    let fp = fix[0].output().unwrap()["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = &issue.body;
    for part in [
        "Memory of api grows by ~45 MB/h",
        "Compare two heap snapshots taken an hour apart",
        "### Evidence (measured by Autofix)",
        "MB/h",
        "```mermaid",
        "xychart-beta",
        &fix_plan::naming::marker(&fp),
        "<!-- autofix:finding=af-",
    ] {
        assert!(body.contains(part), "missing {part:?} in\n{body}");
    }
    assert!(!body.contains("sk-test-secret") && !body.contains("ghp-test-secret"));
    let upserted: Vec<Value> = outputs(&w.app)
        .into_iter()
        .flat_map(|o| o["upserted"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(upserted.len(), 1, "{upserted:#?}");
    assert_eq!(upserted[0]["change"], "created");
    assert_eq!(upserted[0]["number"], issue.number);
}

#[tokio::test]
async fn ten_cycles_of_one_incident_keep_one_issue_updated_not_duplicated() {
    let w = world(true, 10).await;
    for _ in 0..10 {
        cycle(&w.app).await;
    }
    let fix_runs = w.app.inngest.runs_of(&composite("generate-fix")).len();
    assert!(fix_runs >= 1);
    assert_eq!(
        w.github.issues(REPO).len(),
        1,
        "{:#?}",
        w.github.issues(REPO)
    );
    let creates = issue_writes(&w.github)
        .into_iter()
        .filter(|(m, _)| m == "POST")
        .count();
    assert_eq!(creates, 1, "{:#?}", issue_writes(&w.github));
    let changes: Vec<Value> = outputs(&w.app)
        .into_iter()
        .flat_map(|o| o["upserted"].as_array().cloned().unwrap_or_default())
        .map(|u| u["change"].clone())
        .collect();
    // One issue-run per finished generate-fix run: the first creates, the rest find it.
    assert_eq!(changes.len(), fix_runs, "{changes:?}");
    assert_eq!(changes[0], "created");
    assert!(
        changes[1..]
            .iter()
            .all(|c| c == "updated" || c == "unchanged"),
        "{changes:?}"
    );
}

#[tokio::test]
async fn recovery_closes_the_issue_with_a_comment_once() {
    let w = world(true, 1).await;
    cycle(&w.app).await;
    let issue = w.github.issues(REPO).remove(0);
    let request = leak_fix_request().await;
    let finding = &request["data"]["findings"][0];
    // What Inngest emits when a later cycle's detection reports the finding as recovered.
    let finished = json!({"name": "inngest/function.finished", "data": {
        "function_id": "autofix-monitor-project-health", "run_id": "01RUNRECOVERED",
        "result": {"project": "shop", "environment": "production", "demo": false, "findings": [
            {"service": "api", "service_id": finding["service_id"], "kind": finding["kind"],
             "severity": "recovered", "fingerprint": finding["fingerprint"],
             "evidence": "memory flat since 09:40"}]}}});
    for _ in 0..2 {
        w.app.inngest.send(finished.clone()).await;
        w.app.inngest.run_until_idle().await.unwrap();
    }
    let closed = w.github.issues(REPO).remove(0);
    assert_eq!(closed.number, issue.number);
    assert_eq!(closed.state, "closed");
    assert_eq!(closed.state_reason.as_deref(), Some("completed"));
    let comments: Vec<_> = w
        .github
        .comments()
        .into_iter()
        .filter(|c| c.number == issue.number)
        .collect();
    assert_eq!(
        comments.len(),
        1,
        "one comment, not one per cycle: {comments:#?}"
    );
    assert!(
        comments[0].body.contains("Recovered"),
        "{}",
        comments[0].body
    );
    assert!(comments[0].body.contains("memory flat since 09:40"));
}

#[tokio::test]
async fn a_recovery_while_another_finding_of_the_issue_is_active_keeps_it_open() {
    let w = world(true, 1).await;
    cycle(&w.app).await;
    let request = leak_fix_request().await;
    let finding = &request["data"]["findings"][0];
    let finished = json!({"name": "inngest/function.finished", "data": {
        "function_id": "autofix-monitor-project-health", "run_id": "01RUNMIXED",
        "result": {"findings": [
            {"service": "api", "service_id": finding["service_id"], "kind": "latency",
             "severity": "recovered", "fingerprint": "af-000000000000", "evidence": "p95 fine"},
            {"service": "api", "service_id": finding["service_id"], "kind": finding["kind"],
             "severity": "critical", "fingerprint": finding["fingerprint"], "evidence": "still leaking"}]}}});
    w.app.inngest.send(finished).await;
    w.app.inngest.run_until_idle().await.unwrap();
    assert_eq!(w.github.issues(REPO)[0].state, "open");
}

#[tokio::test]
async fn off_by_default_no_issue_calls() {
    let w = world(false, 1).await;
    assert!(
        !w.app
            .registration
            .functions
            .iter()
            .any(|f| f.id.ends_with("incident-issue")),
        "not registered"
    );
    cycle(&w.app).await;
    let fix = w.app.inngest.runs_of(&composite("generate-fix"));
    assert_eq!(
        fix[0].output().unwrap()["status"],
        "skipped",
        "the outcome is investigate"
    );
    let touched: Vec<String> = w
        .github
        .requests()
        .into_iter()
        .map(|r| r.uri)
        .filter(|u| u.contains("/issues"))
        .collect();
    assert!(touched.is_empty(), "{touched:?}");
    assert!(w.github.issues(REPO).is_empty());
}
