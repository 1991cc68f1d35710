//! `generate-fix` driven by the test executor against fake LLM, OpenCode and GitHub servers.

use std::time::Duration;

use autofix_tests::fake_github::{FakeCheckRun, FakeGitHub, FakePull};
use autofix_tests::fake_llm::{FakeLlm, Flavor, Reply};
use autofix_tests::fake_opencode::{FakeOpenCode, FakeOpenCodeConfig};
use autofix_tests::harness::{
    App, composite, connect_github, connect_llm, connect_opencode, fast_settings, leak_deps,
    leak_fix_request,
};
use inngest_testkit::{RunRecord, RunStatus};
use serde_json::{Value, json};

fn plan(request: &Value, action: &str, confidence: f64) -> Value {
    let finding = &request["data"]["findings"][0];
    json!({
        "summary": "Memory of api grows by ~45 MB/h: a cache keyed by request id is never evicted.",
        "root_causes": [{
            "cause": "Unbounded in-memory cache in the session middleware",
            "evidence": [finding["fingerprint"]],
            "services": ["api"],
        }],
        "affected_services": ["api"],
        "actions": [{"repo": "acme/api", "action": action, "rationale": "Bound the session cache with an LRU of 10k entries."}],
        "recommendations": ["Bound the cache"],
        "debugging_steps": ["Compare two heap snapshots"],
        "confidence": confidence,
    })
}

struct Peers {
    llm: FakeLlm,
    opencode: FakeOpenCode,
    github: FakeGitHub,
}

/// The worker serving `settings` against the fake peers (OpenCode at `opencode_url`, or a dry
/// run without it).
async fn app_with(
    peers: &Peers,
    settings: pipeline::Settings,
    opencode_url: Option<url::Url>,
) -> App {
    App::start(fix_deps(peers, settings, opencode_url)).await
}

/// The worker with [`fast_settings`] and the fake OpenCode, after `request` ran to the end.
async fn run_fix(peers: &Peers, request: Value) -> App {
    let opencode = Some(peers.opencode.base_url());
    App::run_event(fix_deps(peers, fast_settings(), opencode), request).await
}

fn fix_deps(
    peers: &Peers,
    settings: pipeline::Settings,
    opencode_url: Option<url::Url>,
) -> pipeline::Deps {
    let mut deps = leak_deps();
    deps.settings = settings;
    connect_llm(&mut deps, &peers.llm);
    connect_github(&mut deps, &peers.github);
    if let Some(url) = opencode_url {
        connect_opencode(&mut deps, url);
    }
    deps
}

fn only_fix_run(app: &App) -> RunRecord {
    let runs = app.inngest.runs_of(&composite("generate-fix"));
    assert_eq!(runs.len(), 1);
    runs.into_iter().next().unwrap()
}

fn outcome(run: &RunRecord) -> &Value {
    match &run.status {
        RunStatus::Completed(v) => v,
        other => panic!("generate-fix did not complete: {other:?}"),
    }
}

async fn peers(replies: Vec<Reply>, opencode: FakeOpenCodeConfig) -> Peers {
    Peers {
        llm: FakeLlm::start(Flavor::OpenAi, replies).await,
        opencode: FakeOpenCode::start(opencode).await,
        github: FakeGitHub::start(Some("ghp-test-secret")).await,
    }
}

/// Peers where the model answers `fix` with confidence 0.9 and OpenCode behaves.
async fn fix_peers(request: &Value) -> Peers {
    peers(
        vec![Reply::answer(&plan(request, "fix", 0.9))],
        FakeOpenCodeConfig::default(),
    )
    .await
}

