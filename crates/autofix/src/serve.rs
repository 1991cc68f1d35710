//! `autofix serve`: the axum worker Inngest drives.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use clap::Args;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Options;
use crate::deps;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Port to listen on (Railway sets PORT).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// Longest one step may run; past it the step fails as a retriable `StepTimeout` step error.
    #[arg(long, env = "AUTOFIX_STEP_TIMEOUT", default_value = "10m", value_parser = crate::config::parse_duration)]
    pub step_timeout: Duration,
    /// Register the functions with Inngest at start (needs INNGEST_SERVE_ORIGIN).
    #[arg(long, env = "AUTOFIX_SYNC_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub sync_on_start: bool,
    /// Longest a client may take to send a request's headers; the connection is closed after.
    #[arg(long, env = "AUTOFIX_HEADER_TIMEOUT", default_value = "10s", value_parser = crate::config::parse_duration)]
    pub header_timeout: Duration,
    /// Longest a client may take to send a request body; answered 408 after.
    #[arg(long, env = "AUTOFIX_BODY_TIMEOUT", default_value = "30s", value_parser = crate::config::parse_duration)]
    pub body_timeout: Duration,
    /// Open connections at most; further ones wait in the listen backlog.
    #[arg(long, env = "AUTOFIX_MAX_CONNECTIONS", default_value_t = 256)]
    pub max_connections: usize,
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 3000,
            step_timeout: Duration::from_secs(600),
            sync_on_start: true,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 256,
        }
    }
}

/// Largest request body the worker accepts: the Inngest endpoint's own limit.
pub const MAX_BODY_BYTES: usize = inngest::DEFAULT_BODY_LIMIT;

/// Time a call gets beyond the step budget to answer with the `StepTimeout` error before the
/// backstop cuts the connection (which Inngest can only see as a bare 408).
const STEP_ANSWER_GRACE: Duration = Duration::from_secs(30);

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Health {
    pub http: reqwest::Client,
    /// Dev mode only: the dev server must answer for the worker to be ready.
    pub inngest_health_url: Option<url::Url>,
}

pub async fn run(options: Options, args: ServeArgs) -> anyhow::Result<()> {
    let inngest_config = options.inngest_config()?;
    let built = deps::build(&options, false).await?;
    let functions = pipeline::functions(built.deps.clone()).context("AUTOFIX_CRON")?;
    let http = deps::http_client()?;
    let client = inngest::Client::new(inngest_config.clone(), http.clone());

    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .with_context(|| {
            format!(
                "HOST/PORT: `{}:{}` is not a socket address",
                args.host, args.port
            )
        })?;

    print_startup(&options, &built.describe, &inngest_config, addr);

    let health = Health {
        http: http.clone(),
        inngest_health_url: matches!(inngest_config.mode, inngest::Mode::Dev)
            .then(|| inngest_config.api_base_url.join("health").ok())
            .flatten(),
    };
    let app = router_with(
        client.clone(),
        functions.clone(),
        health,
        args.step_timeout,
        serve_options(args.body_timeout),
    );

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let listener =
        crate::listener::GuardedListener::new(listener, args.max_connections, args.header_timeout);
    tracing::info!(%addr, "listening");

    if args.sync_on_start
        && let Some(origin) = &inngest_config.serve_origin
    {
        let serve_url = url::Url::parse(origin)
            .and_then(|u| u.join(&inngest_config.serve_path))
            .with_context(|| format!("INNGEST_SERVE_ORIGIN: `{origin}` is not a URL"))?;
        tokio::spawn(sync_with_retries(client, functions, serve_url));
    }

    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("shut down");
    Ok(())
}

/// Limits of the Inngest endpoint with the worker's body size and the given body timeout.
pub fn serve_options(body_timeout: Duration) -> inngest::ServeOptions {
    inngest::ServeOptions {
        body_limit: MAX_BODY_BYTES,
        body_timeout,
        ..inngest::ServeOptions::default()
    }
}

/// The worker's routes: the Inngest endpoint, liveness and readiness.
pub fn router(
    client: inngest::Client,
    functions: Vec<inngest::ServableFunction>,
    health: Health,
    step_timeout: Duration,
) -> Router {
    router_with(
        client,
        functions,
        health,
        step_timeout,
        serve_options(Duration::from_secs(30)),
    )
}

