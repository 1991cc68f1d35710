//! Acceptance test against the REAL OpenCode server (npm `opencode-linux-x64@1.18.33`),
//! fully offline: the agent talks to a scripted fake LLM whose first answer is a `bash` tool
//! call that creates the fix branch, edits a file and commits; our client creates the session,
//! sends the prompt, polls until the run is judged complete, and the test checks the branch and
//! commit with `git` in the scratch repository.
//!
//! The binary comes from `OPENCODE_BIN`. Without it the test is skipped with a note, unless
//! `CI` is set, in which case it fails: CI must exercise the real server.

use std::time::{Duration, Instant};

use autofix_tests::fake_llm_script::{FakeLlmScript, ScriptStep};
use autofix_tests::real_opencode::{
    KEY_VALUE, PASSWORD, PINNED_VERSION, Scratch, Server, client, git, init_repo, opencode_bin,
    wait_healthy,
};
use opencode::{ModelRef, OpenCode, OpenCodeError, Outcome, PromptRequest, SessionState, judge};

const RUN_DEADLINE: Duration = Duration::from_secs(120);
const POLL_EVERY: Duration = Duration::from_millis(250);
/// Prompts containing this make the fake LLM stall, like a provider that never answers.
const STALL_MARKER: &str = "[stall]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_commits_the_fix_on_the_expected_branch() {
    let Some(bin) = opencode_bin() else { return };
    let started = Instant::now();
    let scratch = Scratch::new("opencode-real");
    let repo = scratch.0.join("repo");
    let home = scratch.0.join("home");
    std::fs::create_dir_all(&home).expect("home dir");
    init_repo(&repo, "app.txt", "port = 80\n");

    let branch = "autofix/9c1e2f0a7b3d";
    let commit_message = "autofix: default port to 8080";
    let llm = FakeLlmScript::start_routed(vec![
        (STALL_MARKER.to_owned(), vec![ScriptStep::Hang]),
        (
            String::new(),
            vec![
                ScriptStep::bash(&format!(
                    "git checkout -b {branch} && echo fix >> app.txt && git commit -am \"{commit_message}\""
                )),
                ScriptStep::Text(format!("Committed the fix on {branch}.")),
            ],
        ),
    ])
    .await;
    let server = Server::with_fake_llm(&bin, &home, llm.base_url());
    let oc = client(&server, PASSWORD);
    wait_healthy(&oc, &server).await;
    let ready = started.elapsed();

    assert_eq!(oc.server_version().await.unwrap(), PINNED_VERSION);
    let wrong = client(&server, "not-the-password");
    assert!(matches!(
        wrong.health().await,
        Err(OpenCodeError::Unauthorized { .. })
    ));

    let dir = repo.to_str().expect("utf-8 path");
    let session = oc
        .create_session(dir, "Autofix: real server acceptance")
        .await
        .expect("create session");
    assert_eq!(session.directory, dir);
    assert_eq!(session.version, PINNED_VERSION);

    let prompt = PromptRequest {
        text: format!("Fix the port default, commit on branch {branch}."),
        model: Some(ModelRef::new("fake", "fake-model")),
        agent: Some("build".to_owned()),
        system: None,
    };
    let prompted = Instant::now();
    oc.prompt_async(&session.id, dir, &prompt)
        .await
        .expect("prompt_async");

    let mut polls = 0;
    let mut seen_states = Vec::new();
    let outcome = loop {
        polls += 1;
        let state = oc.status(&session.id, dir).await.expect("status");
        let reply = oc
            .last_assistant_message(&session.id, dir)
            .await
            .expect("messages");
        if seen_states.last() != Some(&state) {
            seen_states.push(state.clone());
        }
        match judge(&state, reply.as_ref()) {
            Outcome::Running if prompted.elapsed() < RUN_DEADLINE => {
                tokio::time::sleep(POLL_EVERY).await;
            }
            Outcome::Running => {
                let _ = oc.abort(&session.id, dir).await;
                panic!(
                    "run not finished after {RUN_DEADLINE:?} (states {seen_states:?}, reply \
                     {reply:?})\n{}",
                    server.log_tail()
                );
            }
            done => break done,
        }
    };
    let run = prompted.elapsed();

    assert_eq!(
        outcome,
        Outcome::Completed {
            text: format!("Committed the fix on {branch}.")
        },
        "{}",
        server.log_tail()
    );
    let reply = oc
        .last_assistant_message(&session.id, dir)
        .await
        .unwrap()
        .expect("final reply");
    assert_eq!(reply.model, Some(ModelRef::new("fake", "fake-model")));

    // The agent's tool call really ran in the session directory.
    assert_eq!(git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"]), branch);
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%s", branch]),
        commit_message
    );
    assert_eq!(
        git(&repo, &["show", &format!("{branch}:app.txt")]),
        "port = 80\nfix"
    );
    assert_eq!(
        git(&repo, &["rev-list", "--count", &format!("main..{branch}")]),
        "1"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");

    // The LLM saw our key through `{env:…}` substitution and got the tool output back.
    let chats = llm.recorded();
    let tool_turns: Vec<_> = chats.iter().filter(|c| c.with_tools).collect();
    assert!(tool_turns.len() >= 2, "{chats:?}");
    for chat in &chats {
        assert_eq!(
            chat.authorization.as_deref(),
            Some(format!("Bearer {KEY_VALUE}").as_str())
        );
        assert_eq!(chat.model, "fake-model");
        assert!(chat.stream);
    }
    let last = tool_turns.last().unwrap();
    assert_eq!(last.step, Some(1));
    assert!(
        last.tool_results.iter().any(|r| r.contains(commit_message)),
        "tool output should show the commit: {:?}",
        last.tool_results
    );

    oc.delete_session(&session.id, dir)
        .await
        .expect("delete session");

    let abort_took = stalled_run_is_aborted(&oc, &server, dir).await;
    eprintln!(
        "real opencode: ready in {ready:?}, prompt to completion {run:?} over {polls} polls, \
         states {seen_states:?}, {} LLM calls; stalled run aborted and judged in {abort_took:?}; \
         total {:?}",
        chats.len(),
        started.elapsed()
    );
}