fn fingerprint(request: &Value) -> String {
    request["data"]["fingerprint"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_leak_gets_an_llm_analysis_and_one_agent_session_with_the_expected_task() {
    let request = leak_fix_request().await;
    let fp = fingerprint(&request);
    let peers = peers(
        vec![Reply::answer(&plan(&request, "fix", 0.85))],
        FakeOpenCodeConfig::default(),
    )
    .await;
    // The agent's PR shows up on GitHub once it has pushed: after the existing-PR check.
    peers.github.add_pull_after(
        "acme/api",
        FakePull::open(
            42,
            &format!("autofix/{fp}"),
            Some(&fix_plan::naming::marker(&fp)),
        ),
        1,
    );
    let app = run_fix(&peers, request.clone()).await;

    let run = only_fix_run(&app);
    let out = outcome(&run);
    assert_eq!(out["status"], "pr_opened", "{out:#}");
    assert_eq!(out["pull_request"]["number"], 42);
    assert_eq!(out["analysis"]["source"]["llm"]["model"], "gpt-test");
    assert_eq!(out["analysis"]["actions"][0]["action"], "fix");

    // One LLM call carrying the schema.
    let calls = peers.llm.requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["response_format"]["type"], "json_schema");

    // One session, one task: the right repo, branch and marker; log excerpts quoted.
    let seen = peers.opencode.recorded();
    assert_eq!(seen.sessions.len(), 1);
    assert_eq!(seen.prompts.len(), 1);
    let text = seen.prompts[0].body["parts"][0]["text"].as_str().unwrap();
    assert!(text.contains("gh repo clone acme/api"), "{text}");
    assert!(text.contains(&format!("autofix/{fp}")));
    assert!(text.contains(&fix_plan::naming::marker(&fp)));
    assert!(text.contains("UNTRUSTED"));
    assert!(seen.aborts.is_empty());
    // Durable polls: sleeps between short status calls, never one long call.
    assert!(!run.sleeps.is_empty());
    assert!(seen.status_polls >= 2);
    // No secret leaks into what Inngest stores.
    let stored = serde_json::to_string(&app.inngest.runs()).unwrap();
    assert!(!stored.contains("sk-test-secret") && !stored.contains("ghp-test-secret"));
}

#[tokio::test]
async fn wait_and_low_confidence_open_nothing() {
    for (action, confidence, expected) in [("wait", 0.9, "wait"), ("fix", 0.3, "confidence")] {
        let request = leak_fix_request().await;
        let peers = peers(
            vec![Reply::answer(&plan(&request, action, confidence))],
            FakeOpenCodeConfig::default(),
        )
        .await;
        let app = run_fix(&peers, request).await;
        let run = only_fix_run(&app);
        let out = outcome(&run);
        assert_eq!(out["status"], "skipped");
        assert!(
            out["reason"].as_str().unwrap().contains(expected),
            "{out:#}"
        );
        assert!(
            peers.opencode.recorded().sessions.is_empty(),
            "no session for {action}/{confidence}"
        );
    }
}

#[tokio::test]
async fn an_open_pr_with_the_same_fingerprint_opens_nothing() {
    let request = leak_fix_request().await;
    let fp = fingerprint(&request);
    let peers = fix_peers(&request).await;
    peers.github.add_pull(
        "acme/api",
        FakePull::open(
            7,
            "fix/something-else",
            Some(&fix_plan::naming::marker(&fp)),
        ),
    );
    let app = run_fix(&peers, request).await;
    let out = outcome(&only_fix_run(&app)).clone();
    assert_eq!(out["status"], "skipped");
    assert!(out["reason"].as_str().unwrap().contains("pull"), "{out:#}");
    assert_eq!(out["pull_request"]["number"], 7);
    assert!(peers.opencode.recorded().sessions.is_empty());
}

#[tokio::test]
async fn malformed_llm_output_is_repaired_once_or_fails_clearly() {
    // Repaired: the second answer is valid.
    let request = leak_fix_request().await;
    let peers_ok = peers(
        vec![
            Reply::Answer("{\"summary\": 42".into()),
            Reply::answer(&plan(&request, "fix", 0.9)),
        ],
        FakeOpenCodeConfig::default(),
    )
    .await;
    let app = App::run_event(fix_deps(&peers_ok, fast_settings(), None), request.clone()).await;
    let out = outcome(&only_fix_run(&app)).clone();
    assert_eq!(out["status"], "dry_run", "{out:#}");
    assert_eq!(peers_ok.llm.requests().len(), 2);

    // Both broken: a non-retriable failure naming the problem, after exactly two calls.
    let peers_bad = peers(
        vec![
            Reply::Answer("not json".into()),
            Reply::Answer("{\"still\": \"wrong\"}".into()),
        ],
        FakeOpenCodeConfig::default(),
    )
    .await;
    let app = App::run_event(fix_deps(&peers_bad, fast_settings(), None), request).await;
    let run = only_fix_run(&app);
    let RunStatus::Failed(error) = &run.status else {
        panic!("expected failure: {:?}", run.status)
    };
    assert!(
        error
            .to_string()
            .contains("invalid after one repair attempt"),
        "{error}"
    );
    assert_eq!(
        peers_bad.llm.requests().len(),
        2,
        "no blind retries of a model that cannot comply"
    );
}

#[tokio::test]
async fn an_unreachable_opencode_is_retried_and_then_fails() {
    let request = leak_fix_request().await;
    let peers = fix_peers(&request).await;
    // Port 9 (discard) is closed on the test machine: connection refused.
    let closed = url::Url::parse("http://127.0.0.1:9/").unwrap();
    let app = App::run_event(fix_deps(&peers, fast_settings(), Some(closed)), request).await;
    let run = only_fix_run(&app);
    assert!(
        matches!(run.status, RunStatus::Failed(_)),
        "{:?}",
        run.status
    );
    let retried = run.retries.iter().filter(|r| r.retried).count();
    assert_eq!(
        retried as u32,
        pipeline::Settings::default().retries,
        "{:?}",
        run.retries
    );
    let step_failures: Vec<_> = run
        .retries
        .iter()
        .filter(|r| r.reason.starts_with("Step"))
        .collect();
    assert_eq!(
        step_failures.len(),
        4,
        "3 retries, then StepFailed: {:?}",
        run.retries
    );
    assert!(
        step_failures
            .iter()
            .all(|r| r.reason.contains("OpenCode server unreachable")),
        "{:?}",
        run.retries
    );
    assert!(
        step_failures
            .last()
            .unwrap()
            .reason
            .starts_with("StepFailed")
    );
    let RunStatus::Failed(error) = &run.status else {
        unreachable!()
    };
    assert!(
        error.to_string().contains("OpenCode"),
        "the run's error names the cause: {error}"
    );
    assert_eq!(
        peers.llm.requests().len(),
        1,
        "the memoized analysis is not redone on retries"
    );
}

#[tokio::test]
async fn a_session_that_exceeds_the_timeout_is_aborted() {
    let request = leak_fix_request().await;
    let never = FakeOpenCodeConfig {
        busy_polls: None,
        ..FakeOpenCodeConfig::default()
    };
    let peers = peers(vec![Reply::answer(&plan(&request, "fix", 0.9))], never).await;
    let app = run_fix(&peers, request).await;
    let run = only_fix_run(&app);
    let out = outcome(&run);
    assert_eq!(out["status"], "failed");
    assert!(
        out["reason"].as_str().unwrap().contains("aborted"),
        "{out:#}"
    );
    let seen = peers.opencode.recorded();
    assert_eq!(seen.aborts.len(), 1);
    // 60 s timeout / 10 s interval = 6 durable polls.
    assert_eq!(run.sleeps.len(), 6);
}

#[tokio::test]
async fn the_approval_gate_waits_proceeds_on_approval_and_gives_up_on_timeout() {
    let settings = || pipeline::Settings {
        approval_required: true,
        ..fast_settings()
    };

    // No approval: the wait times out and nothing is started.
    let request = leak_fix_request().await;
    let peers_a = fix_peers(&request).await;
    let app = App::run_event(
        fix_deps(&peers_a, settings(), Some(peers_a.opencode.base_url())),
        request.clone(),
    )
    .await;
    let run = only_fix_run(&app);
    assert_eq!(outcome(&run)["status"], "approval_timed_out");
    assert_eq!(run.waits.len(), 1);
    assert_eq!(run.waits[0].event, "autofix/fix.approved");
    assert!(peers_a.opencode.recorded().sessions.is_empty());

    // Approved (and an approval for another fingerprint is ignored).
    let fp = fingerprint(&request);
    let peers_b = fix_peers(&request).await;
    let app = app_with(&peers_b, settings(), Some(peers_b.opencode.base_url())).await;
    app.inngest.send(request).await;
    app.inngest
        .send(json!({"name": "autofix/fix.approved", "data": {"fingerprint": "af-other"}}))
        .await;
    app.inngest.send(json!({"name": "autofix/fix.approved", "data": {"fingerprint": fp, "approved_by": "oncall"}})).await;
    app.inngest.run_until_idle().await.unwrap();
    let run = only_fix_run(&app);
    assert!(
        run.waits[0].resolved && run.waits[0].matched_event_id.is_some(),
        "{:?}",
        run.waits
    );
    assert_eq!(
        peers_b.opencode.recorded().sessions.len(),
        1,
        "the agent starts after approval"
    );
}

#[tokio::test]
async fn anthropic_is_a_drop_in_provider() {
    let request = leak_fix_request().await;
    let llm = FakeLlm::start(
        Flavor::Anthropic,
        vec![Reply::answer(&plan(&request, "fix", 0.9))],
    )
    .await;
    let http = reqwest::Client::new();
    let mut deps = leak_deps();
    deps.llm = Some(llm::Llm::new(
        http,
        llm.provider("sk-ant-secret", "claude-test"),
    ));
    let app = App::run_event(deps, request).await;
    let out = outcome(&only_fix_run(&app)).clone();
    assert_eq!(out["status"], "dry_run");
    assert_eq!(out["analysis"]["source"]["llm"]["provider"], "anthropic");
    let calls = llm.requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/v1/messages");
}

#[tokio::test]
async fn a_session_that_ends_without_a_pr_is_a_failure_with_the_agents_last_message() {
    let request = leak_fix_request().await;
    let mut config = FakeOpenCodeConfig::default();
    config.reply.text = "I could not run the tests: npm ci failed.".into();
    let peers = peers(vec![Reply::answer(&plan(&request, "fix", 0.9))], config).await;
    let app = run_fix(&peers, request).await;
    let run = only_fix_run(&app);
    let out = outcome(&run);
    assert_eq!(out["status"], "failed");
    assert!(
        out["reason"].as_str().unwrap().contains("no pull request"),
        "{out:#}"
    );
    assert_eq!(
        out["agent_last_message"],
        "I could not run the tests: npm ci failed."
    );
    assert!(out["pull_request"].is_null());
}

/// One failed attempt, retried after the 7 s the peer's `Retry-After` asked for, blamed on
/// `cause`.
fn assert_retried_once_after_7s(run: &RunRecord, cause: &str) {
    // The step retries the executor recorded, with the delay the SDK asked for.
    let retries: Vec<_> = run
        .retries
        .iter()
        .map(|r| (r.attempt, r.retry_after, r.retried))
        .collect();
    assert_eq!(
        retries,
        [(0, Some(Duration::from_secs(7)), true)],
        "{:?}",
        run.retries
    );
    assert!(run.retries[0].reason.contains(cause), "{:?}", run.retries);
}

#[tokio::test]
async fn an_llm_429_with_retry_after_reaches_inngest_as_a_retry_after_7s() {
    let request = leak_fix_request().await;
    let peers = peers(
        vec![
            Reply::Raw {
                status: 429,
                headers: vec![("retry-after".into(), "7".into())],
                body: r#"{"error":{"message":"Rate limit reached"}}"#.into(),
            },
            Reply::answer(&plan(&request, "wait", 0.9)),
        ],
        FakeOpenCodeConfig::default(),
    )
    .await;
    let app = run_fix(&peers, request).await;

    let run = only_fix_run(&app);
    assert_retried_once_after_7s(&run, "rate limit");
    assert_eq!(peers.llm.requests().len(), 2, "the retry asked again");
    assert_eq!(outcome(&run)["status"], "skipped");
}

#[tokio::test]
async fn an_opencode_429_with_retry_after_reaches_inngest_as_a_retry_after_7s() {
    let request = leak_fix_request().await;
    let peers = fix_peers(&request).await;
    peers.opencode.throttle_next(1, 7);
    let app = run_fix(&peers, request).await;

    let run = only_fix_run(&app);
    assert_retried_once_after_7s(&run, "OpenCode");
    assert_eq!(
        peers.opencode.recorded().sessions.len(),
        1,
        "the retried create-session went through"
    );
}

#[tokio::test]
async fn a_github_429_with_retry_after_reaches_inngest_as_a_retry_after_7s() {
    let request = leak_fix_request().await;
    let peers = peers(
        vec![Reply::answer(&plan(&request, "wait", 0.9))],
        FakeOpenCodeConfig::default(),
    )
    .await;
    peers
        .github
        .fail_next(autofix_tests::fake_github::GitHubFault::TooManyRequests {
            retry_after_secs: 7,
        });
    let app = run_fix(&peers, request).await;

    let run = only_fix_run(&app);
    assert_retried_once_after_7s(&run, "GitHub");
    assert_eq!(outcome(&run)["status"], "skipped");
}

fn agent_pr(fp: &str) -> FakePull {
    FakePull::open(
        42,
        &fix_plan::naming::branch(fp),
        Some(&fix_plan::naming::marker(fp)),
    )
}

#[tokio::test]
async fn red_ci_gets_one_follow_up_prompt_with_the_failing_output_then_goes_green() {
    let request = leak_fix_request().await;
    let fp = fingerprint(&request);
    let peers = fix_peers(&request).await;
    let pr = agent_pr(&fp);
    let red = pr.head_sha.clone();
    let green = "9beef00000000000000000000000000000000042".to_owned();
    peers.github.add_pull_after("acme/api", pr, 1);
    peers.github.set_checks(
        &red,
        vec![
            FakeCheckRun::completed(1, "cargo test", "failure")
                .output("1 test failed", "test cache::evicts ... FAILED")
                .annotation(
                    "src/cache.rs",
                    42,
                    "assertion failed: cache.len() <= 10_000",
                ),
            FakeCheckRun::completed(2, "clippy", "success"),
        ],
    );
    // The agent's follow-up push moves the PR head to a commit whose checks pass.
    let pushed = green.clone();
    peers
        .github
        .after_pull_reads("acme/api", 42, 1, move |p| p.head_sha = pushed);
    peers.github.set_checks(
        &green,
        vec![FakeCheckRun::completed(3, "cargo test", "success")],
    );
    let app = run_fix(&peers, request).await;

    let run = only_fix_run(&app);
    let out = outcome(&run);
    assert_eq!(out["status"], "pr_opened", "{out:#}");
    assert_eq!(out["ci"]["status"], "green", "{out:#}");
    assert_eq!(out["ci"]["fix_rounds"], 1);
    assert_eq!(out["ci"]["last"]["sha"], green.as_str());
    assert!(
        out["reason"]
            .as_str()
            .unwrap()
            .contains("after 1 follow-up")
    );

    // The same session got exactly one follow-up, naming the check and quoting its output.
    let seen = peers.opencode.recorded();
    assert_eq!(seen.sessions.len(), 1);
    assert_eq!(seen.prompts.len(), 2);
    assert_eq!(seen.prompts[1].session_id, seen.prompts[0].session_id);
    let follow_up = seen.prompts[1].body["parts"][0]["text"].as_str().unwrap();
    assert!(follow_up.contains("- cargo test (failure)"), "{follow_up}");
    assert!(
        !follow_up.contains("clippy"),
        "passing checks are not failures"
    );
    assert!(follow_up.contains("src/cache.rs:42"), "{follow_up}");
    assert!(follow_up.contains(&fix_plan::naming::branch(&fp)));
    assert!(follow_up.contains(evidence::sanitize::UNTRUSTED_HEADER));

    // The PR is handed to verify-fix.
    let opened: Vec<Value> = app
        .inngest
        .events()
        .into_iter()
        .filter(|e| e["name"] == "autofix/pr.opened")
        .collect();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["data"]["pr_number"], 42);
    assert_eq!(opened[0]["data"]["fingerprint"], fp.as_str());
    assert_eq!(
        opened[0]["data"]["findings"][0]["metric"],
        "memory_growth_mb_per_hour"
    );
    assert_eq!(app.inngest.runs_of(&composite("verify-fix")).len(), 1);
}

