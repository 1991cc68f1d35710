//! Acceptance test against the REAL OpenCode server (npm `opencode-linux-x64@1.18.33`),
//! fully offline: the agent talks to a scripted fake LLM whose first answer is a `bash` tool
//! call that creates the fix branch, edits a file and commits; our client creates the session,
//! sends the prompt, polls until the run is judged complete, and the test checks the branch and
//! commit with `git` in the scratch repository.
//!
//! The binary comes from `OPENCODE_BIN`. Without it the test is skipped with a note, unless
//! `CI` is set, in which case it fails: CI must exercise the real server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use autofix_tests::fake_llm_script::{FakeLlmScript, ScriptStep};
use opencode::{
    ApiKey, ModelRef, OpenCode, OpenCodeError, Outcome, PromptRequest, ProviderConfig,
    SessionState, headless_config, judge,
};

const PINNED_VERSION: &str = "1.18.33";
const READY_LINE: &str = "opencode server listening on";
const START_TIMEOUT: Duration = Duration::from_secs(45);
const RUN_DEADLINE: Duration = Duration::from_secs(120);
const POLL_EVERY: Duration = Duration::from_millis(250);
const KEY_VAR: &str = "AUTOFIX_TEST_LLM_KEY";
const KEY_VALUE: &str = "test-llm-key-5f1c";
const PASSWORD: &str = "test-server-password-9d2e";
/// Prompts containing this make the fake LLM stall, like a provider that never answers.
const STALL_MARKER: &str = "[stall]";

fn opencode_bin() -> Option<PathBuf> {
    match std::env::var_os("OPENCODE_BIN").filter(|v| !v.is_empty()) {
        Some(bin) => {
            let bin = PathBuf::from(bin);
            assert!(
                bin.is_file(),
                "OPENCODE_BIN={} is not a file",
                bin.display()
            );
            Some(bin)
        }
        None if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => panic!(
            "CI is set but OPENCODE_BIN is not: install the pinned server with \
             `npm install --prefix <dir> opencode-linux-x64@{PINNED_VERSION}` and export \
             OPENCODE_BIN=<dir>/node_modules/opencode-linux-x64/bin/opencode"
        ),
        None => {
            eprintln!(
                "skipping the real OpenCode test: OPENCODE_BIN is not set (see the module docs)"
            );
            None
        }
    }
}

/// A scratch directory removed on drop (also when the test panics).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "autofix-opencode-real-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn init_repo(repo: &Path) {
    std::fs::create_dir_all(repo).expect("create repo dir");
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    git(repo, &["config", "user.name", "Autofix Test"]);
    git(
        repo,
        &["config", "user.email", "autofix-test@example.invalid"],
    );
    git(repo, &["config", "commit.gpgsign", "false"]);
    std::fs::write(repo.join("app.txt"), "port = 80\n").expect("write app.txt");
    git(repo, &["add", "app.txt"]);
    git(repo, &["commit", "--quiet", "-m", "initial"]);
}

/// The running `opencode serve`; SIGTERM (then SIGKILL) on drop so no server outlives a test.
struct Server {
    child: Child,
    url: reqwest::Url,
    log: PathBuf,
}

impl Server {
    fn start(bin: &Path, home: &Path, config: &serde_json::Value) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = home.join("server-stderr.log");
        let stderr = std::fs::File::create(&log).expect("server log file");
        // A clean environment: the agent's bash tool inherits it (it must not see our secrets),
        // and scratch XDG dirs keep the developer's OpenCode state out of the test.
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--hostname",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .args(["--print-logs", "--log-level", "INFO"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("OPENCODE_CONFIG_CONTENT", config.to_string())
            .env("OPENCODE_DISABLE_PROJECT_CONFIG", "1")
            .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
            .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
            .env("OPENCODE_DISABLE_LSP_DOWNLOAD", "1")
            .env("OPENCODE_SERVER_PASSWORD", PASSWORD)
            // Makes the server's background plugin install fail fast instead of downloading.
            .env("npm_config_registry", "http://127.0.0.1:9/")
            .env(KEY_VAR, KEY_VALUE)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn opencode serve");

        // Wait for the listening line (requests sent earlier can hang); keep draining stdout
        // afterwards so the server never blocks on a full pipe.
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut server = Self {
            child,
            url: reqwest::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url"),
            log,
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split(READY_LINE).nth(1) {
                        server.url = reqwest::Url::parse(rest.trim()).expect("listening URL");
                        return server;
                    }
                }
                Err(_) => panic!(
                    "opencode did not print {READY_LINE:?} within {START_TIMEOUT:?}\n{}",
                    server.log_tail()
                ),
            }
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        // The log may echo the config; keep the credentials out of test output anyway.
        format!(
            "--- server log tail ---\n{}",
            tail.replace(PASSWORD, "<pw>").replace(KEY_VALUE, "<key>")
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(server: &Server, password: &str) -> OpenCode {
    OpenCode::new(
        reqwest::Client::new(),
        server.url.clone(),
        None,
        Some(password.to_owned()),
    )
    .with_timeout(Duration::from_secs(10))
}

async fn wait_healthy(oc: &OpenCode, server: &Server) {
    let short = oc.clone().with_timeout(Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match short.health().await {
            Ok(()) => return,
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("opencode never became healthy: {e}\n{}", server.log_tail()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_commits_the_fix_on_the_expected_branch() {
    let Some(bin) = opencode_bin() else { return };
    let started = Instant::now();
    let scratch = Scratch::new();
    let repo = scratch.0.join("repo");
    let home = scratch.0.join("home");
    std::fs::create_dir_all(&home).expect("home dir");
    init_repo(&repo);

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
    let provider = ProviderConfig::openai_compatible(
        "fake",
        llm.base_url(),
        "fake-model",
        ApiKey::Env(KEY_VAR.to_owned()),
    );
    let server = Server::start(&bin, &home, &headless_config(&provider));
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
