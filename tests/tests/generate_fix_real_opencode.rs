//! `generate-fix` end to end against the REAL OpenCode server: the pipeline function, run by the
//! test executor, creates the session in a scratch git repository, sends the task and polls
//! durably; the agent (scripted by a fake LLM) really commits on `autofix/<fingerprint>`; the PR
//! then shows up on the fake GitHub and the run ends with `pr_opened`.
//!
//! The executor resolves durable sleeps at once, so the polls come back to back while the real
//! agent needs a couple of seconds: the poll budget (timeout / interval) and the executor's
//! per-run call cap are sized for that, and a wall-clock bound keeps the test short.
//!
//! The binary comes from `OPENCODE_BIN`; see `autofix_tests::real_opencode` for the skip policy.

use std::time::{Duration, Instant};

use autofix_tests::fake_github::{FakeGitHub, FakePull};
use autofix_tests::fake_llm_script::{FakeLlmScript, ScriptStep};
use autofix_tests::harness::{App, composite, connect_github, leak_deps, leak_fix_request};
use autofix_tests::real_opencode::{
    PASSWORD, Scratch, Server, client, git, init_repo, opencode_bin, wait_healthy,
};
use inngest_testkit::{Options, RunStatus};
use serde_json::Value;

const COMMIT_MESSAGE: &str = "autofix: bound the cache";
const FINAL_TEXT: &str = "Committed the bounded cache on the fix branch.";
/// What the fake LLM answers when the task lacks the fingerprint marker: no commit, and a
/// final message the assertions would show.
const NO_MARKER_TEXT: &str = "The task carried no fingerprint marker; doing nothing.";
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Polls = timeout / interval = 200. A successful run took ~45 back-to-back polls here (the
/// agent needs ~2-3 s); each poll gets slower as the replayed history grows (300 polls of a
/// stalled agent took ~50 s), so 200 keeps a stuck agent ending in the pipeline's own abort,
/// not in [`WALL_CLOCK_LIMIT`].
const AGENT_TIMEOUT: Duration = Duration::from_secs(400);
/// Every poll costs the executor two calls (sleep, step), plus the steps around the loop; the
/// default cap of 200 would cut the run off after ~95 polls.
const MAX_CALLS: u32 = 500;
const WALL_CLOCK_LIMIT: Duration = Duration::from_secs(60);

/// Text of the user messages of a `GET /session/{id}/message` answer.
fn user_texts(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["info"]["role"] == "user")
        .map(|m| {
            m["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_fix_drives_the_real_opencode_to_a_committed_branch_and_a_verified_pr() {
    let Some(bin) = opencode_bin() else { return };
    let started = Instant::now();

    let request = leak_fix_request().await;
    assert_eq!(request["name"], "autofix/fix.requested");
    assert_eq!(request["data"]["repo"], "acme/api");
    let fp = request["data"]["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    let branch = fix_plan::naming::branch(&fp);
    assert_eq!(branch, format!("autofix/{fp}"));
    let marker = fix_plan::naming::marker(&fp);

    let scratch = Scratch::new("generate-fix-real");
    let repo = scratch.path().join("repo");
    let home = scratch.path().join("home");
    std::fs::create_dir_all(&home).expect("home dir");
    init_repo(&repo, "README.md", "# api\n");
    let workdir = repo.to_str().expect("utf-8 path").to_owned();

    // The commit only happens if the task the pipeline sent carries the fingerprint marker.
    let llm = FakeLlmScript::start_routed(vec![
        (
            marker.clone(),
            vec![
                ScriptStep::bash(&format!(
                    "git checkout -b {branch} && echo fix >> README.md && git commit -am \"{COMMIT_MESSAGE}\""
                )),
                ScriptStep::Text(FINAL_TEXT.to_owned()),
            ],
        ),
        (String::new(), vec![ScriptStep::Text(NO_MARKER_TEXT.to_owned())]),
    ])
    .await;
    let server = Server::with_fake_llm(&bin, &home, llm.base_url());
    wait_healthy(&client(&server, PASSWORD), &server).await;

    let github = FakeGitHub::start(Some("ghp-test-secret")).await;
    // The agent's PR shows up once it has pushed: after the existing-PR check.
    github.add_pull_after("acme/api", FakePull::open(42, &branch, Some(&marker)), 1);

    let http = reqwest::Client::new();
    let mut deps = leak_deps();
    assert!(deps.llm.is_none(), "the analysis must be rule-based");
    deps.opencode = Some(opencode::OpenCode::new(
        http.clone(),
        server.url.clone(),
        None,
        Some(PASSWORD.to_owned()),
    ));
    connect_github(&mut deps, &github);
    deps.settings = pipeline::Settings {
        agent_workdir: workdir.clone(),
        agent_poll_interval: POLL_INTERVAL,
        agent_timeout: AGENT_TIMEOUT,
        // verify-fix reads the PR once and stops (`stale`): it is tested on its own.
        verify_max_wait: Duration::ZERO,
        ..pipeline::Settings::default()
    };
    let options = Options {
        max_calls: MAX_CALLS,
        max_total_calls: MAX_CALLS + 100,
        ..Options::dev()
    };
    let app = App::start_with(deps, options).await;

    app.inngest.send(request.clone()).await;
    let ran = Instant::now();
    tokio::time::timeout(WALL_CLOCK_LIMIT, app.inngest.run_until_idle())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "generate-fix did not finish within {WALL_CLOCK_LIMIT:?}\n{}",
                server.log_tail()
            )
        })
        .expect("executor");
    let ran = ran.elapsed();

    let runs = app.inngest.runs_of(&composite("generate-fix"));
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let out = match &run.status {
        RunStatus::Completed(v) => v,
        other => panic!(
            "generate-fix did not complete: {other:?}\n{}",
            server.log_tail()
        ),
    };
    assert_eq!(out["status"], "pr_opened", "{out:#}\n{}", server.log_tail());
    assert_eq!(out["fingerprint"], fp.as_str());
    assert_eq!(out["repo"], "acme/api");
    assert_eq!(out["pull_request"]["number"], 42);
    assert_eq!(out["agent_last_message"], FINAL_TEXT);
    assert!(
        out["analysis"]["source"].get("llm").is_none(),
        "rule-based analysis expected: {:#}",
        out["analysis"]["source"]
    );
    assert!(run.step("abort-session").is_none(), "no abort expected");
    let polls = run
        .steps
        .iter()
        .filter(|s| s.name.as_deref() == Some("poll-agent"))
        .count();
    assert!(polls >= 2, "the run finished on its first poll: {polls}");

    // The agent's tool call really ran in the session directory: one new commit on the branch.
    assert_eq!(git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"]), branch);
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%s", &branch]),
        COMMIT_MESSAGE
    );
    assert_eq!(
        git(&repo, &["rev-list", "--count", &format!("main..{branch}")]),
        "1"
    );
    assert_eq!(
        git(&repo, &["show", &format!("{branch}:README.md")]),
        "# api\nfix"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");

    // The server holds exactly the one session the run created, in the configured directory,
    // and the prompt it received names the branch and carries the marker.
    let sessions = server.get_json("session", &workdir).await;
    let sessions = sessions.as_array().expect("session list");
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(sessions[0]["id"], out["session_id"]);
    assert_eq!(sessions[0]["directory"], workdir.as_str());
    let session_id = sessions[0]["id"].as_str().expect("session id");
    let messages = server
        .get_json(&format!("session/{session_id}/message"), &workdir)
        .await;
    let prompts = user_texts(&messages);
    assert_eq!(prompts.len(), 1, "{prompts:#?}");
    assert!(prompts[0].contains(&branch), "{}", prompts[0]);
    assert!(prompts[0].contains(&marker), "{}", prompts[0]);
    assert_eq!(out["task"]["prompt_text"], prompts[0].as_str());
    let last = messages
        .as_array()
        .and_then(|m| m.last())
        .expect("messages");
    assert_eq!(last["info"]["role"], "assistant");
    assert!(last["info"]["error"].is_null(), "{:#}", last["info"]);
    assert_eq!(last["info"]["finish"], "stop");

    // The LLM side: the marker-routed script played both steps (tool call, then final text)
    // and got the commit's output back; nothing fell through to the no-marker answer.
    let chats = llm.recorded();
    let steps: Vec<_> = chats.iter().filter_map(|c| c.step).collect();
    assert_eq!(steps, [0, 1], "{chats:#?}");
    let final_turn = chats.iter().find(|c| c.step == Some(1)).expect("step 1");
    assert!(
        final_turn
            .tool_results
            .iter()
            .any(|r| r.contains(COMMIT_MESSAGE)),
        "tool output should show the commit: {:?}",
        final_turn.tool_results
    );

    // GitHub saw the memory (open PR, rejected PR) before the agent ran, then the lookup by
    // branch, then the CI polls of the PR head: this repository has no checks.
    let gh: Vec<_> = github.requests();
    assert!(
        gh.iter().all(|r| r.authorized && r.has_api_headers),
        "{gh:#?}"
    );
    assert!(gh[0].uri.contains("state=open"), "{gh:#?}");
    assert!(gh[1].uri.contains("state=closed"), "{gh:#?}");
    assert!(gh[2].uri.contains("state=all"), "{gh:#?}");
    assert!(gh.iter().any(|r| r.uri.contains("/check-runs")), "{gh:#?}");
    assert_eq!(out["ci"]["status"], "no_checks", "{out:#}");

    // No secret in what Inngest stores.
    let stored = serde_json::to_string(&app.inngest.runs()).expect("runs as JSON");
    assert!(!stored.contains(PASSWORD) && !stored.contains("ghp-test-secret"));

    eprintln!(
        "generate-fix on real opencode: run {ran:?} over {polls} polls and {} executor calls, \
         {} LLM calls; total {:?}",
        run.calls,
        chats.len(),
        started.elapsed()
    );
}
