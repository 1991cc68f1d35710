//! The real `autofix` binary: configuration errors, `check`, and `serve` driven by the test
//! executor. Every child gets a cleared environment so the machine's variables cannot leak in.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use inngest_testkit::{Options, RunStatus, TestInngest};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_autofix");

fn autofix(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run autofix")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn help_lists_every_option_with_its_environment_variable() {
    let out = autofix(&["--help"], &[]);
    assert!(out.status.success());
    let help = text(&out);
    for var in [
        "RAILWAY_API_TOKEN",
        "RAILWAY_TOKEN",
        "RAILWAY_PROJECT_ID",
        "RAILWAY_ENVIRONMENT_ID",
        "AUTOFIX_CRON",
        "AUTOFIX_THRESHOLDS",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "AUTOFIX_LLM_MODEL",
        "OPENCODE_URL",
        "OPENCODE_SERVER_PASSWORD",
        "GITHUB_TOKEN",
        "GITHUB_API_URL",
        "INNGEST_DEV",
        "INNGEST_SIGNING_KEY",
        "INNGEST_SERVE_ORIGIN",
    ] {
        assert!(
            help.contains(&format!("[env: {var}")),
            "--help misses {var}"
        );
    }
}

#[test]
fn configuration_errors_name_the_variable_and_never_echo_a_secret() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("AUTOFIX_WINDOW_MINUTES", "2")], "AUTOFIX_WINDOW_MINUTES"),
        (&[("AUTOFIX_CRON", "every ten minutes")], "AUTOFIX_CRON"),
        (
            &[("AUTOFIX_THRESHOLDS", "{\"cpu_warning\": 80}")],
            "unknown threshold `cpu_warning`",
        ),
        (&[("AUTOFIX_AGENT_TIMEOUT", "10")], "AUTOFIX_AGENT_TIMEOUT"),
        (
            &[("AUTOFIX_AGENT_POLL_INTERVAL", "2s")],
            "1 000 steps per run",
        ),
        (
            &[("RAILWAY_API_TOKEN", "tok-super-secret")],
            "RAILWAY_PROJECT_ID",
        ),
        (
            &[
                ("RAILWAY_API_TOKEN", "tok-super-secret"),
                ("RAILWAY_TOKEN", "tok-other-secret"),
            ],
            "set only one",
        ),
        (
            &[("AUTOFIX_LLM_PROVIDER", "anthropic")],
            "ANTHROPIC_API_KEY",
        ),
        (
            &[(
                "AUTOFIX_SLACK_WEBHOOK_URL",
                "hooks.slack.com/services/super-secret",
            )],
            "AUTOFIX_SLACK_WEBHOOK_URL is not a valid URL",
        ),
        (
            &[(
                "AUTOFIX_WEBHOOK_URL",
                "https://example.com/hook?k=super-secret",
            )],
            "AUTOFIX_WEBHOOK_SECRET is not",
        ),
        (
            &[
                ("AUTOFIX_WEBHOOK_URL", "https://example.com/hook"),
                ("AUTOFIX_WEBHOOK_SECRET", "whsec_super-secret"),
            ],
            "AUTOFIX_WEBHOOK_SECRET: the secret is not base64",
        ),
    ];
    for (env, expected) in cases {
        let out = autofix(&["check"], env);
        let all = text(&out);
        assert!(!out.status.success(), "{env:?} should fail: {all}");
        assert!(
            all.contains(expected),
            "{env:?}: expected `{expected}` in: {all}"
        );
        assert!(
            !all.contains("super-secret") && !all.contains("other-secret"),
            "secret echoed: {all}"
        );
    }
}

