//! Start the reference app built on the official TypeScript SDK
//! (`tests/inngest-ts-ref`, `inngest@4.24.0`) against a [`TestInngest`].
//!
//! Install it once with `npm ci --prefix tests/inngest-ts-ref` (CI does). Tests
//! call [`ts_ref_ready`] first: without Node or `node_modules` it prints a skip
//! notice and returns false on a developer machine, and panics under CI
//! (`CI` set), where a missing install must fail the build.

use crate::{ServerKind, TestInngest};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// Environment variables of the SDK that must not leak in from the test machine.
const INNGEST_VARS: &[&str] = &[
    "INNGEST_DEV",
    "INNGEST_BASE_URL",
    "INNGEST_API_BASE_URL",
    "INNGEST_EVENT_API_BASE_URL",
    "INNGEST_SIGNING_KEY",
    "INNGEST_SIGNING_KEY_FALLBACK",
    "INNGEST_EVENT_KEY",
    "INNGEST_ENV",
    "INNGEST_SERVE_ORIGIN",
    "INNGEST_SERVE_HOST",
    "INNGEST_SERVE_PATH",
    "INNGEST_STREAMING",
    "INNGEST_LOG_LEVEL",
    "INNGEST_ALLOW_IN_BAND_SYNC",
    "INNGEST_ENABLE_UNAUTHED_SYNC",
];

/// Cap on the captured Node output, so a chatty app cannot grow memory.
const LOG_CAP: usize = 256 * 1024;

/// Why the reference TypeScript app could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NodeAppError {
    #[error("cannot spawn `node app.mjs` in {dir}: {source}")]
    /// `node` could not be started.
    Spawn {
        /// The app's directory.
        dir: String,
        /// The spawn error.
        source: std::io::Error,
    },
    /// The app exited before printing its serve URL.
    #[error("reference app exited before listening; output:\n{log}")]
    Exited {
        /// Everything it printed.
        log: String,
    },
    /// The app printed no serve URL in time; carries the wait and its output.
    #[error("reference app did not print its serve URL within {0:?}; output:\n{1}")]
    Timeout(Duration, String),
    /// The line the app printed is not a URL.
    #[error("reference app printed an invalid serve URL `{0}`")]
    BadUrl(String),
}

/// Directory of the reference app.
pub fn ts_ref_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/inngest-ts-ref")
}

/// Why the reference app cannot run here, if it cannot.
pub fn ts_ref_missing() -> Option<String> {
    let dir = ts_ref_dir();
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok {
        return Some("`node` is not on PATH".into());
    }
    if !dir.join("node_modules/inngest/package.json").is_file() {
        return Some(format!("{} has no node_modules/inngest", dir.display()));
    }
    None
}

/// True when the reference app can run. Otherwise prints why and returns
/// false, or panics when `CI` is set.
pub fn ts_ref_ready() -> bool {
    match ts_ref_missing() {
        None => true,
        Some(why) => {
            test_data::unavailable(
                &format!("the TS SDK reference app cannot run: {why}"),
                "run `npm ci --prefix tests/inngest-ts-ref`",
            );
            false
        }
    }
}

/// A running reference app; killed when dropped.
pub struct TsRefApp {
    _child: Child,
    serve_url: url::Url,
    log: Arc<Mutex<String>>,
}

impl TsRefApp {
    /// Start `node app.mjs` on a free loopback port, configured for
    /// `inngest`'s kind (dev: `INNGEST_DEV=1`; cloud: `INNGEST_DEV=0` with its
    /// signing and event keys) and pointed at `inngest.base_url()`.
    pub async fn start(inngest: &TestInngest) -> Result<TsRefApp, NodeAppError> {
        Self::start_with_env(inngest, &[]).await
    }

    /// Like [`TsRefApp::start`], with extra environment variables set last
    /// (e.g. a different `INNGEST_SIGNING_KEY` to test rejection).
    pub async fn start_with_env(
        inngest: &TestInngest,
        extra_env: &[(&str, &str)],
    ) -> Result<TsRefApp, NodeAppError> {
        let dir = ts_ref_dir();
        let opts = inngest.options();
        let base = inngest.base_url().to_string();
        let mut cmd = Command::new("node");
        cmd.arg("app.mjs").current_dir(&dir);
        for var in INNGEST_VARS {
            cmd.env_remove(var);
        }
        cmd.env("PORT", "0")
            .env("INNGEST_BASE_URL", base.trim_end_matches('/'))
            .env(
                "INNGEST_DEV",
                if opts.server_kind == ServerKind::Dev {
                    "1"
                } else {
                    "0"
                },
            );
        if let Some(key) = &opts.signing_key {
            cmd.env("INNGEST_SIGNING_KEY", key);
        }
        if let Some(key) = &opts.event_key {
            cmd.env("INNGEST_EVENT_KEY", key);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| NodeAppError::Spawn {
            dir: dir.display().to_string(),
            source,
        })?;
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(drain(stderr, log.clone()));
        }
        let stdout = child.stdout.take().expect("stdout was piped");
        let mut lines = BufReader::new(stdout).lines();
        let wait = Duration::from_secs(30);
        let found = tokio::time::timeout(wait, async {
            while let Ok(Some(line)) = lines.next_line().await {
                append(&log, &line);
                if let Some(url) = line.strip_prefix("autofix-ref listening on ") {
                    return Some(url.trim().to_string());
                }
            }
            None
        })
        .await;
        let snapshot = || log.lock().map(|l| l.clone()).unwrap_or_default();
        let url = match found {
            Err(_) => return Err(NodeAppError::Timeout(wait, snapshot())),
            Ok(None) => return Err(NodeAppError::Exited { log: snapshot() }),
            Ok(Some(url)) => url,
        };
        let serve_url = url::Url::parse(&url).map_err(|_| NodeAppError::BadUrl(url))?;
        tokio::spawn({
            let log = log.clone();
            async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    append(&log, &line);
                }
            }
        });
        Ok(TsRefApp {
            _child: child,
            serve_url,
            log,
        })
    }

    /// Where the app serves Inngest, as it printed it (`autofix-ref listening on <url>`).
    pub fn serve_url(&self) -> &url::Url {
        &self.serve_url
    }

    /// Everything the app printed so far (capped).
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

fn append(log: &Mutex<String>, line: &str) {
    if let Ok(mut l) = log.lock()
        && l.len() < LOG_CAP
    {
        l.push_str(line);
        l.push('\n');
    }
}

async fn drain(r: impl AsyncRead + Unpin, log: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        append(&log, &line);
    }
}