/// The pipeline's deadline path on the real server: the LLM never answers, OpenCode stays busy,
/// our abort ends the run, and the judgement reports the abort as a failure.
async fn stalled_run_is_aborted(oc: &OpenCode, server: &Server, dir: &str) -> Duration {
    let session = oc
        .create_session(dir, "Autofix: stalled provider")
        .await
        .expect("create session");
    oc.prompt_async(
        &session.id,
        dir,
        &PromptRequest::new(format!("{STALL_MARKER} fix it")),
    )
    .await
    .expect("prompt_async");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = oc.status(&session.id, dir).await.expect("status");
        if state == SessionState::Busy {
            let reply = oc
                .last_assistant_message(&session.id, dir)
                .await
                .expect("messages");
            assert_eq!(judge(&state, reply.as_ref()), Outcome::Running);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stalled session never became busy ({state:?})\n{}",
            server.log_tail()
        );
        tokio::time::sleep(POLL_EVERY).await;
    }

    let aborted = Instant::now();
    oc.abort(&session.id, dir).await.expect("abort");
    let outcome = loop {
        let state = oc.status(&session.id, dir).await.expect("status");
        let reply = oc
            .last_assistant_message(&session.id, dir)
            .await
            .expect("messages");
        match judge(&state, reply.as_ref()) {
            Outcome::Running if aborted.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(POLL_EVERY).await;
            }
            Outcome::Running => panic!(
                "aborted session still running ({state:?}, {reply:?})\n{}",
                server.log_tail()
            ),
            done => break done,
        }
    };
    assert!(
        matches!(&outcome, Outcome::Failed { reason, .. } if reason.starts_with("MessageAbortedError")),
        "{outcome:?}"
    );
    oc.delete_session(&session.id, dir)
        .await
        .expect("delete session");
    aborted.elapsed()
}
