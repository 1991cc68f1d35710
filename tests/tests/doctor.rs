//! `autofix doctor` against the fakes: every peer green, then one broken peer at a time, each
//! with the explanation the table shows.

use std::collections::HashMap;

use autofix::doctor::{Check, Status};
use autofix_tests::fake_github::{FAKE_LOGIN, FakeGitHub};
use autofix_tests::fake_llm::{FakeLlm, Flavor};
use autofix_tests::fake_opencode::{FakeOpenCode, FakeOpenCodeConfig};
use autofix_tests::fake_railway::{FakeAuth, FakeRailway};
use autofix_tests::harness::leak_snapshot;
use inngest_testkit::{Options as ExecutorOptions, TestInngest};

const RAILWAY_TOKEN: &str = "railway-test-token";
const GITHUB_TOKEN: &str = "ghp_test_token";
const OPENCODE_PASSWORD: &str = "opencode-test-password";

/// Every peer the doctor checks, each a fake that answers correctly.
struct Peers {
    railway: FakeRailway,
    inngest: TestInngest,
    llm: FakeLlm,
    opencode: FakeOpenCode,
    github: FakeGitHub,
    project: String,
    environment: String,
}

impl Peers {
    async fn start() -> Peers {
        let snapshot = leak_snapshot();
        let project = snapshot.architecture.project.id.clone();
        let environment = snapshot.architecture.environment.id.clone();
        let railway =
            FakeRailway::start(vec![snapshot], FakeAuth::Bearer(RAILWAY_TOKEN.into())).await;
        let github = FakeGitHub::start(Some(GITHUB_TOKEN)).await;
        github.add_repo("acme/api", true);
        Peers {
            railway,
            inngest: TestInngest::start(ExecutorOptions::dev()).await,
            llm: FakeLlm::start(Flavor::OpenAi, vec![]).await,
            opencode: FakeOpenCode::start(FakeOpenCodeConfig {
                auth: Some(("opencode".into(), OPENCODE_PASSWORD.into())),
                ..FakeOpenCodeConfig::default()
            })
            .await,
            github,
            project,
            environment,
        }
    }

    /// The worker's variables pointing at the fakes.
    fn env(&self) -> HashMap<String, String> {
        [
            ("RAILWAY_API_TOKEN", RAILWAY_TOKEN.to_owned()),
            ("RAILWAY_API_URL", self.railway.endpoint().to_owned()),
            ("RAILWAY_PROJECT_ID", self.project.clone()),
            ("RAILWAY_ENVIRONMENT_ID", self.environment.clone()),
            ("INNGEST_DEV", "1".to_owned()),
            ("INNGEST_BASE_URL", self.inngest.base_url().to_string()),
            ("OPENAI_API_KEY", "sk-test".to_owned()),
            ("OPENAI_BASE_URL", self.llm.base_url.clone()),
            ("OPENCODE_URL", self.opencode.base_url().to_string()),
            ("OPENCODE_SERVER_PASSWORD", OPENCODE_PASSWORD.to_owned()),
            ("GITHUB_TOKEN", GITHUB_TOKEN.to_owned()),
            ("GITHUB_API_URL", self.github.url().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

async fn doctor(env: &HashMap<String, String>) -> Vec<Check> {
    let cli = autofix::cli::parse_from(["autofix", "doctor"], |k| env.get(k).cloned())
        .expect("the variables parse");
    autofix::doctor::checks(&cli.options).await
}

fn row<'a>(checks: &'a [Check], peer: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.peer == peer)
        .unwrap_or_else(|| panic!("no {peer} row in {checks:#?}"))
}

/// The one failed row, which must be `peer`'s, with `detail` and `fix` mentioning the needles.
fn only_failure<'a>(checks: &'a [Check], peer: &str, detail: &str, fix: &str) -> &'a Check {
    let failed: Vec<&Check> = checks
        .iter()
        .filter(|c| c.status == Status::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "exactly one failure expected: {checks:#?}");
    let f = failed[0];
    assert_eq!(f.peer, peer, "{checks:#?}");
    assert!(
        f.detail.contains(detail),
        "detail `{}` lacks `{detail}`",
        f.detail
    );
    let text = f.fix.as_deref().unwrap_or_default();
    assert!(text.contains(fix), "fix `{text}` lacks `{fix}`");
    let table = autofix::doctor::table(checks);
    assert!(table.contains("FAILED") && table.contains(text), "{table}");
    f
}

