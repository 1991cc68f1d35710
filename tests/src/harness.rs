//! The real Autofix router on a random port, synced with the test executor.

use std::sync::Arc;
use std::time::Duration;

use demo::scenario::{ProjectBuilder, ServiceBuilder};
use inngest_testkit::{Options, Registration, TestInngest};
use serde_json::json;

use crate::fake_github::FakeGitHub;
use crate::fake_llm::FakeLlm;
use crate::fake_railway::{FakeAuth, FakeRailway};
use crate::served::Served;

/// A running Autofix worker (the same router `autofix serve` mounts) and the executor driving it.
pub struct App {
    pub inngest: TestInngest,
    pub serve_url: url::Url,
    pub registration: Registration,
    /// Only held: dropping it stops the server.
    _server: Served,
}

impl App {
    /// Serves the three functions over `deps` in dev mode and syncs them with a fresh executor.
    pub async fn start(deps: pipeline::Deps) -> App {
        Self::start_with(deps, Options::dev()).await
    }

    /// Like [`App::start`] with executor options, e.g. a higher `max_calls` for a run that
    /// polls a real agent many times (the executor resolves durable sleeps at once).
    pub async fn start_with(deps: pipeline::Deps, options: Options) -> App {
        Self::start_with_step_timeout(deps, options, Duration::from_secs(60)).await
    }

    /// Like [`App::start_with`] with the router's step budget (`AUTOFIX_STEP_TIMEOUT`), for
    /// reads of very large projects in unoptimised test builds.
    pub async fn start_with_step_timeout(
        deps: pipeline::Deps,
        options: Options,
        step_timeout: Duration,
    ) -> App {
        let inngest = TestInngest::start(options).await;
        let config = inngest::Config::dev(pipeline::APP_ID, inngest.base_url());
        let http = reqwest::Client::new();
        let client = inngest::Client::new(config, http.clone());
        let functions = pipeline::functions(Arc::new(deps)).expect("valid function config");
        let health = autofix::serve::Health::new(http, None);
        let router = autofix::serve::router(client, functions, health, step_timeout);
        let server = Served::start("worker", router).await;
        let serve_url = url::Url::parse(&server.url("/api/inngest")).expect("serve url");
        let registration = inngest
            .sync(&serve_url)
            .await
            .expect("sync with the test executor");
        App {
            inngest,
            serve_url,
            registration,
            _server: server,
        }
    }

    /// Serves `deps` like [`App::start`], sends `event` and runs until nothing is left to do.
    pub async fn run_event(deps: pipeline::Deps, event: serde_json::Value) -> App {
        let app = Self::start(deps).await;
        app.inngest.send(event).await;
        app.inngest
            .run_until_idle()
            .await
            .expect("the runs settle within the executor's call budget");
        app
    }
}

/// Deps with no LLM (rule-based), no OpenCode (dry run), no GitHub, and status pages that can
/// never be reached from a test (every provider's status URL rewritten to a closed local port).
pub fn offline_deps(railway: railway::Source, demo: bool) -> pipeline::Deps {
    let http = reqwest::Client::new();
    let table = evidence::ProviderTable::builtin()
        .with_status_base_override(url::Url::parse("http://127.0.0.1:9/").expect("static url"));
    pipeline::Deps {
        railway,
        workspace: None,
        demo,
        github: None,
        upstreams: upstream_status::UpstreamChecker::new(
            http,
            table,
            None,
            Duration::from_millis(300),
        ),
        llm: None,
        opencode: None,
        settings: default_settings(),
        now: pipeline::system_clock(),
    }
}

/// The pipeline settings `autofix` runs with when no flag or variable is set, built by the
/// binary's own parser, so a changed default is what the tests exercise.
pub fn default_settings() -> pipeline::Settings {
    autofix::cli::parse_from(["autofix", "check"], |_| None)
        .expect("the defaults parse")
        .options
        .pipeline_settings()
        .expect("the defaults are valid")
}

/// The composite id Inngest knows a function by.
pub fn composite(function_id: &str) -> String {
    format!("{}-{function_id}", pipeline::APP_ID)
}

/// The key every fake model is configured with (it must never show up anywhere).
pub const LLM_KEY: &str = "sk-test-secret";
/// The token the fake GitHubs of these tests accept (`FakeGitHub::start(Some(GITHUB_TOKEN))`).
pub const GITHUB_TOKEN: &str = "ghp-test-secret";

/// Settings that keep the agent loop short (every sleep is compressed by the executor anyway);
/// verify-fix reads the PR once and stops (`stale`): it is tested in verify_fix.rs.
pub fn fast_settings() -> pipeline::Settings {
    pipeline::Settings {
        agent_poll_interval: Duration::from_secs(10),
        agent_timeout: Duration::from_secs(60),
        ci_poll_interval: Duration::from_secs(60),
        ci_timeout: Duration::from_secs(600),
        verify_max_wait: Duration::ZERO,
        ..pipeline::Settings::default()
    }
}