/// [`router`] with explicit endpoint limits.
pub fn router_with(
    client: inngest::Client,
    functions: Vec<inngest::ServableFunction>,
    health: Health,
    step_timeout: Duration,
    options: inngest::ServeOptions,
) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    // Steps call LLMs and Railway: they get a long budget, enforced by the SDK so an overrun is a
    // step error Inngest retries; the layer is only a backstop. The probes get a short limit.
    let options = inngest::ServeOptions {
        step_timeout: Some(step_timeout),
        ..options
    };
    let inngest_routes =
        inngest::serve_with(client, functions, options).layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            step_timeout + STEP_ANSWER_GRACE,
        ));
    let probes = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .with_state(Arc::new(health))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(5),
        ));
    Router::new().merge(inngest_routes).merge(probes).layer(
        tower::ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                axum::http::header::AUTHORIZATION,
                HeaderName::from_static("x-inngest-signature"),
            ]))
            .layer(SetRequestIdLayer::new(
                x_request_id.clone(),
                MakeRequestUuid,
            ))
            .layer(TraceLayer::new_for_http())
            .layer(PropagateRequestIdLayer::new(x_request_id))
            // The body limit is the Inngest endpoint's own (`MAX_BODY_BYTES`), so a 413 has
            // the SDK's JSON shape and headers; the probes read no body.
            .layer(CatchPanicLayer::new()),
    )
}

async fn readyz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let Some(url) = &health.inngest_health_url else {
        return (StatusCode::OK, Json(serde_json::json!({"status": "ready"})));
    };
    let reachable = health
        .http
        .get(url.clone())
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    if reachable {
        (
            StatusCode::OK,
            Json(serde_json::json!({"status": "ready", "inngest": "reachable"})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                serde_json::json!({"status": "not ready", "inngest": format!("dev server not reachable at {url}")}),
            ),
        )
    }
}

async fn sync_with_retries(
    client: inngest::Client,
    functions: Vec<inngest::ServableFunction>,
    serve_url: url::Url,
) {
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=5 {
        match inngest::register(&client, &functions, &serve_url).await {
            Ok(_) => {
                tracing::info!(%serve_url, "registered functions with Inngest");
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, error = %e, "registering with Inngest failed");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    tracing::error!(
        "could not register with Inngest; sync the app from the Inngest dashboard or with a PUT to the serve URL"
    );
}

fn print_startup(
    options: &Options,
    describe: &deps::Describe,
    inngest: &inngest::Config,
    addr: SocketAddr,
) {
    let mode = match inngest.mode {
        inngest::Mode::Dev => format!(
            "dev (Inngest dev server at {}; no signature checks)",
            redact::display_url(inngest.api_base_url.as_str())
        ),
        inngest::Mode::Cloud => format!(
            "cloud (Inngest API at {}; signed requests only)",
            redact::display_url(inngest.api_base_url.as_str())
        ),
    };
    let serve_url = inngest.serve_origin.as_deref().map_or_else(
        || {
            format!(
                "http://{addr}{} (origin from each request)",
                inngest.serve_path
            )
        },
        |o| {
            format!(
                "{}{}",
                redact::display_url(o).trim_end_matches('/'),
                inngest.serve_path
            )
        },
    );
    println!(
        "autofix {} — serving {} functions",
        env!("CARGO_PKG_VERSION"),
        pipeline::APP_ID
    );
    println!("  inngest mode : {mode}");
    println!("  serve url    : {serve_url}");
    println!("  railway      : {}", describe.railway);
    println!(
        "  schedule     : monitor-project-health on `{}`, window {} min",
        options.cron, options.window_minutes
    );
    println!("  analysis     : {}", describe.llm);
    println!("  coding agent : {}", describe.agent);
    println!("  github       : {}", describe.github);
    if options.report_only {
        println!("  report-only  : yes (no agent is ever started)");
    }
    if options.approval_required {
        println!("  approval     : required (send autofix/fix.approved with the fingerprint)");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