#[tokio::test]
async fn every_peer_green() {
    let peers = Peers::start().await;
    let checks = doctor(&peers.env()).await;
    for c in &checks {
        assert_eq!(c.status, Status::Ok, "{c:#?}");
    }
    assert!(
        row(&checks, "railway").detail.contains("3 services")
            || row(&checks, "railway").detail.contains("services")
    );
    assert!(row(&checks, "inngest").detail.contains("dev server"));
    assert!(row(&checks, "llm").detail.contains("gpt-4o-mini"));
    assert!(row(&checks, "opencode").detail.contains("1.18.33"));
    assert!(
        checks
            .iter()
            .any(|c| c.peer == "github" && c.detail.contains("acme/api: push allowed")),
        "{checks:#?}"
    );
    assert!(checks.iter().any(|c| c.detail.contains(FAKE_LOGIN)));
    // The ping reached the executor: the event key path works.
    assert!(
        peers
            .inngest
            .events()
            .iter()
            .any(|e| e["name"] == autofix::doctor::PING_EVENT)
    );
    // Nothing was written anywhere: no agent session, no GitHub write.
    assert!(peers.opencode.recorded().sessions.is_empty());
    let table = autofix::doctor::table(&checks);
    assert!(table.contains("all configured peers answer"), "{table}");
}

/// The cron's cycles against the plan's hourly limit: the leak project's read is 5–6 requests,
/// so every minute (60 an hour) is over Free's 100/h and every 10 minutes fits.
#[tokio::test]
async fn a_cron_that_would_spend_more_than_the_plans_hour_is_reported_with_one_that_fits() {
    let peers = Peers::start().await;
    let checks = doctor(&peers.env()).await;
    let budget = checks
        .iter()
        .find(|c| c.peer == "railway" && c.detail.starts_with("API budget"))
        .unwrap_or_else(|| panic!("no budget row: {checks:#?}"));
    assert_eq!(budget.status, Status::Ok, "{budget:#?}");
    assert!(
        budget.detail.contains("up to 6 cycles an hour")
            && budget.detail.contains("hobby plan's 1000/h"),
        "{}",
        budget.detail
    );

    let mut env = peers.env();
    env.insert("AUTOFIX_CRON".into(), "* * * * *".into());
    env.insert("AUTOFIX_RAILWAY_PLAN".into(), "free".into());
    let checks = doctor(&env).await;
    let f = only_failure(
        &checks,
        "railway",
        "up to 60 cycles an hour",
        "AUTOFIX_CRON='*/10 * * * *'",
    );
    assert!(f.detail.contains("free plan's 100/h"), "{}", f.detail);
}

#[tokio::test]
async fn a_railway_project_the_token_cannot_see() {
    let peers = Peers::start().await;
    let mut env = peers.env();
    env.insert("RAILWAY_PROJECT_ID".into(), "proj-unknown".into());
    let checks = doctor(&env).await;
    only_failure(
        &checks,
        "railway",
        peers.railway.endpoint(),
        "not found or not visible",
    );
}

#[tokio::test]
async fn a_rejected_railway_token() {
    let peers = Peers::start().await;
    let mut env = peers.env();
    env.insert("RAILWAY_API_TOKEN".into(), "wrong".into());
    let checks = doctor(&env).await;
    only_failure(
        &checks,
        "railway",
        "RAILWAY_API_TOKEN",
        "railway.com/account/tokens",
    );
}

#[tokio::test]
async fn an_unreachable_inngest_dev_server() {
    let peers = Peers::start().await;
    let mut env = peers.env();
    env.insert("INNGEST_BASE_URL".into(), "http://127.0.0.1:9/".into());
    let checks = doctor(&env).await;
    only_failure(
        &checks,
        "inngest",
        "http://127.0.0.1:9/health",
        "inngest-cli",
    );
}

#[tokio::test]
async fn an_llm_model_the_key_cannot_use() {
    let peers = Peers::start().await;
    peers.llm.set_models(&["gpt-4.1", "o4-mini"]);
    let checks = doctor(&peers.env()).await;
    only_failure(&checks, "llm", "gpt-4o-mini", "AUTOFIX_LLM_MODEL");
}

