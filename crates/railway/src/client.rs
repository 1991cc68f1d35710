//! The one transport every Railway request goes through, on our own `reqwest` client.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use graphql_client::GraphQLQuery;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::auth::Credentials;
use crate::error::RailwayError;
use crate::pacer::Pacer;

/// Requests one client (and its clones) has in flight at most: batches of a large project are
/// sent a few at a time rather than all at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;

/// Railway's public GraphQL endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://backboard.railway.com/graphql/v2";

/// Used when a 429 carries no readable `Retry-After`; Railway's windows are hourly, so a minute is
/// a cautious first wait rather than a guess at the reset time.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Longest excerpt of an unexpected body kept in an error.
const SNIPPET_CHARS: usize = 200;

/// How to build a [`RailwayClient`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// GraphQL endpoint (default [`DEFAULT_ENDPOINT`]; a fake server in tests).
    pub endpoint: String,
    /// Token, project and environment.
    pub credentials: Credentials,
    /// Whole-request timeout (Railway's CLI uses 90 s).
    pub timeout: Duration,
    /// `User-Agent` header sent with every request.
    pub user_agent: String,
    /// How HTTP figures are read.
    pub http: HttpStatsConfig,
    /// Keeps the plan's rate limits; share one pacer between every client of a worker.
    pub pacer: Pacer,
    /// Requests in flight at most.
    pub max_in_flight: usize,
}

/// Requests at least this slow (ms) count as slow everywhere: HTTP stats, kept log lines,
/// evidence groups and the demo data.
pub const SLOW_REQUEST_MS: u64 = 1000;

/// How HTTP stats find their top failing and slowest endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpStatsConfig {
    /// Requests at least this slow count as slow (`@totalDuration:>=N`).
    pub slow_request_ms: u64,
    /// Newest failed-or-slow requests read per service for the endpoint lists.
    pub endpoint_rows: u32,
}

impl Default for HttpStatsConfig {
    fn default() -> Self {
        Self {
            slow_request_ms: SLOW_REQUEST_MS,
            endpoint_rows: 500,
        }
    }
}

impl ClientConfig {
    /// The defaults: public endpoint, 90 s timeout, a pacer for the default plan, 4 requests in
    /// flight.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            credentials,
            timeout: Duration::from_secs(90),
            user_agent: concat!("autofix-railway/", env!("CARGO_PKG_VERSION")).to_owned(),
            http: HttpStatsConfig::default(),
            pacer: Pacer::new(crate::pacer::Plan::default()),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }

    /// Shares `pacer` (and so the plan's budget) with other clients.
    pub fn with_pacer(mut self, pacer: Pacer) -> Self {
        self.pacer = pacer;
        self
    }

    /// Another GraphQL endpoint.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// Another whole-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Railway GraphQL client. Cheap to clone; clones share the request counter.
#[derive(Clone, Debug)]
pub struct RailwayClient {
    http: reqwest::Client,
    endpoint: String,
    pub(crate) credentials: Credentials,
    pub(crate) http_config: HttpStatsConfig,
    requests: Arc<AtomicU64>,
    /// Set once Railway rejected the HTTP metrics fields, so later reads go straight to the
    /// `httpLogs` fallback instead of spending a request on a known failure.
    pub(crate) http_metrics_unavailable: Arc<AtomicBool>,
    /// Last `X-RateLimit-Remaining` seen, -1 before any.
    rate_limit_remaining: Arc<AtomicI64>,
    pacer: Pacer,
    in_flight: Arc<tokio::sync::Semaphore>,
    bytes_received: Arc<AtomicU64>,
}

#[derive(Debug, Deserialize)]
struct GraphQlBody<'a> {
    /// Kept as text and decoded straight into the caller's types: a `serde_json::Value` tree
    /// of a large answer costs many times its text.
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    errors: Vec<GraphQlErrorItem>,
}

#[derive(Debug, Deserialize)]
struct GraphQlErrorItem {
    message: String,
}