#[tokio::test]
async fn ci_that_stays_red_ends_ci_failing_after_the_allowed_rounds() {
    let request = leak_fix_request().await;
    let fp = fingerprint(&request);
    let peers = fix_peers(&request).await;
    let pr = agent_pr(&fp);
    peers.github.set_checks(
        &pr.head_sha,
        vec![FakeCheckRun::completed(1, "cargo test", "failure").output("boom", "still broken")],
    );
    peers.github.add_pull_after("acme/api", pr, 1);
    let settings = pipeline::Settings {
        ci_fix_attempts: 1,
        ..fast_settings()
    };
    let app = App::run_event(
        fix_deps(&peers, settings, Some(peers.opencode.base_url())),
        request,
    )
    .await;
    let out = outcome(&only_fix_run(&app)).clone();
    assert_eq!(out["ci"]["status"], "ci_failing", "{out:#}");
    assert_eq!(out["ci"]["fix_rounds"], 1);
    assert!(
        out["reason"].as_str().unwrap().starts_with("ci_failing"),
        "{out:#}"
    );
    assert!(
        out["reason"]
            .as_str()
            .unwrap()
            .contains("cargo test (failure)")
    );
    assert_eq!(
        peers.opencode.recorded().prompts.len(),
        2,
        "one follow-up, not more"
    );
}