#[tokio::test]
async fn an_unreachable_llm() {
    let peers = Peers::start().await;
    let mut env = peers.env();
    env.insert("OPENAI_BASE_URL".into(), "http://127.0.0.1:9/v1".into());
    let checks = doctor(&env).await;
    only_failure(&checks, "llm", "127.0.0.1:9", "OPENAI_BASE_URL");
}

#[tokio::test]
async fn a_wrong_opencode_password() {
    let peers = Peers::start().await;
    let mut env = peers.env();
    env.insert("OPENCODE_SERVER_PASSWORD".into(), "wrong".into());
    let checks = doctor(&env).await;
    only_failure(&checks, "opencode", "", "OPENCODE_SERVER_PASSWORD");
}

#[tokio::test]
async fn an_opencode_server_without_a_model() {
    let mut peers = Peers::start().await;
    peers.opencode = FakeOpenCode::start(FakeOpenCodeConfig {
        auth: Some(("opencode".into(), OPENCODE_PASSWORD.into())),
        model: None,
        ..FakeOpenCodeConfig::default()
    })
    .await;
    let checks = doctor(&peers.env()).await;
    only_failure(&checks, "opencode", "no model configured", "OPENCODE_MODEL");
}

#[tokio::test]
async fn a_rejected_github_token() {
    let peers = Peers::start().await;
    let mut env = peers.env();
    env.insert("GITHUB_TOKEN".into(), "ghp_wrong".into());
    let checks = doctor(&env).await;
    only_failure(&checks, "github", "GITHUB_TOKEN", "GITHUB_TOKEN");
}

#[tokio::test]
async fn a_repository_the_token_cannot_push_to() {
    let peers = Peers::start().await;
    peers.github.add_repo("acme/api", false);
    let checks = doctor(&peers.env()).await;
    only_failure(&checks, "github", "acme/api", "Contents: write");
}

#[tokio::test]
async fn a_repository_the_token_cannot_see() {
    let peers = Peers::start().await;
    let github = FakeGitHub::start(Some(GITHUB_TOKEN)).await;
    let mut env = peers.env();
    env.insert("GITHUB_API_URL".into(), github.url().to_string());
    let checks = doctor(&env).await;
    only_failure(
        &checks,
        "github",
        "not visible with this token",
        "token's repositories",
    );
}

#[tokio::test]
async fn a_bad_setting_is_reported_before_any_call() {
    let peers = Peers::start().await;
    let mut env = peers.env();
    env.insert("AUTOFIX_FIX_RATE_LIMIT".into(), "48h".into());
    let checks = doctor(&env).await;
    only_failure(
        &checks,
        "configuration",
        "AUTOFIX_FIX_RATE_LIMIT",
        "AUTOFIX_FIX_RATE_LIMIT",
    );
    assert_eq!(peers.railway.request_count(), 0);
}

#[tokio::test]
async fn the_demo_project_skips_railway_and_github_repositories() {
    let peers = Peers::start().await;
    let mut env = peers.env();
    env.remove("RAILWAY_API_TOKEN");
    let checks = doctor(&env).await;
    assert_eq!(
        row(&checks, "railway").status,
        Status::Skipped,
        "{checks:#?}"
    );
    assert!(
        row(&checks, "opencode")
            .detail
            .contains("not called with the demo project")
    );
    assert!(
        checks.iter().all(|c| c.status != Status::Failed),
        "{checks:#?}"
    );
}

/// The README's example table is this test's output, with the fakes' URLs written as a real
/// deployment's: regenerate it with `cargo test -p autofix-tests --test doctor readme -- --nocapture`.
#[tokio::test]
async fn the_readme_example_is_real_output() {
    let peers = Peers::start().await;
    peers.github.add_repo("acme/api", false);
    let checks = doctor(&peers.env()).await;
    let table = autofix::doctor::table(&checks)
        .replace(peers.inngest.base_url().as_str(), "http://127.0.0.1:8288/")
        .replace(&peers.llm.base_url, "http://127.0.0.1:11434/v1")
        .replace(
            peers.opencode.base_url().as_str(),
            "http://opencode.railway.internal:4096/",
        )
        .replace(peers.github.url().as_str(), "https://api.github.com/");
    println!("{table}");
    let readme = include_str!("../../README.md");
    let start = readme
        .find("Example (a GitHub token that cannot push to one repository):\n\n```text\n")
        .expect("the README's doctor example");
    let block = &readme[start..];
    let block = &block[block.find("```text\n").unwrap() + 8..];
    let block = &block[..block.find("```").unwrap()];
    assert_eq!(
        block, table,
        "README's doctor example is stale; paste the output above"
    );
}

