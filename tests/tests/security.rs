//! The trust-boundary suite (issue #10): one test per attack, named for the attack. Each test
//! plays the attacker against the real functions, router or clients and asserts the defence.

use autofix_tests::fake_github::{FakeGitHub, GitHubFault};
use autofix_tests::harness::{App, composite, leak_fix_request, leak_snapshot, offline_deps};
use base64::Engine;

/// Everything Inngest saw or stored: every HTTP exchange with the worker, every run record
/// (step outputs, errors, retries) and every event.
fn everything_inngest_holds(app: &App) -> String {
    let exchanges: Vec<String> = app
        .inngest
        .exchanges()
        .iter()
        .map(|e| format!("{e:?}"))
        .collect();
    format!(
        "{}\n{}\n{}",
        exchanges.join("\n"),
        serde_json::to_string(&app.inngest.runs()).unwrap(),
        serde_json::to_string(&app.inngest.events()).unwrap()
    )
}

fn base64_forms(secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    vec![
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        // The core of the Basic pair git uses, whatever its alignment.
        STANDARD.encode(format!("x-access-token:{secret}"))[20..40].to_owned(),
    ]
}

#[tokio::test]
async fn github_error_echoing_its_token_raw_and_base64_leaves_no_trace_in_inngest() {
    const TOKEN: &str = "ghp_securitySuiteToken0123456789abcdef";
    // What `autofix serve` does at startup with GITHUB_TOKEN (crates/autofix/src/secrets.rs).
    redact::register_value("GITHUB_TOKEN", TOKEN);
    let github = FakeGitHub::start(Some(TOKEN)).await;
    for _ in 0..4 {
        github.fail_next(GitHubFault::EchoCredentials);
    }
    let mut deps = offline_deps(railway::Source::Static(Box::new(leak_snapshot())), false);
    deps.github = Some(github::GitHub::new(
        reqwest::Client::new(),
        github.url(),
        Some(TOKEN.into()),
    ));
    deps.settings.retries = 1;
    let app = App::start(deps).await;
    app.inngest.send(leak_fix_request().await).await;
    app.inngest.run_until_idle().await.unwrap();

    let runs = app.inngest.runs_of(&composite("generate-fix"));
    assert_eq!(runs.len(), 1);
    let stored = everything_inngest_holds(&app);
    assert!(
        stored.contains("upstream failed for request"),
        "the echoed error never reached Inngest, so the test proves nothing"
    );
    assert!(!stored.contains(TOKEN), "raw token stored by Inngest");
    for form in base64_forms(TOKEN) {
        assert!(
            !stored.contains(&form),
            "base64 form {form} stored by Inngest"
        );
    }
}
