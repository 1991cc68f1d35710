//! The real Autofix router on a random port, synced with the test executor.

use std::sync::Arc;
use std::time::Duration;

use inngest_testkit::{Options, Registration, TestInngest};

/// A running Autofix worker (the same router `autofix serve` mounts) and the executor driving it.
pub struct App {
    pub inngest: TestInngest,
    pub serve_url: url::Url,
    pub registration: Registration,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl App {
    /// Serves the three functions over `deps` in dev mode and syncs them with a fresh executor.
    pub async fn start(deps: pipeline::Deps) -> App {
        Self::start_with(deps, Options::dev()).await
    }

    /// Like [`App::start`] with executor options, e.g. a higher `max_calls` for a run that
    /// polls a real agent many times (the executor resolves durable sleeps at once).
    pub async fn start_with(deps: pipeline::Deps, options: Options) -> App {
        let inngest = TestInngest::start(options).await;
        let config = inngest::Config::dev(pipeline::APP_ID, inngest.base_url());
        let http = reqwest::Client::new();
        let client = inngest::Client::new(config, http.clone());
        let functions = pipeline::functions(Arc::new(deps)).expect("valid function config");
        let health = autofix::serve::Health {
            http,
            inngest_health_url: None,
        };
        let router = autofix::serve::router(client, functions, health, Duration::from_secs(60));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind worker");
        let addr = listener.local_addr().expect("worker address");
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("worker server");
        });
        let serve_url = url::Url::parse(&format!("http://{addr}/api/inngest")).expect("serve url");
        let registration = inngest
            .sync(&serve_url)
            .await
            .expect("sync with the test executor");
        App {
            inngest,
            serve_url,
            registration,
            server,
        }
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
        demo,
        github: None,
        upstreams: evidence::UpstreamChecker::new(http, table, None, Duration::from_millis(300)),
        llm: None,
        opencode: None,
        settings: pipeline::Settings::default(),
        now: pipeline::system_now,
    }
}

/// The composite id Inngest knows a function by.
pub fn composite(function_id: &str) -> String {
    format!("{}-{function_id}", pipeline::APP_ID)
}