/// The workspace variables over `peers`: `AUTOFIX_PROJECTS` = `selection`, Railway at `url`
/// (the project and environment variables unset, as with an account token).
fn workspace_env(peers: &Peers, url: &str, selection: &str) -> HashMap<String, String> {
    let mut env = peers.env();
    env.remove("RAILWAY_PROJECT_ID");
    env.remove("RAILWAY_ENVIRONMENT_ID");
    env.insert("RAILWAY_API_URL".into(), url.to_owned());
    env.insert("AUTOFIX_PROJECTS".into(), selection.to_owned());
    env
}

/// Three generated projects (`project-0` … `project-2`, one `production` environment each),
/// visible with [`RAILWAY_TOKEN`].
async fn three_projects() -> FakeRailway {
    let now = pipeline::system_now();
    let projects = (0..3)
        .map(|i| autofix_tests::scale::project(i, 6, now, 30))
        .collect();
    FakeRailway::start(projects, FakeAuth::Bearer(RAILWAY_TOKEN.into())).await
}

#[tokio::test]
async fn a_workspace_token_selecting_two_project_environments() {
    let peers = Peers::start().await;
    let railway = three_projects().await;
    let env = workspace_env(&peers, railway.endpoint(), "project-0, p2/production");
    let checks = doctor(&env).await;
    for c in &checks {
        assert_eq!(c.status, Status::Ok, "{c:#?}");
    }
    let detail = &row(&checks, "railway").detail;
    assert!(
        detail.contains(
            "AUTOFIX_PROJECTS selects 2 project environments: project-0/production, project-2/production"
        ),
        "{detail}"
    );
    assert!(!detail.contains("project-1"), "{detail}");
}

#[tokio::test]
async fn a_workspace_selection_that_matches_nothing_names_autofix_projects() {
    let peers = Peers::start().await;
    let railway = three_projects().await;
    let env = workspace_env(&peers, railway.endpoint(), "project-0, shpo");
    let checks = doctor(&env).await;
    let f = only_failure(
        &checks,
        "railway",
        "AUTOFIX_PROJECTS: `shpo` selects no project environment the token can see",
        "check AUTOFIX_PROJECTS",
    );
    assert!(
        f.detail.contains("visible: project-0/production"),
        "{}",
        f.detail
    );
}

/// A Railway that answers every request with HTTP 400 quoting the request's `Authorization`
/// header back, as a misbehaving proxy might.
async fn echoing_railway() -> autofix_tests::served::Served {
    let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (
            axum::http::StatusCode::BAD_REQUEST,
            format!("bad request: {auth} is not accepted here"),
        )
    });
    autofix_tests::served::Served::start("echoing-railway", app).await
}

#[tokio::test]
async fn a_railway_error_in_workspace_mode_shows_no_secret() {
    let peers = Peers::start().await;
    let railway = echoing_railway().await;
    let env = workspace_env(&peers, &railway.url("/graphql/v2"), "all");
    let checks = doctor(&env).await;
    let f = only_failure(
        &checks,
        "railway",
        "AUTOFIX_PROJECTS: cannot list the workspace's projects with RAILWAY_API_TOKEN",
        "AUTOFIX_PROJECTS",
    );
    // The peer's answer reaches the detail, with the token it echoed redacted.
    assert!(f.detail.contains("is not accepted here"), "{}", f.detail);
    assert!(f.detail.contains(redact::PLACEHOLDER), "{}", f.detail);
    for json in [false, true] {
        let out = autofix::doctor::output(&checks, json).unwrap();
        assert!(out.contains("is not accepted here"), "{out}");
        assert!(!out.contains(RAILWAY_TOKEN), "{out}");
    }
    for c in &checks {
        let text = format!("{} {}", c.detail, c.fix.as_deref().unwrap_or_default());
        for secret in [RAILWAY_TOKEN, GITHUB_TOKEN, OPENCODE_PASSWORD] {
            assert!(!text.contains(secret), "{secret} in {c:#?}");
        }
    }
}