/// Analyses with the model behind `llm` (key [`LLM_KEY`], model `gpt-test`).
pub fn connect_llm(deps: &mut pipeline::Deps, llm: &FakeLlm) {
    deps.llm = Some(llm::Llm::new(
        reqwest::Client::new(),
        llm.provider(LLM_KEY, "gpt-test"),
    ));
}

/// Talks to `github` with [`GITHUB_TOKEN`].
pub fn connect_github(deps: &mut pipeline::Deps, github: &FakeGitHub) {
    deps.github = Some(github::GitHub::new(
        reqwest::Client::new(),
        github.url(),
        Some(GITHUB_TOKEN.into()),
    ));
}

/// Drives the OpenCode server at `url`, without a password.
pub fn connect_opencode(deps: &mut pipeline::Deps, url: url::Url) {
    deps.opencode = Some(opencode::OpenCode::new(
        reqwest::Client::new(),
        url,
        None,
        None,
    ));
}

/// [`offline_deps`] over [`leak_snapshot`].
pub fn leak_deps() -> pipeline::Deps {
    offline_deps(railway::Source::Static(Box::new(leak_snapshot())), false)
}

/// A Railway project with one real incident, over a 30-minute window ending now: `api`
/// (repository `acme/api`) leaks memory (from 55 % of its limit, +45 MB/h) next to a healthy
/// `postgres`. The fixture the `generate-fix` tests start from.
pub fn leak_snapshot() -> railway::model::ProjectSnapshot {
    leak_snapshot_at(pipeline::system_now())
}

/// [`leak_snapshot`] with its window ending at `now` (Unix seconds).
pub fn leak_snapshot_at(now: i64) -> railway::model::ProjectSnapshot {
    ProjectBuilder::new("proj-shop", "shop", now, 30)
        .service(
            ServiceBuilder::new("api")
                .repo("acme/api")
                .memory_leak(55.0, 45.0),
        )
        .service(ServiceBuilder::new("postgres").database("postgres:16"))
        .build()
}

/// The `autofix/fix.requested` event (`{"name", "data"}`) that `monitor-project-health` and
/// `pull-service-context` produce for [`leak_snapshot`], computed in-process by the same
/// function code, so `generate-fix` tests start from exactly what production would send.
pub async fn leak_fix_request() -> serde_json::Value {
    leak_fix_request_at(pipeline::system_now()).await
}

/// [`leak_fix_request`] for the incident window ending at `now`, as a cycle run at `now` sees it.
pub async fn leak_fix_request_at(now: i64) -> serde_json::Value {
    leak_event_at(now, pipeline::CONTEXT_FN, "autofix/fix.requested").await
}

/// The `autofix/service.context.requested` event `monitor-project-health` sends for
/// [`leak_snapshot`], computed in-process like [`leak_fix_request`].
pub async fn leak_context_request() -> serde_json::Value {
    leak_event_at(
        pipeline::system_now(),
        pipeline::MONITOR_FN,
        "autofix/service.context.requested",
    )
    .await
}

/// The event named `name` that function `function_id` sends in one in-process cycle, run at
/// `now`, over [`leak_snapshot_at`] `now`.
async fn leak_event_at(now: i64, function_id: &str, name: &str) -> serde_json::Value {
    let mut deps = offline_deps(
        railway::Source::Static(Box::new(leak_snapshot_at(now))),
        false,
    );
    deps.now = Arc::new(move || now);
    let functions = pipeline::functions(Arc::new(deps)).expect("valid function config");
    let runner = inngest::InlineRunner::new(functions);
    let start = inngest::Event::new("autofix/health.check.requested", json!({}))
        .expect("health check event");
    let runs = runner.run(start).await;
    let run = runs
        .iter()
        .find(|r| r.function_id == function_id)
        .unwrap_or_else(|| panic!("no {function_id} run"));
    let event = run
        .sent
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{function_id} sent no {name}"));
    json!({"name": event.name, "data": event.data})
}

/// The worker over the fake Railway API serving `snapshot` (bearer `test-token`), with
/// [`offline_deps`] otherwise: the live read path end to end.
pub async fn live_app(snapshot: railway::model::ProjectSnapshot) -> (App, FakeRailway) {
    let project = snapshot.architecture.project.id.clone();
    let environment = snapshot.architecture.environment.id.clone();
    let fake = FakeRailway::start(vec![snapshot], FakeAuth::Bearer("test-token".into())).await;
    let credentials = railway::Credentials {
        token: railway::Token::Account("test-token".into()),
        project_id: project,
        environment_id: environment,
    };
    let client = railway::RailwayClient::new(
        railway::ClientConfig::new(credentials).with_endpoint(fake.endpoint()),
    )
    .expect("railway client");
    let app = App::start(offline_deps(railway::Source::Live(client), false)).await;
    (app, fake)
}