impl RailwayClient {
    /// A client for `config`; fails only when the HTTP client cannot be built.
    pub fn new(config: ClientConfig) -> Result<Self, RailwayError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(config.user_agent)
            .build()
            .map_err(|e| RailwayError::Config(e.without_url().to_string()))?;
        Ok(Self {
            http,
            endpoint: config.endpoint,
            credentials: config.credentials,
            http_config: config.http,
            requests: Arc::new(AtomicU64::new(0)),
            http_metrics_unavailable: Arc::new(AtomicBool::new(false)),
            rate_limit_remaining: Arc::new(AtomicI64::new(-1)),
            pacer: config.pacer,
            in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1))),
            bytes_received: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The same client (same pacer, counters and connection pool) reading another project and
    /// environment: one per monitored target of a workspace.
    pub fn with_target(
        mut self,
        project_id: impl Into<String>,
        environment_id: impl Into<String>,
    ) -> Self {
        self.credentials.project_id = project_id.into();
        self.credentials.environment_id = environment_id.into();
        self
    }

    /// The pacer every request of this client waits on.
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// Response bytes received so far by this client and its clones.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received.load(Ordering::Relaxed)
    }

    /// Token, project and environment this client reads.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The same client reading another environment of the same project.
    pub fn with_environment_id(mut self, environment_id: impl Into<String>) -> Self {
        self.credentials.environment_id = environment_id.into();
        self
    }

    /// HTTP requests sent so far by this client and its clones.
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests left in Railway's current rate-limit window, as its last answer said.
    pub fn rate_limit_remaining(&self) -> Option<u64> {
        u64::try_from(self.rate_limit_remaining.load(Ordering::Relaxed)).ok()
    }

    /// A `graphql_client` operation.
    pub(crate) async fn query<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
    ) -> Result<Q::ResponseData, RailwayError> {
        let body = Q::build_query(variables);
        let operation = body.operation_name;
        let body = serde_json::to_vec(&body).map_err(|e| decode(operation, e))?;
        self.post(operation, body).await
    }

    /// A document built at run time (aliased batches), decoded into hand-written types.
    pub(crate) async fn query_document<T: DeserializeOwned>(
        &self,
        operation: &str,
        document: &str,
        variables: Value,
    ) -> Result<T, RailwayError> {
        let body = json!({ "query": document, "variables": variables, "operationName": operation });
        let body = serde_json::to_vec(&body).map_err(|e| decode(operation, e))?;
        self.post(operation, body).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        operation: &str,
        body: Vec<u8>,
    ) -> Result<T, RailwayError> {
        // Held until the answer is decoded, so at most `max_in_flight` answers are in memory.
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| RailwayError::Config("request limiter closed".into()))?;
        self.pacer.acquire().await?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let (name, value) = self.credentials.token.header();
        let request = self
            .http
            .post(&self.endpoint)
            .header(name, value)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send();
        let response =
            client_error::outbound("railway", operation, request, |r| r.status().as_u16())
                .await
                .map_err(|e| transport_error(operation, e))?;
        let status = response.status().as_u16();
        if let Some(remaining) = response
            .headers()
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
        {
            self.rate_limit_remaining
                .store(remaining, Ordering::Relaxed);
        }
        if status == 429 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(client_error::parse_retry_after)
                .unwrap_or(DEFAULT_RETRY_AFTER);
            return Err(RailwayError::RateLimited { retry_after });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(operation, e))?;
        self.bytes_received
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        tracing::debug!(operation, status, bytes = bytes.len(), "railway response");
        let text = String::from_utf8_lossy(&bytes);
        let data = interpret(
            operation,
            status,
            &text,
            self.credentials.token.variable(),
            self.credentials.token.secret(),
        )?;
        serde_json::from_str(data.get()).map_err(|e| decode(operation, e))
    }
}

fn decode(operation: &str, e: serde_json::Error) -> RailwayError {
    RailwayError::Decode {
        operation: operation.to_owned(),
        reason: e.to_string(),
    }
}

fn transport_error(operation: &str, e: reqwest::Error) -> RailwayError {
    let operation = operation.to_owned();
    if e.is_timeout() {
        RailwayError::Timeout { operation }
    } else {
        RailwayError::Connect {
            operation,
            reason: error_chain(&e.without_url()),
        }
    }
}

/// reqwest's own message is generic ("error sending request"); the cause (refused, DNS, TLS)
/// sits in the source chain. URLs were stripped by the caller, so no query string leaks.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Turns a status and body into data or a specific error. Pure, so every branch is unit-tested.
pub(crate) fn interpret<'t>(
    operation: &str,
    status: u16,
    text: &'t str,
    variable: &'static str,
    secret: &str,
) -> Result<&'t RawValue, RailwayError> {
    let op = || operation.to_owned();
    // Cloudflare answers 403 with an HTML "Access denied" page when it blocks heavy traffic; that
    // says nothing about the token, so it must not send the user off to rotate it.
    if status == 403 && looks_like_html(text) {
        return Err(RailwayError::NotJson {
            operation: op(),
            status,
            snippet: snippet(text, secret),
        });
    }
    if status == 401 || status == 403 {
        return Err(RailwayError::Unauthorized {
            variable,
            reason: format!("HTTP {status}"),
        });
    }
    if status >= 500 {
        return Err(RailwayError::Server {
            operation: op(),
            status,
        });
    }
    let parsed: Result<GraphQlBody<'t>, _> = serde_json::from_str(text);
    let body = match parsed {
        Ok(body) => body,
        Err(_) if !(200..300).contains(&status) => {
            return Err(RailwayError::Http {
                operation: op(),
                status,
                snippet: snippet(text, secret),
            });
        }
        Err(_) => {
            return Err(RailwayError::NotJson {
                operation: op(),
                status,
                snippet: snippet(text, secret),
            });
        }
    };
    if !body.errors.is_empty() {
        let messages: Vec<String> = body
            .errors
            .iter()
            .map(|e| redact::redact_string(scrub(&e.message, secret)))
            .collect();
        if let Some(m) = messages.iter().find(|m| is_auth_message(m)) {
            return Err(RailwayError::Unauthorized {
                variable,
                reason: m.clone(),
            });
        }
        if let Some(field) = body.errors.iter().find_map(|e| unknown_field(&e.message)) {
            return Err(RailwayError::FieldUnavailable {
                operation: op(),
                field,
            });
        }
        return Err(RailwayError::GraphQl {
            operation: op(),
            messages,
        });
    }
    if !(200..300).contains(&status) {
        return Err(RailwayError::Http {
            operation: op(),
            status,
            snippet: snippet(text, secret),
        });
    }
    match body.data {
        Some(data) if data.get() != "null" => Ok(data),
        _ => Err(RailwayError::MissingData { operation: op() }),
    }
}

