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

/// `autofix serve` options: where to listen and how many connections to hold.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on: `::` (the default) is every IPv6 and IPv4 interface; `0.0.0.0`
    /// IPv4 only; `[::]` and `[::1]` are accepted too.
    #[arg(long, env = "HOST", default_value = DEFAULT_HOST)]
    pub host: String,
    /// Port to listen on (Railway sets PORT).
    #[arg(long, env = "PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Longest one step may run; past it the step fails as a retriable `StepTimeout` step error.
    #[arg(long, env = "AUTOFIX_STEP_TIMEOUT",
          default_value = inngest::format_duration(DEFAULT_STEP_TIMEOUT), value_parser = crate::config::parse_duration)]
    pub step_timeout: Duration,
    /// Register the functions with Inngest at start (needs INNGEST_SERVE_ORIGIN).
    #[arg(long, env = "AUTOFIX_SYNC_ON_START", default_value = "true", value_parser = crate::config::flag,
          num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
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

/// Default listen address: every interface, IPv6 and IPv4 (Railway's private network is
/// IPv6-only in environments created before 2025-10-16).
pub const DEFAULT_HOST: &str = "::";
/// Default port when Railway does not set `PORT`.
pub const DEFAULT_PORT: u16 = 3000;
/// Default budget of one Inngest call.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.into(),
            port: DEFAULT_PORT,
            step_timeout: DEFAULT_STEP_TIMEOUT,
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
    /// Client for the readiness probe of the dev server.
    pub http: reqwest::Client,
    /// Dev mode only: the dev server must answer for the worker to be ready.
    pub inngest_health_url: Option<url::Url>,
    /// The last answer, so a change is logged once rather than on every probe.
    last_ready: Arc<std::sync::Mutex<Option<bool>>>,
}

impl Health {
    /// A readiness check; `inngest_health_url` only in dev mode.
    pub fn new(http: reqwest::Client, inngest_health_url: Option<url::Url>) -> Self {
        Self {
            http,
            inngest_health_url,
            last_ready: Arc::default(),
        }
    }

    /// Records the answer; `true` when it differs from the previous one.
    fn changed(&self, ready: bool) -> bool {
        let mut last = self
            .last_ready
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        last.replace(ready) != Some(ready)
    }
}