#[tokio::test]
async fn a_repository_without_checks_is_said_plainly() {
    let request = leak_fix_request().await;
    let fp = fingerprint(&request);
    let peers = fix_peers(&request).await;
    peers.github.add_pull_after("acme/api", agent_pr(&fp), 1);
    let app = run_fix(&peers, request).await;
    let out = outcome(&only_fix_run(&app)).clone();
    assert_eq!(out["ci"]["status"], "no_checks", "{out:#}");
    assert!(out["reason"].as_str().unwrap().starts_with("no_checks"));
    // Not concluded from the first empty list: GitHub needs a moment to list a push's checks.
    let reads = peers
        .github
        .requests()
        .iter()
        .filter(|r| r.uri.contains("/check-runs"))
        .count();
    assert!(reads >= 2, "{reads}");
    assert_eq!(peers.opencode.recorded().prompts.len(), 1);
}

#[tokio::test]
async fn a_rejected_pr_skips_the_next_cycle_before_the_llm_until_its_label_is_removed() {
    let request = leak_fix_request().await;
    let fp = fingerprint(&request);
    let peers = fix_peers(&request).await;
    let mut rejected = FakePull::closed(42, &fix_plan::naming::branch(&fp), false);
    rejected.body = Some(fix_plan::naming::marker(&fp));
    rejected.labels = vec![github::REJECTED_LABEL.into()];
    peers.github.add_pull("acme/api", rejected);

    let app = run_fix(&peers, request.clone()).await;
    let out = outcome(&only_fix_run(&app)).clone();
    assert_eq!(out["status"], "skipped", "{out:#}");
    assert!(
        out["reason"].as_str().unwrap().contains("rejected"),
        "{out:#}"
    );
    assert_eq!(out["rejected_pull_request"]["number"], 42);
    assert_eq!(
        out["analysis"],
        Value::Null,
        "no analysis for a rejected incident"
    );
    assert!(peers.llm.requests().is_empty(), "no tokens spent");
    assert!(peers.opencode.recorded().sessions.is_empty());

    // A person removes the label: the next cycle analyses again and starts an agent.
    peers
        .github
        .update_pull("acme/api", 42, |p| p.labels.clear());
    let app = run_fix(&peers, request).await;
    let out = outcome(&only_fix_run(&app)).clone();
    assert_ne!(out["reason"].as_str().unwrap_or_default(), "", "{out:#}");
    assert!(out["rejected_pull_request"].is_null(), "{out:#}");
    assert_eq!(peers.llm.requests().len(), 1);
    assert_eq!(peers.opencode.recorded().sessions.len(), 1);
}

