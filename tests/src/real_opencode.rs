//! Running the REAL OpenCode server (npm `opencode-linux-x64@1.18.33`) offline for tests: the
//! binary from `OPENCODE_BIN`, a scratch git repository, a clean environment with the headless
//! config, and a server process that never outlives the test.
//!
//! Without `OPENCODE_BIN` a test is skipped with a note, unless `CI` is set, in which case it
//! fails: CI must exercise the real server.

use client_error::ClientError;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opencode::{ApiKey, OpenCode, ProviderConfig, headless_config};

pub const PINNED_VERSION: &str = "1.18.33";
/// What `opencode serve` prints once it accepts requests (requests sent earlier can hang).
pub const READY_LINE: &str = "opencode server listening on";
pub const START_TIMEOUT: Duration = Duration::from_secs(45);
/// The variable the provider's `{env:…}` API key reads, and its value in tests.
pub const KEY_VAR: &str = "AUTOFIX_TEST_LLM_KEY";
pub const KEY_VALUE: &str = "test-llm-key-5f1c";
pub const PASSWORD: &str = "test-server-password-9d2e";

/// The binary to test, `None` (with a note) when a developer has not installed it.
/// Panics when `CI` is set without `OPENCODE_BIN`, or when it does not name a file.
pub fn opencode_bin() -> Option<PathBuf> {
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
        None => {
            test_data::unavailable(
                "OPENCODE_BIN is not set",
                &format!(
                    "tests/run.sh installs the pinned server with `npm install --prefix <dir> \
                     opencode-linux-x64@{PINNED_VERSION}` and exports \
                     OPENCODE_BIN=<dir>/node_modules/opencode-linux-x64/bin/opencode"
                ),
            );
            None
        }
    }
}

/// A scratch directory removed on drop (also when the test panics).
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(label: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("autofix-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `git args` in `repo`, panicking with git's stderr on failure; returns trimmed stdout.
pub fn git(repo: &Path, args: &[&str]) -> String {
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

/// A repository on `main` with one commit holding `file`; identity and signing are set locally
/// so the agent's `git commit` works whatever the machine's global config says.
pub fn init_repo(repo: &Path, file: &str, content: &str) {
    std::fs::create_dir_all(repo).expect("create repo dir");
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    git(repo, &["config", "user.name", "Autofix Test"]);
    git(
        repo,
        &["config", "user.email", "autofix-test@example.invalid"],
    );
    git(repo, &["config", "commit.gpgsign", "false"]);
    std::fs::write(repo.join(file), content).expect("write the committed file");
    git(repo, &["add", file]);
    git(repo, &["commit", "--quiet", "-m", "initial"]);
}

/// The running `opencode serve`; SIGTERM (then SIGKILL) on drop so no server outlives a test.
pub struct Server {
    child: Child,
    pub url: reqwest::Url,
    log: PathBuf,
}

impl Server {
    /// [`Server::start`] with the headless config whose only provider is the OpenAI-compatible
    /// fake LLM at `llm_base_url` (model `fake-model`, API key read from [`KEY_VAR`]).
    pub fn with_fake_llm(bin: &Path, home: &Path, llm_base_url: &str) -> Self {
        let provider = ProviderConfig::openai_compatible(
            "fake",
            llm_base_url,
            "fake-model",
            ApiKey::Env(KEY_VAR.to_owned()),
        );
        Self::start(bin, home, &headless_config(&provider))
    }

    /// Starts the server on a free loopback port with `config` as `OPENCODE_CONFIG_CONTENT`,
    /// [`PASSWORD`] as its basic-auth password and [`KEY_VAR`] set, and waits for
    /// [`READY_LINE`]. `home` holds its state and log.
    pub fn start(bin: &Path, home: &Path, config: &serde_json::Value) -> Self {
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

        // Keep draining stdout after the ready line so the server never blocks on a full pipe.
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

    /// The last lines of the server's log, credentials masked, for assertion messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        // The log may echo the config; keep the credentials out of test output anyway.
        format!(
            "--- server log tail ---\n{}",
            tail.replace(PASSWORD, "<pw>").replace(KEY_VALUE, "<key>")
        )
    }

    /// `GET path?directory=…` on the server with the test password, as raw JSON: for checking
    /// what the server holds independently of the client under test.
    pub async fn get_json(&self, path: &str, directory: &str) -> serde_json::Value {
        let mut url = self.url.join(path).expect("server path");
        url.query_pairs_mut().append_pair("directory", directory);
        let response = reqwest::Client::new()
            .get(url)
            .basic_auth(opencode::DEFAULT_USERNAME, Some(PASSWORD))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("request to opencode");
        assert!(
            response.status().is_success(),
            "GET {path}: {}\n{}",
            response.status(),
            self.log_tail()
        );
        response.json().await.expect("JSON from opencode")
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

/// Our client for `server`, authenticating with `password`.
pub fn client(server: &Server, password: &str) -> OpenCode {
    OpenCode::new(
        reqwest::Client::new(),
        server.url.clone(),
        None,
        Some(password.to_owned()),
    )
    .with_timeout(Duration::from_secs(10))
}

/// Waits until the server answers its health check (it can lag the ready line briefly).
pub async fn wait_healthy(oc: &OpenCode, server: &Server) {
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