#[test]
fn cloud_mode_without_a_signing_key_refuses_to_serve() {
    let out = autofix(&["serve", "--port", "0"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("INNGEST_SIGNING_KEY"), "{}", text(&out));
}

#[test]
fn check_json_on_the_demo_flags_the_three_broken_services_only() {
    let out = autofix(&["check", "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["demo"], true);
    let findings = report["findings"].as_array().expect("findings");
    for f in findings {
        for key in [
            "service",
            "kind",
            "severity",
            "value",
            "threshold",
            "evidence",
        ] {
            assert!(!f[key].is_null(), "finding without {key}: {f}");
        }
    }
    let kind_of = |service: &str| -> Vec<&str> {
        findings
            .iter()
            .filter(|f| f["service"] == service && f["severity"] != "observation")
            .map(|f| f["kind"].as_str().unwrap())
            .collect()
    };
    assert_eq!(kind_of("storefront-api"), ["memory_trend"]);
    assert_eq!(kind_of("image-worker"), ["cpu"]);
    assert_eq!(kind_of("reports-api"), ["latency"]);
    assert!(
        kind_of("edge-gateway").is_empty(),
        "the spiky healthy service is not flagged"
    );
    assert!(findings.iter().all(|f| f["service"] != "edge-gateway"));
    // The chain ran to the end: a dry-run task for each fixable repository.
    let fixes = report["fixes"].as_array().unwrap();
    assert_eq!(fixes.iter().filter(|f| f["status"] == "dry_run").count(), 2);
}

#[test]
fn check_text_report_is_labelled_as_demo() {
    let out = autofix(&["check"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("DEMO PROJECT"));
    for name in ["storefront-api", "image-worker", "reports-api"] {
        assert!(report.contains(name));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `autofix serve`; killed when dropped.
struct Child(std::process::Child);

impl Child {
    /// Stops the worker and returns what it wrote: stdout, then stderr (empty when not piped).
    fn stop(&mut self) -> (String, String) {
        use std::io::Read;
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut out) = self.0.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        if let Some(mut err) = self.0.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        (stdout, stderr)
    }
}

/// `autofix serve` on a free port of 127.0.0.1 with a cleared environment and `env` (stdout
/// piped; stderr piped when `stderr` is set, else dropped), and its origin once `/healthz`
/// answers.
async fn serve(env: &[(&str, String)], stderr: bool) -> (Child, String) {
    let port = free_port();
    let mut command = Command::new(BIN);
    command
        .args(["serve"])
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string());
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command
        .stdout(Stdio::piped())
        .stderr(if stderr {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("start autofix serve");
    let child = Child(child);
    let origin = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{origin}/healthz")).send().await
            && r.status().is_success()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "autofix serve did not become healthy");
    (child, origin)
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A demo `autofix serve` against the test executor, with `extra` variables: the sync's function
/// ids, the completed generate-fix outputs of one health check, and the startup block.
async fn demo_chain(extra: &[(&str, String)]) -> (Vec<String>, Vec<Value>, String) {
    let inngest = TestInngest::start(Options::dev()).await;
    let mut env = vec![
        ("INNGEST_DEV", "1".to_owned()),
        ("INNGEST_BASE_URL", inngest.base_url().to_string()),
        ("AUTOFIX_SYNC_ON_START", "false".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    let (mut child, base) = serve(&env, false).await;
    let http = reqwest::Client::new();
    let readyz: Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        readyz["status"], "ready",
        "the dev server (test executor) answers /health: {readyz}"
    );

    let serve_url = url::Url::parse(&format!("{base}/api/inngest")).unwrap();
    let registration = inngest.sync(&serve_url).await.expect("sync");
    let mut ids: Vec<String> = registration
        .functions
        .iter()
        .map(|f| f.id.clone())
        .collect();
    ids.sort();

    inngest
        .send(json!({"name": "autofix/health.check.requested", "data": {}}))
        .await;
    inngest.run_until_idle().await.expect("runs finish");
    let fixes = inngest
        .runs_of("autofix-generate-fix")
        .into_iter()
        .map(|r| match r.status {
            RunStatus::Completed(v) => v,
            other => panic!("generate-fix did not complete: {other:?}"),
        })
        .collect();
    let (out, _) = child.stop();
    (ids, fixes, out)
}

#[tokio::test]
async fn serve_registers_three_functions_and_a_requested_check_reaches_a_dry_run_fix() {
    let (ids, fixes, out) = demo_chain(&[]).await;
    assert_eq!(
        ids,
        [
            "autofix-generate-fix",
            "autofix-monitor-project-health",
            "autofix-pull-service-context",
            "autofix-verify-fix"
        ]
    );
    let dry: Vec<&Value> = fixes.iter().filter(|v| v["status"] == "dry_run").collect();
    assert_eq!(dry.len(), 2, "{fixes:#?}");
    assert!(
        dry.iter()
            .all(|o| o["demo"] == true && o["task"]["prompt_text"].as_str().is_some())
    );
    // The startup block says what the worker does.
    assert!(out.contains("inngest mode : dev"), "{out}");
    assert!(out.contains("DEMO project"), "{out}");
    assert!(out.contains("dry run"), "{out}");
}

#[tokio::test]
async fn the_demo_never_calls_the_agent_whatever_opencode_url_says() {
    // A listener standing in for OpenCode counts every connection it receives.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connections.clone();
    let accept = tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let (_, fixes, out) = demo_chain(&[("OPENCODE_URL", url.clone())]).await;
    accept.abort();
    let dry: Vec<&Value> = fixes.iter().filter(|v| v["status"] == "dry_run").collect();
    assert_eq!(dry.len(), 2, "the full chain ran to a dry run: {fixes:#?}");
    assert!(
        dry.iter()
            .all(|o| o["reason"].as_str().unwrap_or("").contains("demo project")),
        "{fixes:#?}"
    );
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the demo must never connect to OPENCODE_URL"
    );
    assert!(out.contains("DEMO project"), "{out}");
    assert!(
        out.contains(&format!("OpenCode at {url}/ is never called")),
        "the startup block says the agent is not called: {out}"
    );
}

#[tokio::test]
async fn json_log_mode_is_json_from_the_first_line() {
    let (mut child, _) = serve(
        &[
            ("INNGEST_DEV", "1".to_owned()),
            ("INNGEST_BASE_URL", "http://127.0.0.1:9".to_owned()),
            ("AUTOFIX_LOG_FORMAT", "json".to_owned()),
        ],
        true,
    )
    .await;
    let (stdout, stderr) = child.stop();
    let lines: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(!lines.is_empty(), "no output at all");
    for line in &lines {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(value.is_object(), "{line}");
    }
    let first: Value = serde_json::from_str(stderr.lines().next().unwrap()).unwrap();
    assert_eq!(first["message"], "autofix starting", "{first}");
    assert!(
        first["coding_agent"].as_str().unwrap().contains("dry run"),
        "{first}"
    );
}

#[tokio::test]
async fn send_posts_the_event_to_the_configured_inngest() {
    let inngest = TestInngest::start(Options::dev()).await;
    let base = inngest.base_url().to_string();
    let out = tokio::task::spawn_blocking(move || {
        autofix(
            &[
                "send",
                "autofix/health.check.requested",
                "--data",
                r#"{"window_minutes": 60}"#,
            ],
            &[("INNGEST_DEV", "1"), ("INNGEST_BASE_URL", base.as_str())],
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("sent autofix/health.check.requested"));
    let events = inngest.events();
    let sent = events
        .iter()
        .find(|e| e["name"] == "autofix/health.check.requested")
        .expect("event received");
    assert_eq!(sent["data"]["window_minutes"], 60);

    let bad = autofix(
        &["send", "autofix/x", "--data", "[1]"],
        &[("INNGEST_DEV", "1")],
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("--data: must be a JSON object"),
        "{}",
        text(&bad)
    );
}

/// Security suite (issue #10), run here because it needs the real binary: credentials embedded
/// in configured URLs never reach the startup banner or any log line, at debug level, through a
/// whole check cycle.
#[tokio::test]
async fn credentialed_urls_in_config_are_absent_from_the_startup_banner_and_all_logs() {
    const SECRETS: [&str; 5] = [
        "inngestPassw0rdXYZ",
        "llmPassw0rdXYZ",
        "apiKeyValue123456789",
        "ocPassw0rdXYZ",
        "ghSigValue123456789",
    ];
    let inngest = TestInngest::start(Options::dev()).await;
    let mut base = inngest.base_url();
    base.set_username("inngestuser").unwrap();
    base.set_password(Some(SECRETS[0])).unwrap();
    let (mut child, origin) = serve(
        &[
            ("INNGEST_DEV", "1".to_owned()),
            ("INNGEST_BASE_URL", base.to_string()),
            (
                "OPENAI_BASE_URL",
                // A peer that answers at once (404): the cycle stays short.
                format!(
                    "http://llmuser:{}@127.0.0.1:{}/v1?api-key={}",
                    SECRETS[1],
                    inngest.base_url().port().unwrap(),
                    SECRETS[2]
                ),
            ),
            (
                "OPENCODE_URL",
                format!("http://oc:{}@127.0.0.1:9/", SECRETS[3]),
            ),
            (
                "GITHUB_API_URL",
                format!("http://127.0.0.1:9/?sig={}", SECRETS[4]),
            ),
            ("AUTOFIX_SYNC_ON_START", "false".to_owned()),
            ("RUST_LOG", "debug".to_owned()),
        ],
        true,
    )
    .await;
    let http = reqwest::Client::new();
    let _ = http.get(format!("{origin}/readyz")).send().await;
    let serve_url = url::Url::parse(&format!("{origin}/api/inngest")).unwrap();
    inngest.sync(&serve_url).await.expect("sync");
    inngest
        .send(json!({"name": "autofix/health.check.requested", "data": {}}))
        .await;
    inngest.run_until_idle().await.expect("runs finish");
    let (stdout, stderr) = child.stop();
    let output = stdout + &stderr;
    assert!(output.contains("inngest mode"), "no banner: {output}");
    assert!(
        output.lines().filter(|l| l.contains("DEBUG")).count() > 10,
        "debug logs were not captured, so the test proves nothing: {output}"
    );
    for secret in SECRETS {
        assert!(!output.contains(secret), "{secret} printed:\n{output}");
    }
}