/// `autofix serve`: builds every client once, syncs with Inngest when asked to and serves
/// them until SIGTERM or Ctrl-C.
pub async fn run(options: Options, args: ServeArgs) -> anyhow::Result<()> {
    let inngest_config = options.inngest_config()?;
    let built = deps::build(&options, deps::Purpose::Serve(&inngest_config)).await?;
    let functions = pipeline::functions(built.deps.clone()).context("AUTOFIX_CRON")?;
    let http = deps::http_client()?;
    let client = inngest::Client::new(inngest_config.clone(), http.clone());

    let addr = listen_addr(&args.host, args.port)?;
    let listener = bind(addr).with_context(|| {
        format!("HOST/PORT: cannot listen on {addr}; is the port in use, or IPv6 disabled (set HOST=0.0.0.0)?")
    })?;
    let addr = listener.local_addr().unwrap_or(addr);

    print_startup(&options, &built.describe, &inngest_config, addr);

    let health = Health::new(
        http.clone(),
        matches!(inngest_config.mode, inngest::Mode::Dev)
            .then(|| inngest_config.api_base_url.join("health").ok())
            .flatten(),
    );
    let app = router_with(
        client.clone(),
        functions.clone(),
        health,
        args.step_timeout,
        serve_options(args.body_timeout),
    );
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

/// `HOST` and `PORT` as a socket address: an IP literal, bracketed or not (`::`, `[::]`,
/// `0.0.0.0`, `[::1]`), or `localhost`.
pub fn listen_addr(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let host = host.trim();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: std::net::IpAddr = match bare {
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        other => other.parse().map_err(|_| {
            anyhow::anyhow!(
                "HOST: `{host}` is not an IP address; use `::` (all interfaces, IPv6 and IPv4), \
                 `0.0.0.0` (IPv4 only) or `127.0.0.1`"
            )
        })?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// Binds `addr`; an IPv6 address also accepts IPv4 (dual stack) whatever the system default,
/// so `::` reaches the worker over either family.
pub fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(socket.into())
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
    // The probes stay outside the request trace: a load balancer polls them every few seconds,
    // and a failing /readyz is logged by its handler once per change instead of per probe.
    let traced = Router::new()
        .merge(inngest_routes)
        .layer(TraceLayer::new_for_http());
    Router::new().merge(traced).merge(probes).layer(
        tower::ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                axum::http::header::AUTHORIZATION,
                HeaderName::from_static("x-inngest-signature"),
            ]))
            .layer(SetRequestIdLayer::new(
                x_request_id.clone(),
                MakeRequestUuid,
            ))
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
    if health.changed(reachable) {
        if reachable {
            tracing::info!(%url, "ready: the Inngest dev server answers");
        } else {
            tracing::warn!(
                %url,
                "not ready: the Inngest dev server does not answer; start it or fix INNGEST_BASE_URL \
                 (logged once until it answers again)"
            );
        }
    }
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
                tracing::warn!(
                    attempt,
                    %serve_url,
                    api = %client.config().api_base_url,
                    error = %e,
                    "registering with Inngest failed"
                );
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    tracing::error!(
        %serve_url,
        api = %client.config().api_base_url,
        "could not register with Inngest: check INNGEST_SIGNING_KEY and that Inngest can reach \
         the serve URL, then sync from the Inngest dashboard (Apps → Sync new app) or run \
         `autofix doctor`"
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
    if options.log_format == crate::config::LogFormat::Json {
        // JSON from the first line: the startup block is one structured log event.
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            app_id = %inngest.app_id,
            inngest_mode = %mode,
            serve_url = %serve_url,
            railway = %describe.railway,
            cron = %options.cron,
            window_minutes = options.window_minutes,
            ignored = %describe.ignored,
            analysis = %describe.llm,
            coding_agent = %describe.agent,
            github = %describe.github,
            report_only = options.report_only,
            approval_required = options.approval_required,
            "autofix starting"
        );
        return;
    }
    println!(
        "autofix {} — serving {} functions",
        env!("CARGO_PKG_VERSION"),
        inngest.app_id
    );
    println!("  inngest mode : {mode}");
    println!("  serve url    : {serve_url}");
    println!("  railway      : {}", describe.railway);
    println!(
        "  schedule     : monitor-project-health on `{}`, window {} min",
        options.cron, options.window_minutes
    );
    println!("  ignored      : {}", describe.ignored);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_accepts_bare_and_bracketed_ipv6() {
        for host in ["::", "[::]"] {
            let addr = listen_addr(host, 3917).unwrap();
            assert_eq!(addr.to_string(), "[::]:3917", "{host}");
        }
        assert_eq!(listen_addr("0.0.0.0", 1).unwrap().to_string(), "0.0.0.0:1");
        assert_eq!(listen_addr("[::1]", 1).unwrap().to_string(), "[::1]:1");
        let e = listen_addr("example.com", 1).unwrap_err().to_string();
        assert!(e.contains("HOST"), "{e}");
    }

    #[tokio::test]
    async fn the_default_bind_answers_over_ipv4_and_ipv6() {
        let addr = listen_addr(DEFAULT_HOST, 0).unwrap();
        let listener = match bind(addr) {
            Ok(l) => l,
            // A machine without IPv6 cannot run this; CI has it.
            Err(e) => {
                test_data::unavailable(&format!("cannot bind {addr}: {e}"), "enable IPv6");
                return;
            }
        };
        let port = listener.local_addr().unwrap().port();
        let accept = tokio::spawn(async move {
            for _ in 0..2 {
                let _ = listener.accept().await.unwrap();
            }
        });
        for client in ["127.0.0.1", "[::1]"] {
            tokio::net::TcpStream::connect(format!("{client}:{port}"))
                .await
                .unwrap_or_else(|e| panic!("{client} cannot reach the default bind: {e}"));
        }
        accept.await.unwrap();
    }
}

#[cfg(test)]
mod readiness_tests {
    use super::*;
    use inngest_testkit::LogCapture;

    #[tokio::test(flavor = "current_thread")]
    async fn a_failing_readyz_is_logged_once_per_change() {
        use tower::ServiceExt;
        let captured = LogCapture::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let health = Health::new(
            reqwest::Client::new(),
            Some(url::Url::parse("http://127.0.0.1:9/health").unwrap()),
        );
        let config = inngest::Config::dev("t", url::Url::parse("http://127.0.0.1:9/").unwrap());
        let client = inngest::Client::new(config, reqwest::Client::new());
        let app = router(client, Vec::new(), health, Duration::from_secs(5));
        for _ in 0..3 {
            let response = app
                .clone()
                .oneshot(
                    axum::http::Request::get("/readyz")
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        let logs = captured.text();
        assert_eq!(logs.matches("not ready").count(), 1, "{logs}");
        assert!(!logs.contains("ERROR"), "{logs}");
        assert!(logs.contains("http://127.0.0.1:9/health"), "{logs}");
    }
}
