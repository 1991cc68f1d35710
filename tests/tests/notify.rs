//! Notifications end to end: the real router under the test executor, fake Slack, Discord,
//! Teams and generic webhook receivers, and the official Standard Webhooks verifier.

use std::time::Duration;

use autofix_tests::fake_github::{FakeGitHub, FakePull};
use autofix_tests::fake_llm::{FakeLlm, Flavor, Reply};
use autofix_tests::fake_opencode::{FakeOpenCode, FakeOpenCodeConfig};
use autofix_tests::fake_sinks::{FakeSinks, Scripted};
use autofix_tests::harness::{
    App, composite, connect_github, connect_llm, connect_opencode, fast_settings, leak_deps,
    leak_fix_request, leak_snapshot, offline_deps,
};
use autofix_tests::node_checks;
use inngest_testkit::{RunRecord, RunStatus};
use serde_json::{Value, json};

const SINKS: [&str; 4] = ["slack", "discord", "teams", "webhook"];
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn settings(fake: &FakeSinks) -> pipeline::Settings {
    let vars = [
        ("AUTOFIX_SLACK_WEBHOOK_URL", fake.slack_url()),
        ("AUTOFIX_DISCORD_WEBHOOK_URL", fake.discord_url()),
        ("AUTOFIX_TEAMS_WEBHOOK_URL", fake.teams_url()),
        ("AUTOFIX_WEBHOOK_URL", fake.webhook_url()),
        ("AUTOFIX_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
    ];
    let notify = notifications::Sinks::from_lookup(|k| {
        vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .expect("valid sinks");
    pipeline::Settings {
        notify,
        run_url_template: Some("http://localhost:8288/run?runID={run_id}".into()),
        ..fast_settings()
    }
}

fn completed(run: &RunRecord) -> &Value {
    match &run.status {
        RunStatus::Completed(v) => v,
        other => panic!("run of {} did not complete: {other:?}", run.fn_id),
    }
}

/// Exactly one accepted message per sink, all about `transition`; returns the webhook body.
fn one_message_per_sink(fake: &FakeSinks, transition: &str) -> Value {
    for sink in SINKS {
        let got = fake.accepted(sink);
        assert_eq!(
            got.len(),
            1,
            "{sink} got {} messages for {transition}: {:#?}",
            got.len(),
            fake.received()
        );
    }
    let body = fake.accepted("webhook")[0].json();
    assert_eq!(body["type"], format!("autofix.{transition}"), "{body:#}");
    body
}

async fn health_app(fake: &FakeSinks) -> App {
    let mut deps = leak_deps();
    deps.settings = settings(fake);
    App::start(deps).await
}

async fn health_cycle(app: &App) {
    app.inngest
        .send(json!({"name": "autofix/health.check.requested", "data": {}}))
        .await;
    app.inngest.run_until_idle().await.expect("runs finish");
}

#[tokio::test]
async fn notification_functions_register_only_with_a_sink() {
    let fake = FakeSinks::start().await;
    let app = health_app(&fake).await;
    let router = app
        .registration
        .function(&composite("notify-on-transition"))
        .expect("router registered");
    assert!(
        router.raw["triggers"]
            .to_string()
            .contains("inngest/function.finished"),
        "{}",
        router.raw
    );
    assert!(app.registration.function(&composite("notify")).is_some());

    let bare = App::start(offline_deps(
        railway::Source::Static(Box::new(leak_snapshot())),
        false,
    ))
    .await;
    assert_eq!(bare.registration.functions.len(), 4);
}

#[tokio::test]
async fn ten_cycles_of_one_ongoing_incident_send_one_message_per_sink() {
    let fake = FakeSinks::start().await;
    let app = health_app(&fake).await;
    for _ in 0..10 {
        health_cycle(&app).await;
    }
    assert_eq!(
        app.inngest
            .runs_of(&composite("monitor-project-health"))
            .len(),
        10
    );
    assert_eq!(
        app.inngest
            .runs_of(&composite("notify-on-transition"))
            .len(),
        // Ten monitor runs and one generate-fix run finished: generate-fix's rate limit (one run
        // per repository and fingerprint per period) skipped the nine later requests.
        11
    );
    assert_eq!(app.inngest.skipped().len(), 9);
    assert_eq!(app.inngest.runs_of(&composite("notify")).len(), 1);
    let body = one_message_per_sink(&fake, "incident_opened");
    let n = &body["data"];
    assert_eq!(n["services"], json!(["api"]));
    assert_eq!(n["kind"], "memory_trend");
    assert!(n["summary"].as_str().unwrap().contains("MB/h"), "{n:#}");
    assert!(
        n["run_url"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost:8288/run?runID="),
        "{n:#}"
    );
    assert!(
        n["sparkline"].as_str().is_some_and(|s| s.contains('█')),
        "{n:#}"
    );
    let slack = fake.accepted("slack")[0].json();
    assert!(
        slack["blocks"].to_string().contains("Inngest run"),
        "{slack:#}"
    );
}

#[tokio::test]
async fn sinks_answering_429_or_500_are_retried_with_their_delay_and_never_fail_a_run() {
    let fake = FakeSinks::start().await;
    fake.script("slack", vec![Scripted::rate_limited("7")]);
    fake.script(
        "discord",
        vec![Scripted::status(500), Scripted::status(503)],
    );
    fake.break_sink("teams", 500);
    let app = health_app(&fake).await;
    health_cycle(&app).await;

    for f in [
        "monitor-project-health",
        "pull-service-context",
        "generate-fix",
    ] {
        for run in app.inngest.runs_of(&composite(f)) {
            completed(&run);
        }
    }
    let runs = app.inngest.runs_of(&composite("notify"));
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let report = completed(run);
    assert_eq!(
        report["delivered"],
        json!(["slack", "discord", "webhook"]),
        "{report:#}"
    );
    assert_eq!(report["failed"][0]["sink"], "teams", "{report:#}");
    assert!(
        report["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 500")
    );

    assert!(
        run.retries
            .iter()
            .any(|r| r.retry_after == Some(Duration::from_secs(7)) && r.retried),
        "Slack's Retry-After reaches Inngest: {:#?}",
        run.retries
    );
    assert_eq!(fake.accepted("slack").len(), 1);
    assert_eq!(fake.accepted("discord").len(), 1);
    assert_eq!(
        fake.received()
            .iter()
            .filter(|r| r.sink == "discord")
            .count(),
        3,
        "two failures, then the message"
    );
    let teams_attempts = fake.received().iter().filter(|r| r.sink == "teams").count();
    assert_eq!(
        teams_attempts as u32,
        pipeline::Settings::default().notify_retries + 1,
        "a broken sink gets every attempt, then gives up"
    );
}

#[tokio::test]
async fn the_generic_webhook_verifies_with_the_standard_webhooks_reference() {
    let fake = FakeSinks::start().await;
    let app = health_app(&fake).await;
    health_cycle(&app).await;
    let got = fake.accepted("webhook");
    assert_eq!(got.len(), 1);
    let r = &got[0];
    let headers = json!({
        "webhook-id": r.headers["webhook-id"],
        "webhook-timestamp": r.headers["webhook-timestamp"],
        "webhook-signature": r.headers["webhook-signature"],
    });
    let Some(ok) = node_checks::run(
        "webhook-verify.mjs",
        &json!({"secret": WEBHOOK_SECRET, "body": r.body, "headers": headers}),
    ) else {
        return;
    };
    assert_eq!(ok["ok"], true, "{ok:#}");
    assert_eq!(ok["payload"], r.json());

    // The verifier does reject: a changed body, and another secret.
    let tampered = r.body.replace("memory_trend", "cpu");
    let bad = node_checks::run(
        "webhook-verify.mjs",
        &json!({"secret": WEBHOOK_SECRET, "body": tampered, "headers": headers}),
    )
    .unwrap();
    assert_eq!(bad["ok"], false, "{bad:#}");
    let other = node_checks::run(
        "webhook-verify.mjs",
        &json!({"secret": "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "body": r.body, "headers": headers}),
    )
    .unwrap();
    assert_eq!(other["ok"], false, "{other:#}");
}

#[tokio::test]
async fn no_sink_url_or_secret_reaches_inngest_state() {
    let fake = FakeSinks::start().await;
    fake.break_sink("teams", 500);
    let app = health_app(&fake).await;
    health_cycle(&app).await;
    let stored = serde_json::to_string(&app.inngest.runs()).unwrap()
        + &serde_json::to_string(&app.inngest.events()).unwrap();
    for secret in [
        "slacksecrettoken",
        "discordsecrettoken",
        "teamssecretsig",
        WEBHOOK_SECRET,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert!(!stored.contains(secret), "{secret} stored in Inngest state");
    }
}

// ----- one chain per outcome type -----

fn plan(request: &Value, action: &str, confidence: f64) -> Value {
    let finding = &request["data"]["findings"][0];
    json!({
        "summary": "Memory of api grows by ~45 MB/h: a cache keyed by request id is never evicted.",
        "root_causes": [{"cause": "Unbounded cache", "evidence": [finding["fingerprint"]], "services": ["api"]}],
        "affected_services": ["api"],
        "actions": [{"repo": "acme/api", "action": action, "rationale": "Upstream provider incident in progress."}],
        "recommendations": ["Bound the cache"],
        "debugging_steps": ["Compare two heap snapshots"],
        "confidence": confidence,
    })
}

/// `generate-fix` on the leak's request with an LLM answering `action`, an OpenCode server whose
/// agent says `agent_text`, and GitHub showing a PR when `pr` is set.
async fn fix_chain(action: &str, agent_text: &str, pr: bool) -> (FakeSinks, App, String) {
    let fake = FakeSinks::start().await;
    let request = leak_fix_request().await;
    let fp = request["data"]["fingerprint"].as_str().unwrap().to_string();
    let llm = FakeLlm::start(
        Flavor::OpenAi,
        vec![Reply::answer(&plan(&request, action, 0.9))],
    )
    .await;
    let mut config = FakeOpenCodeConfig::default();
    config.reply.text = agent_text.into();
    let opencode = FakeOpenCode::start(config).await;
    let github = FakeGitHub::start(Some("ghp-test-secret")).await;
    if pr {
        github.add_pull_after(
            "acme/api",
            FakePull::open(
                42,
                &format!("autofix/{fp}"),
                Some(&fix_plan::naming::marker(&fp)),
            ),
            1,
        );
    }
    let mut deps = leak_deps();
    deps.settings = settings(&fake);
    connect_llm(&mut deps, &llm);
    connect_github(&mut deps, &github);
    connect_opencode(&mut deps, opencode.base_url());
    let app = App::run_event(deps, request).await;
    // The peers must outlive the runs only; the fakes stop when dropped here.
    drop((llm, opencode, github));
    (fake, app, fp)
}

#[tokio::test]
async fn a_wait_outcome_says_why() {
    let (fake, _app, fp) = fix_chain("wait", "", false).await;
    let body = one_message_per_sink(&fake, "wait");
    assert_eq!(body["data"]["fingerprint"], fp);
    assert!(
        body["data"]["details"]
            .to_string()
            .contains("Upstream provider incident"),
        "{body:#}"
    );
}

#[tokio::test]
async fn an_investigate_outcome_says_what_to_look_at() {
    let (fake, _app, _) = fix_chain("investigate", "", false).await;
    let body = one_message_per_sink(&fake, "investigate");
    assert!(
        body["data"]["details"]
            .to_string()
            .contains("look at: Compare two heap snapshots"),
        "{body:#}"
    );
}

#[tokio::test]
async fn an_opened_pr_is_linked() {
    let (fake, _app, _) = fix_chain("fix", "Done: opened the PR.", true).await;
    let body = one_message_per_sink(&fake, "pr_opened");
    assert_eq!(body["data"]["pull_request"]["number"], 42);
    let slack = fake.accepted("slack")[0].json();
    let buttons = slack["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("buttons");
    let urls: Vec<&str> = buttons["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls.len(), 2, "PR and Inngest run: {urls:?}");
    assert!(urls[0].contains("/pull/42"), "{urls:?}");
    assert!(
        urls[1].starts_with("http://localhost:8288/run?runID="),
        "{urls:?}"
    );
}

#[tokio::test]
async fn a_failed_agent_is_reported_with_its_last_message() {
    let (fake, _app, _) =
        fix_chain("fix", "I could not run the tests: npm ci failed.", false).await;
    let body = one_message_per_sink(&fake, "agent_failed");
    assert!(
        body["data"]["details"]
            .to_string()
            .contains("npm ci failed"),
        "{body:#}"
    );
}

#[tokio::test]
async fn verify_fix_verdicts_are_announced_once() {
    for (event, transition) in [
        ("autofix/incident.resolved", "fix_verified"),
        ("autofix/fix.ineffective", "fix_ineffective"),
    ] {
        let fake = FakeSinks::start().await;
        let app = health_app(&fake).await;
        let data = json!({"fingerprint": "af-0123456789ab", "repo": "acme/api", "pr_number": 7,
            "pr_url": "https://github.com/acme/api/pull/7", "verdict": "not_fixed",
            "project": {"id": "p", "name": "shop"}, "environment": {"id": "e", "name": "production"}});
        // verify-fix may be retried and send twice: still one message.
        for _ in 0..2 {
            app.inngest.send(json!({"name": event, "data": data})).await;
            app.inngest.run_until_idle().await.unwrap();
        }
        let body = one_message_per_sink(&fake, transition);
        assert_eq!(
            body["data"]["pull_request"]["url"],
            "https://github.com/acme/api/pull/7"
        );
    }
}

#[tokio::test]
async fn a_recovered_finding_is_announced_once() {
    let fake = FakeSinks::start().await;
    let app = health_app(&fake).await;
    // What Inngest emits when a cycle ends whose detection reports a `recovered` finding.
    let finished = json!({"name": "inngest/function.finished", "data": {
        "function_id": "autofix-monitor-project-health", "run_id": "01RUNRECOVERED",
        "result": {"project": "shop", "environment": "production", "demo": false, "findings": [
            {"service": "api", "service_id": "svc-api", "kind": "latency", "severity": "recovered",
             "fingerprint": "af-0123456789ab", "evidence": "p95 back under 1 s since 09:40"}]}}});
    for _ in 0..3 {
        app.inngest.send(finished.clone()).await;
        app.inngest.run_until_idle().await.unwrap();
    }
    let body = one_message_per_sink(&fake, "incident_recovered");
    assert_eq!(
        body["data"]["run_url"],
        "http://localhost:8288/run?runID=01RUNRECOVERED"
    );
}