fn looks_like_html(text: &str) -> bool {
    let head = text
        .trim_start()
        .get(..15)
        .unwrap_or(text.trim_start())
        .to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

fn is_auth_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("not authorized")
        || m.contains("project token not found")
        || m.contains("unauthorized")
}

/// The field named by a validation error such as `Cannot query field "x" on type "Query".`
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Cannot query field ")?;
    let rest = rest.trim_start_matches(['"', '\'', '`']);
    let end = rest.find(['"', '\'', '`', ' '])?;
    Some(rest[..end].to_owned())
}

fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "<redacted>")
    }
}

fn snippet(text: &str, secret: &str) -> String {
    // Redacted before the cut: a secret straddling the cut would otherwise leak its prefix.
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let clean = redact::redact_string(scrub(&flat, secret));
    clean.chars().take(SNIPPET_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_error::ClientError;

    const VAR: &str = "RAILWAY_API_TOKEN";

    fn run(status: u16, body: &str) -> Result<Value, RailwayError> {
        interpret("Op", status, body, VAR, "s3cret")
            .map(|raw| serde_json::from_str(raw.get()).unwrap())
    }

    #[test]
    fn data_is_returned() {
        assert_eq!(run(200, r#"{"data":{"a":1}}"#).unwrap(), json!({"a":1}));
    }

    #[test]
    fn auth_failures_name_the_variable() {
        for (status, body) in [
            (401, "nope"),
            (403, "Forbidden"),
            (
                200,
                r#"{"data":null,"errors":[{"message":"Not Authorized"}]}"#,
            ),
            (200, r#"{"errors":[{"message":"Project Token not found"}]}"#),
        ] {
            match run(status, body) {
                Err(e @ RailwayError::Unauthorized { variable: VAR, .. }) => {
                    assert!(!e.is_retriable())
                }
                other => panic!("{status} {body}: {other:?}"),
            }
        }
    }

    #[test]
    fn cloudflare_403_is_not_blamed_on_the_token() {
        let page = "<!DOCTYPE html><html><title>Access denied | backboard.railway.com used Cloudflare</title></html>";
        let e = run(403, page).unwrap_err();
        assert!(
            matches!(e, RailwayError::NotJson { status: 403, .. }),
            "{e:?}"
        );
        assert!(e.is_retriable());
        assert!(matches!(
            run(403, r#"{"errors":[{"message":"Forbidden"}]}"#),
            Err(RailwayError::Unauthorized { .. })
        ));
    }

    #[test]
    fn unknown_field_is_detected() {
        let body = r#"{"errors":[{"message":"Cannot query field \"httpMetricsGroupedByStatus\" on type \"Query\"."}]}"#;
        match run(400, body) {
            Err(RailwayError::FieldUnavailable { field, .. }) => {
                assert_eq!(field, "httpMetricsGroupedByStatus")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_html_and_graphql_errors() {
        assert!(matches!(
            run(502, "<html>bad gateway</html>"),
            Err(RailwayError::Server { status: 502, .. })
        ));
        let html = run(
            200,
            "<html><title>Access denied | backboard.railway.com used Cloudflare</title></html>",
        );
        assert!(
            matches!(&html, Err(RailwayError::NotJson { .. })),
            "{html:?}"
        );
        assert!(html.unwrap_err().is_retriable());
        let e = run(
            200,
            r#"{"data":null,"errors":[{"message":"Problem processing request s3cret"}]}"#,
        )
        .unwrap_err();
        assert!(matches!(&e, RailwayError::GraphQl { operation, .. } if operation == "Op"));
        assert!(!e.to_string().contains("s3cret"));
        assert!(!e.is_retriable());
        assert!(matches!(
            run(200, r#"{"data":null}"#),
            Err(RailwayError::MissingData { .. })
        ));
        assert!(matches!(
            run(404, "not found"),
            Err(RailwayError::Http { status: 404, .. })
        ));
    }
}