#[tokio::test]
async fn an_open_pr_skips_before_the_llm() {
    let request = leak_fix_request().await;
    let fp = fingerprint(&request);
    let peers = fix_peers(&request).await;
    peers.github.add_pull("acme/api", agent_pr(&fp));
    let app = run_fix(&peers, request).await;
    let out = outcome(&only_fix_run(&app)).clone();
    assert_eq!(out["status"], "skipped");
    assert!(
        peers.llm.requests().is_empty(),
        "no tokens spent on a known incident"
    );
}

/// Flow control as Inngest applies it to `generate-fix`: the rate limit keyed by repo and
/// fingerprint turns a repeated request into a skipped event, and the concurrency key (the repo)
/// runs two incidents of one repository one after the other, never interleaved.
#[tokio::test]
async fn one_fingerprint_runs_once_per_period_and_one_repository_runs_one_fix_at_a_time() {
    let request = leak_fix_request().await;
    let fingerprint = request["data"]["fingerprint"].as_str().unwrap().to_owned();
    let mut other = request.clone();
    other["data"]["fingerprint"] = json!("0123456789abcdef");
    let replies = (0..3)
        .map(|_| Reply::answer(&plan(&request, "wait", 0.9)))
        .collect();
    let peers = peers(replies, FakeOpenCodeConfig::default()).await;
    let app = app_with(&peers, fast_settings(), Some(peers.opencode.base_url())).await;

    app.inngest.send(request.clone()).await;
    app.inngest.send(request.clone()).await;
    app.inngest.send(other).await;
    app.inngest.run_until_idle().await.unwrap();

    let runs = app.inngest.runs_of(&composite("generate-fix"));
    let fingerprints: Vec<&str> = runs
        .iter()
        .map(|r| r.event["data"]["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(fingerprints, [fingerprint.as_str(), "0123456789abcdef"]);
    let skipped = app.inngest.skipped();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].reason, "rate_limited");
    assert_eq!(skipped[0].key, format!("acme/api-{fingerprint}"));

    let seqs = |run: &RunRecord| -> Vec<u64> {
        app.inngest
            .exchanges()
            .iter()
            .filter(|e| e.run_id.as_ref() == Some(&run.id))
            .map(|e| e.seq)
            .collect()
    };
    let (first, second) = (seqs(&runs[0]), seqs(&runs[1]));
    assert!(
        first.iter().max() < second.iter().min(),
        "one fix per repository at a time: {first:?} then {second:?}"
    );

    // Once the period has passed, the same incident may be tried again.
    let mut later = request;
    let period = pipeline::Settings::default().fix_rate_limit_period;
    let ts = u64::try_from(pipeline::system_now()).unwrap() * 1000
        + u64::try_from(period.as_millis()).unwrap()
        + 1000;
    later["ts"] = json!(ts);
    app.inngest.send(later).await;
    app.inngest.run_until_idle().await.unwrap();
    assert_eq!(app.inngest.runs_of(&composite("generate-fix")).len(), 3);
    assert_eq!(app.inngest.skipped().len(), 1);
}
