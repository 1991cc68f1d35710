//! Fake Railway GraphQL API (`/graphql/v2`) serving `ProjectSnapshot`s through the real response
//! shapes.
//!
//! Each request's document is parsed; every root field is resolved from the snapshot (with its
//! arguments and variables) into a full JSON object, then projected onto the selection set, so
//! aliases, nested selections and connection pagination (`first`/`after`) behave as on Railway.
//! Faults can be queued (one per request) or made permanent; every request is counted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use railway::graphql_parser::query::{
    Definition, Field, OperationDefinition, Selection, SelectionSet, Value as GqlValue,
};
use railway::model::{HttpLogLine, LogLine, ProjectSnapshot, Service, ServiceLogs, StatusCounts};
use serde_json::{Map, Value, json};

use crate::served::Served;

/// Which header and token the fake accepts.
#[derive(Clone, Debug)]
pub enum FakeAuth {
    /// `Authorization: Bearer <token>` (`RAILWAY_API_TOKEN`).
    Bearer(String),
    /// `Project-Access-Token: <token>` (`RAILWAY_TOKEN`).
    Project(String),
}

/// A scripted failure for one request (or every request, see [`FakeRailway::set_fault`]).
#[derive(Clone, Debug)]
pub enum Fault {
    /// HTTP 401, empty body.
    Unauthorized,
    /// HTTP 429 with `Retry-After: <secs>`.
    RateLimited { retry_after_secs: u64 },
    /// HTTP 500 with a JSON-less body.
    ServerError,
    /// An HTML page (Cloudflare) with this status.
    Html { status: u16 },
    /// HTTP 200 with `errors: [{message}]` and no data.
    GraphQlError(String),
    /// Answer only after this delay.
    Delay(Duration),
}

/// What one answered request cost, as the benchmark and the rate tests read it.
#[derive(Clone, Debug)]
pub struct RequestStat {
    pub operation: String,
    /// Root fields (aliases) of the document.
    pub root_fields: usize,
    /// Data points returned: metric samples and log rows.
    pub points: usize,
    /// Bytes of the answer's body.
    pub response_bytes: usize,
    /// When the request reached the fake (its head was read), as for [`FakeRailway::arrivals`].
    pub at: Instant,
}

/// Every document is checked against Railway's schema: the subset the client compiles against,
/// and the full public schema from `../shared` (not committed; its absence fails under CI).
fn schemas() -> &'static Vec<railway::validate::Schema> {
    static SCHEMAS: OnceLock<Vec<railway::validate::Schema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let subset = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/railway/graphql/schema.graphql");
        std::iter::once(Some(subset))
            .chain([test_data::shared_file("railway/schema.graphql")])
            .flatten()
            .map(|p| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
            .map(|sdl| railway::validate::Schema::parse(&sdl).expect("schema parses"))
            .collect()
    })
}

#[derive(Default)]
struct Inner {
    snapshots: Vec<ProjectSnapshot>,
    requests: u64,
    arrivals: Vec<Instant>,
    stats: Vec<RequestStat>,
    operations: Vec<String>,
    documents: Vec<String>,
    queued: VecDeque<Fault>,
    permanent: Option<Fault>,
    http_metrics_unavailable: bool,
    failing_deployment: Option<String>,
    /// Snapshots that replace the served ones once this many requests were answered.
    later: Vec<(u64, Vec<ProjectSnapshot>)>,
    /// When set, nothing later than its "now" is served: Railway cannot report the future.
    clock: Option<inngest_testkit::VirtualClock>,
}

#[derive(Clone)]
struct Shared {
    auth: FakeAuth,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake; stops when dropped.
pub struct FakeRailway {
    endpoint: String,
    shared: Shared,
    /// Only held: dropping it stops the server.
    _server: Served,
}

impl FakeRailway {
    pub async fn start(snapshots: Vec<ProjectSnapshot>, auth: FakeAuth) -> Self {
        let shared = Shared {
            auth,
            inner: Arc::new(Mutex::new(Inner {
                snapshots,
                ..Default::default()
            })),
        };
        let app = Router::new()
            .route("/graphql/v2", post(handle))
            .route_layer(middleware::from_fn(stamp_arrival))
            .with_state(shared.clone());
        let server = Served::start("fake railway", app).await;
        Self {
            endpoint: server.url("/graphql/v2"),
            shared,
            _server: server,
        }
    }

    /// URL to give `ClientConfig::with_endpoint`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Requests received, faulted ones included.
    pub fn request_count(&self) -> u64 {
        self.shared.lock().requests
    }

    /// Arrival time of every request, faulted ones included: when its head was read, however
    /// long the fake then took to answer it or others.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.shared.lock().arrivals.clone()
    }

    /// Most requests that arrived within any one second.
    pub fn peak_requests_per_second(&self) -> usize {
        peak_in_window(&self.arrivals(), Duration::from_secs(1))
    }

    /// Cost of every answered request, in order.
    pub fn request_stats(&self) -> Vec<RequestStat> {
        self.shared.lock().stats.clone()
    }

    /// `operationName` of every request, in order.
    pub fn operations(&self) -> Vec<String> {
        self.shared.lock().operations.clone()
    }

    /// The GraphQL document of every request that reached the executor, in order.
    pub fn documents(&self) -> Vec<String> {
        self.shared.lock().documents.clone()
    }

    /// Fail the next request (faults queue up, one per request).
    pub fn fail_next(&self, fault: Fault) {
        self.shared.lock().queued.push_back(fault);
    }

    /// Fail every request with `fault` until cleared with `None`.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.shared.lock().permanent = fault;
    }

    /// Answer the HTTP metrics fields like a server that does not have them.
    pub fn set_http_metrics_unavailable(&self, unavailable: bool) {
        self.shared.lock().http_metrics_unavailable = unavailable;
    }

    /// Log queries for this deployment fail with "Problem processing request" (as for logs past
    /// retention); since every root field is non-null, the whole answer's `data` is then null.
    pub fn set_failing_deployment(&self, deployment_id: Option<&str>) {
        self.shared.lock().failing_deployment = deployment_id.map(str::to_owned);
    }

    /// Serve `snapshots` once `requests` requests were answered: a deployment that appears
    /// later, while a run polls.
    pub fn set_snapshots_after(&self, requests: u64, snapshots: Vec<ProjectSnapshot>) {
        self.shared.lock().later.push((requests, snapshots));
    }

    /// Serve metrics and logs only up to `clock`'s now, like the real API: a run that measures a
    /// window before it has elapsed sees only what has happened so far.
    pub fn set_clock(&self, clock: inngest_testkit::VirtualClock) {
        self.shared.lock().clock = Some(clock);
    }

    /// Replace the served snapshots (e.g. a later state of the same project).
    pub fn set_snapshots(&self, snapshots: Vec<ProjectSnapshot>) {
        self.shared.lock().snapshots = snapshots;
    }
}

fn gql_errors(status: StatusCode, messages: &[String]) -> Response {
    let errors: Vec<Value> = messages.iter().map(|m| json!({ "message": m })).collect();
    (
        status,
        axum::Json(json!({ "data": null, "errors": errors })),
    )
        .into_response()
}

/// When a request reached the fake.
#[derive(Clone, Copy)]
struct Arrived(Instant);

/// Stamps a request as soon as its head is read, before its body is, so that it counts when
/// Railway would count it.
async fn stamp_arrival(mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(Arrived(Instant::now()));
    next.run(request).await
}

/// Answers off the runtime's threads. Building a large answer takes a while under the shared
/// lock; on a runtime thread it would keep the server from reading the requests that arrive
/// meanwhile, and those would then be stamped late, bunched with the next ones: at S = 500 the
/// benchmark counted 11 "arrivals" in one second while the client wrote at most 10 to the socket.
async fn handle(
    State(shared): State<Shared>,
    Extension(Arrived(arrived)): Extension<Arrived>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fault, requests) = off_runtime({
        let shared = shared.clone();
        move || {
            let mut inner = shared.lock();
            inner.requests += 1;
            let answered = inner.requests - 1;
            if let Some(i) = inner.later.iter().position(|(after, _)| answered >= *after) {
                let (_, snapshots) = inner.later.remove(i);
                inner.snapshots = snapshots;
            }
            inner.arrivals.push(arrived);
            (
                inner.queued.pop_front().or_else(|| inner.permanent.clone()),
                inner.requests,
            )
        }
    })
    .await;
    if let Some(Fault::Delay(d)) = fault {
        tokio::time::sleep(d).await;
    }
    let mut response = off_runtime(move || answer(&shared, fault, arrived, &headers, &body)).await;
    // Railway reports the hourly budget on every answer (Hobby plan: 1 000 requests per hour).
    let remaining = RATE_LIMIT_PER_HOUR.saturating_sub(requests);
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", RATE_LIMIT_PER_HOUR.into());
    h.insert("x-ratelimit-remaining", remaining.into());
    response
}

async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The one workspace every project of the fake belongs to.
pub const FAKE_WORKSPACE_ID: &str = "ws-fake";

/// Requests per hour the fake reports in `X-RateLimit-*` headers.
pub const RATE_LIMIT_PER_HOUR: u64 = 1000;

fn answer(
    shared: &Shared,
    fault: Option<Fault>,
    arrived: Instant,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if let Some(fault) = fault {
        match fault {
            Fault::Unauthorized => return StatusCode::UNAUTHORIZED.into_response(),
            Fault::RateLimited { retry_after_secs } => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, retry_after_secs.to_string())],
                    "rate limited",
                )
                    .into_response();
            }
            Fault::ServerError => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response();
            }
            Fault::Html { status } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
                let page = "<!DOCTYPE html><html><head><title>Access denied | backboard.railway.com used Cloudflare to restrict access</title></head><body>Error 1015</body></html>";
                return (status, [(header::CONTENT_TYPE, "text/html")], page).into_response();
            }
            Fault::GraphQlError(message) => return gql_errors(StatusCode::OK, &[message]),
            // Waited for by `handle`, on the runtime.
            Fault::Delay(_) => {}
        }
    }
    let authorized = match &shared.auth {
        FakeAuth::Bearer(t) => {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {t}"))
        }
        FakeAuth::Project(t) => {
            headers
                .get("project-access-token")
                .and_then(|v| v.to_str().ok())
                == Some(t.as_str())
        }
    };
    if !authorized {
        let message = match &shared.auth {
            FakeAuth::Bearer(_) => "Not Authorized",
            FakeAuth::Project(_) => "Project Token not found",
        };
        return gql_errors(StatusCode::OK, &[message.to_owned()]);
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return gql_errors(StatusCode::BAD_REQUEST, &["Body is not JSON".to_owned()]);
    };
    let query = request["query"].as_str().unwrap_or_default();
    let variables = request["variables"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let operation = request["operationName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let invalid: Vec<String> = schemas().iter().flat_map(|s| s.check(query)).collect();
    if !invalid.is_empty() {
        return gql_errors(StatusCode::BAD_REQUEST, &invalid);
    }
    let mut inner = shared.lock();
    inner.operations.push(operation.clone());
    inner.documents.push(query.to_owned());
    match execute(&inner, query, &variables) {
        Ok((data, root_fields)) => {
            let points = count_points(&data);
            let body = serde_json::to_vec(&json!({ "data": data })).unwrap_or_default();
            inner.stats.push(RequestStat {
                operation,
                root_fields,
                points,
                response_bytes: body.len(),
                at: arrived,
            });
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(Rejection::Validation(messages)) => gql_errors(StatusCode::BAD_REQUEST, &messages),
        Err(Rejection::Execution(messages)) => gql_errors(StatusCode::OK, &messages),
    }
}

/// A metric sample (`ts`) or a log row (`timestamp`) is one data point.
fn count_points(v: &Value) -> usize {
    match v {
        Value::Array(items) => items.iter().map(count_points).sum(),
        Value::Object(o) => {
            let own = usize::from(o.contains_key("ts") || o.contains_key("timestamp"));
            own + o.values().map(count_points).sum::<usize>()
        }
        _ => 0,
    }
}

/// Most instants inside any window of length `width`.
pub fn peak_in_window(arrivals: &[Instant], width: Duration) -> usize {
    let mut sorted = arrivals.to_vec();
    sorted.sort();
    let mut peak = 0;
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end].duration_since(sorted[start]) >= width {
            start += 1;
        }
        peak = peak.max(end - start + 1);
    }
    peak
}

enum Rejection {
    Validation(Vec<String>),
    Execution(Vec<String>),
}

fn execute(
    inner: &Inner,
    query: &str,
    vars: &Map<String, Value>,
) -> Result<(Value, usize), Rejection> {
    let doc = railway::graphql_parser::parse_query::<String>(query)
        .map_err(|e| Rejection::Validation(vec![format!("Syntax Error: {e}")]))?
        .into_static();
    let set = doc
        .definitions
        .iter()
        .find_map(|d| match d {
            Definition::Operation(OperationDefinition::Query(q)) => Some(&q.selection_set),
            Definition::Operation(OperationDefinition::SelectionSet(s)) => Some(s),
            _ => None,
        })
        .ok_or_else(|| Rejection::Validation(vec!["no query operation".to_owned()]))?;
    if inner.http_metrics_unavailable {
        let missing: Vec<String> = root_fields(set)
            .filter(|f| {
                matches!(
                    f.name.as_str(),
                    "httpMetricsGroupedByStatus" | "httpDurationMetrics"
                )
            })
            .map(|f| format!("Cannot query field \"{}\" on type \"Query\".", f.name))
            .collect();
        if !missing.is_empty() {
            return Err(Rejection::Validation(missing));
        }
    }
    let mut data = Map::new();
    for field in root_fields(set) {
        let args = arguments(field, vars);
        let full =
            resolve_root(inner, &field.name, &args).map_err(|m| Rejection::Execution(vec![m]))?;
        let key = field.alias.clone().unwrap_or_else(|| field.name.clone());
        let projected = project(&full, &field.selection_set, vars)
            .map_err(|m| Rejection::Validation(vec![m]))?;
        data.insert(key, projected);
    }
    let fields = data.len();
    Ok((Value::Object(data), fields))
}

fn root_fields<'a>(
    set: &'a SelectionSet<'static, String>,
) -> impl Iterator<Item = &'a Field<'static, String>> {
    set.items.iter().filter_map(|s| match s {
        Selection::Field(f) => Some(f),
        _ => None,
    })
}

fn to_json(value: &GqlValue<'static, String>, vars: &Map<String, Value>) -> Value {
    match value {
        GqlValue::Variable(name) => vars.get(name).cloned().unwrap_or(Value::Null),
        GqlValue::Int(n) => json!(n.as_i64()),
        GqlValue::Float(f) => json!(f),
        GqlValue::String(s) => json!(s),
        GqlValue::Boolean(b) => json!(b),
        GqlValue::Null => Value::Null,
        GqlValue::Enum(e) => json!(e),
        GqlValue::List(items) => Value::Array(items.iter().map(|v| to_json(v, vars)).collect()),
        GqlValue::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v, vars)))
                .collect(),
        ),
    }
}

fn arguments(field: &Field<'static, String>, vars: &Map<String, Value>) -> Map<String, Value> {
    field
        .arguments
        .iter()
        .map(|(k, v)| (k.clone(), to_json(v, vars)))
        .filter(|(_, v)| !v.is_null())
        .collect()
}

/// Keeps the selected fields (under their aliases); pages connections by `first`/`after`.
fn project(
    value: &Value,
    set: &SelectionSet<'static, String>,
    vars: &Map<String, Value>,
) -> Result<Value, String> {
    if set.items.is_empty() {
        return Ok(value.clone());
    }
    match value {
        Value::Null => Ok(Value::Null),
        Value::Array(items) => items
            .iter()
            .map(|v| project(v, set, vars))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(obj) => {
            let mut out = Map::new();
            for field in root_fields(set) {
                if field.name == "__typename" {
                    continue;
                }
                let Some(v) = obj.get(&field.name) else {
                    return Err(format!(
                        "Cannot query field \"{}\" (not served by the fake)",
                        field.name
                    ));
                };
                let args = arguments(field, vars);
                let v = if args.contains_key("first") || args.contains_key("after") {
                    paginate(v, &args)
                } else {
                    v.clone()
                };
                let key = field.alias.clone().unwrap_or_else(|| field.name.clone());
                out.insert(key, project(&v, &field.selection_set, vars)?);
            }
            Ok(Value::Object(out))
        }
        other => Err(format!("cannot select fields of scalar {other}")),
    }
}

/// Connections carry all edges with index cursors; this slices one page.
fn paginate(connection: &Value, args: &Map<String, Value>) -> Value {
    let edges = connection["edges"].as_array().cloned().unwrap_or_default();
    let start = args
        .get("after")
        .and_then(Value::as_str)
        .and_then(|c| c.parse::<usize>().ok())
        .map_or(0, |c| c + 1);
    let first = args
        .get("first")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |n| n as usize);
    let page: Vec<Value> = edges.iter().skip(start).take(first).cloned().collect();
    let last_index = start + page.len();
    json!({
        "edges": page,
        "pageInfo": {
            "hasNextPage": last_index < edges.len(),
            "hasPreviousPage": start > 0,
            "startCursor": if page.is_empty() { Value::Null } else { json!(start.to_string()) },
            "endCursor": if page.is_empty() { Value::Null } else { json!((last_index - 1).to_string()) },
        }
    })
}

fn connection(nodes: Vec<Value>) -> Value {
    let edges: Vec<Value> = nodes
        .into_iter()
        .enumerate()
        .map(|(i, n)| json!({ "cursor": i.to_string(), "node": n }))
        .collect();
    json!({ "edges": edges, "pageInfo": { "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null } })
}

fn str_arg<'a>(args: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    args.get(name).and_then(Value::as_str)
}

/// `endDate`, cut at the clock's now when the fake has one.
fn end_arg(inner: &Inner, args: &Map<String, Value>) -> i64 {
    let end = time_arg(args, "endDate").unwrap_or(i64::MAX);
    match &inner.clock {
        Some(clock) => end.min(clock.now() + 1),
        None => end,
    }
}

fn time_arg(args: &Map<String, Value>, name: &str) -> Option<i64> {
    str_arg(args, name).and_then(unix)
}

fn unix(ts: &str) -> Option<i64> {
    railway::timefmt::unix(ts)
}

fn unix_nanos(ts: &str) -> i128 {
    railway::timefmt::unix_nanos(ts).unwrap_or(0)
}

fn resolve_root(inner: &Inner, name: &str, args: &Map<String, Value>) -> Result<Value, String> {
    match name {
        "project" => {
            let id = str_arg(args, "id").unwrap_or_default();
            let envs: Vec<&ProjectSnapshot> = inner
                .snapshots
                .iter()
                .filter(|s| s.architecture.project.id == id)
                .collect();
            let first = envs.first().ok_or("Project not found")?;
            let nodes = envs
                .iter()
                .map(|s| json!({ "id": s.architecture.environment.id, "name": s.architecture.environment.name }))
                .collect();
            Ok(
                json!({ "id": id, "name": first.architecture.project.name, "environments": connection(nodes) }),
            )
        }
        "environment" => {
            let snap = snapshot(inner, str_arg(args, "id"))?;
            if str_arg(args, "projectId").is_some_and(|p| p != snap.architecture.project.id) {
                return Err("Not Authorized".into());
            }
            Ok(environment_json(snap))
        }
        "metrics" => metrics(inner, args),
        // Every snapshot's project belongs to one workspace, in the order the snapshots are
        // given; environments appear under their project.
        "apiToken" => {
            Ok(json!({ "workspaces": [{ "id": FAKE_WORKSPACE_ID, "name": "fake workspace" }] }))
        }
        "workspace" => {
            if str_arg(args, "workspaceId") != Some(FAKE_WORKSPACE_ID) {
                return Err("Workspace not found".into());
            }
            let mut projects: Vec<(String, String, Vec<Value>)> = Vec::new();
            for snap in &inner.snapshots {
                let arch = &snap.architecture;
                let env = json!({ "id": arch.environment.id, "name": arch.environment.name });
                match projects
                    .iter_mut()
                    .find(|(id, _, _)| *id == arch.project.id)
                {
                    Some((_, _, envs)) => envs.push(env),
                    None => projects.push((
                        arch.project.id.clone(),
                        arch.project.name.clone(),
                        vec![env],
                    )),
                }
            }
            let nodes = projects
                .into_iter()
                .map(|(id, name, envs)| json!({ "id": id, "name": name, "environments": connection(envs) }))
                .collect();
            Ok(
                json!({ "id": FAKE_WORKSPACE_ID, "name": "fake workspace", "projects": connection(nodes) }),
            )
        }
        "serviceInstance" => {
            let snap = snapshot(inner, str_arg(args, "environmentId"))
                .map_err(|_| "ServiceInstance not found".to_owned())?;
            let id = str_arg(args, "serviceId").unwrap_or_default();
            let arch = &snap.architecture;
            arch.service(id)
                .map(|s| instance_json(arch, s))
                .ok_or_else(|| "ServiceInstance not found".to_owned())
        }
        "deployment" => {
            let id = str_arg(args, "id").ok_or("id required")?;
            for snap in &inner.snapshots {
                let arch = &snap.architecture;
                for s in &arch.services {
                    let latest = s.latest_deployment.as_ref().filter(|d| d.id == id);
                    let from_logs = snap
                        .logs
                        .get(&s.id)
                        .and_then(|l| l.deployment_id.as_deref())
                        == Some(id);
                    if latest.is_some() || from_logs {
                        return Ok(json!({
                            "id": id,
                            "serviceId": s.id,
                            "environmentId": arch.environment.id,
                            "projectId": arch.project.id,
                            "status": latest.map_or(json!("SUCCESS"), |d| serde_json::to_value(&d.status).unwrap_or(Value::Null)),
                        }));
                    }
                }
            }
            Err("Deployment not found".to_owned())
        }
        "httpMetricsGroupedByStatus" => {
            let (snap, service) = service_snapshot(inner, args)?;
            let (start, end) = (
                time_arg(args, "startDate").unwrap_or(i64::MIN),
                end_arg(inner, args),
            );
            let Some(stats) = snap.http.services.get(service) else {
                return Ok(json!([]));
            };
            let mut buckets: Vec<(i64, StatusCounts)> = stats
                .timeline
                .iter()
                .filter(|b| b.ts >= start && b.ts < end)
                .map(|b| (b.ts, b.counts))
                .collect();
            if stats.timeline.is_empty() && stats.counts.total() > 0 {
                buckets.push((start, stats.counts));
            }
            let classes: [(i64, ClassCount); 4] = [
                (200, |c| c.s2xx),
                (301, |c| c.s3xx),
                (404, |c| c.s4xx),
                (500, |c| c.s5xx),
            ];
            let series: Vec<Value> = classes
                .iter()
                .filter_map(|(code, get)| {
                    let samples: Vec<Value> = buckets
                        .iter()
                        .filter(|(_, c)| get(c) > 0)
                        .map(|(ts, c)| json!({ "ts": ts, "value": get(c) as f64 }))
                        .collect();
                    (!samples.is_empty()).then(|| json!({ "statusCode": code, "samples": samples }))
                })
                .collect();
            Ok(Value::Array(series))
        }
        "httpDurationMetrics" => {
            let (snap, service) = service_snapshot(inner, args)?;
            let (start, end) = (
                time_arg(args, "startDate").unwrap_or(i64::MIN),
                end_arg(inner, args),
            );
            let Some(stats) = snap.http.services.get(service) else {
                return Ok(json!({ "samples": [] }));
            };
            let sample = |ts: i64, p: &railway::model::LatencyPercentiles| json!({ "ts": ts, "p50": p.p50, "p90": p.p90, "p95": p.p95, "p99": p.p99 });
            // The period before the snapshot's window: the service's normal, one sample a step.
            // (A window read starts at the window, give or take the seconds between building
            // the snapshot and reading it; a baseline period starts a day earlier.)
            if start + 3600 <= snap.http.window.start
                && let Some(p95) = snap.baselines.get(service).and_then(|b| b.p95_ms)
            {
                let step = args
                    .get("stepSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(3600)
                    .max(60);
                let normal = railway::model::LatencyPercentiles {
                    p50: p95 / 3.0,
                    p90: p95 * 0.8,
                    p95,
                    p99: p95 * 1.5,
                };
                let samples: Vec<Value> = (0..)
                    .map(|i| start + i * step)
                    .take_while(|ts| *ts < end)
                    .map(|ts| sample(ts, &normal))
                    .collect();
                return Ok(json!({ "samples": samples }));
            }
            let samples: Vec<Value> = if args.contains_key("stepSeconds") {
                stats
                    .latency_timeline
                    .iter()
                    .filter(|s| s.ts >= start && s.ts < end)
                    .map(|s| sample(s.ts, &s.ms))
                    .collect()
            } else {
                stats.latency_ms.iter().map(|p| sample(start, p)).collect()
            };
            Ok(json!({ "samples": samples }))
        }
        "httpLogs" => {
            let (_, logs) = deployment_logs(inner, args)?;
            let filter = HttpFilter::parse(str_arg(args, "filter").unwrap_or_default())?;
            let from = time_arg(args, "beforeDate").unwrap_or(i64::MIN);
            let to = time_arg(args, "anchorDate").unwrap_or(i64::MAX);
            let limit = args
                .get("beforeLimit")
                .or_else(|| args.get("limit"))
                .and_then(Value::as_u64)
                .unwrap_or(100) as usize;
            let mut rows: Vec<&HttpLogLine> = logs
                .map(|l| l.http.iter().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|l| unix(&l.timestamp).is_some_and(|t| t >= from && t <= to))
                .filter(|l| filter.matches(l))
                .collect();
            rows.sort_by_key(|l| unix_nanos(&l.timestamp));
            let skip = rows.len().saturating_sub(limit);
            Ok(Value::Array(
                rows.into_iter().skip(skip).map(http_log_json).collect(),
            ))
        }
        "buildLogs" | "deploymentLogs" => {
            let (_, logs) = deployment_logs(inner, args)?;
            let from = time_arg(args, "startDate").unwrap_or(i64::MIN);
            let to = end_arg(inner, args);
            let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(100) as usize;
            let mut lines: Vec<&LogLine> = logs
                .map(|l| {
                    if name == "buildLogs" {
                        l.build.iter().collect::<Vec<_>>()
                    } else {
                        l.deploy.iter().collect()
                    }
                })
                .unwrap_or_default()
                .into_iter()
                .filter(|l| unix(&l.timestamp).is_some_and(|t| t >= from && t <= to))
                .collect();
            lines.sort_by_key(|l| unix_nanos(&l.timestamp));
            // Railway answers `limit + 1` lines (noted in its CLI); clients must trim.
            let skip = lines.len().saturating_sub(limit + 1);
            Ok(Value::Array(
                lines.into_iter().skip(skip).map(log_json).collect(),
            ))
        }
        other => Err(format!(
            "Cannot query field \"{other}\" on type \"Query\" (fake)"
        )),
    }
}

/// Reads one status class out of a bucket.
type ClassCount = fn(&StatusCounts) -> u64;

fn snapshot<'a>(
    inner: &'a Inner,
    environment_id: Option<&str>,
) -> Result<&'a ProjectSnapshot, String> {
    inner
        .snapshots
        .iter()
        .find(|s| Some(s.architecture.environment.id.as_str()) == environment_id)
        .ok_or_else(|| "Environment not found".to_owned())
}

fn service_snapshot<'a>(
    inner: &'a Inner,
    args: &'a Map<String, Value>,
) -> Result<(&'a ProjectSnapshot, &'a str), String> {
    let snap = snapshot(inner, str_arg(args, "environmentId"))?;
    let service = str_arg(args, "serviceId").ok_or("serviceId required")?;
    Ok((snap, service))
}

/// The snapshot logs of the service whose latest deployment is `deploymentId`.
fn deployment_logs<'a>(
    inner: &'a Inner,
    args: &Map<String, Value>,
) -> Result<(&'a Service, Option<&'a ServiceLogs>), String> {
    let deployment = str_arg(args, "deploymentId").ok_or("deploymentId required")?;
    if inner.failing_deployment.as_deref() == Some(deployment) {
        return Err("Problem processing request".to_owned());
    }
    for snap in &inner.snapshots {
        for s in &snap.architecture.services {
            let logs = snap.logs.get(&s.id);
            let by_arch = s
                .latest_deployment
                .as_ref()
                .is_some_and(|d| d.id == deployment);
            let by_logs = logs.and_then(|l| l.deployment_id.as_deref()) == Some(deployment);
            if by_arch || by_logs {
                return Ok((s, logs));
            }
        }
    }
    Err("Deployment not found".to_owned())
}

/// The documented subset of the filter grammar our client sends: terms joined by `OR`, each
/// `@httpStatus:>=N` or `@totalDuration:>=N` (also `>`, `<`, `<=`).
struct HttpFilter(Vec<(String, String, i64)>);

impl HttpFilter {
    fn parse(filter: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in filter
            .split(" OR ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let (attr, cond) = term
                .strip_prefix('@')
                .and_then(|t| t.split_once(':'))
                .ok_or(format!("Problem processing request: filter {term}"))?;
            let op_len = cond
                .chars()
                .take_while(|c| matches!(c, '>' | '<' | '='))
                .count();
            let value: i64 = cond[op_len..]
                .parse()
                .map_err(|_| format!("Problem processing request: filter {term}"))?;
            terms.push((attr.to_owned(), cond[..op_len].to_owned(), value));
        }
        Ok(Self(terms))
    }

    fn matches(&self, l: &HttpLogLine) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|(attr, op, v)| {
                let x = match attr.as_str() {
                    "httpStatus" => i64::from(l.status),
                    "totalDuration" => l.total_duration_ms as i64,
                    _ => return false,
                };
                match op.as_str() {
                    ">=" => x >= *v,
                    ">" => x > *v,
                    "<=" => x <= *v,
                    "<" => x < *v,
                    _ => x == *v,
                }
            })
    }
}

/// One service instance as `environment.serviceInstances` and `serviceInstance` serve it.
fn instance_json(arch: &railway::model::Architecture, s: &Service) -> Value {
    json!({
        "id": s.instance_id,
        "serviceId": s.id,
        "serviceName": s.name,
        "environmentId": arch.environment.id,
        "builder": s.builder.clone().unwrap_or_else(|| "RAILPACK".to_owned()),
        "region": s.region,
        "rootDirectory": s.root_directory,
        "startCommand": s.start_command,
        "numReplicas": s.replicas,
        "source": if s.source.repo.is_none() && s.source.image.is_none() { Value::Null } else {
            json!({ "repo": s.source.repo, "image": s.source.image })
        },
        "domains": {
            "serviceDomains": s.domains.iter().filter(|d| d.ends_with(".up.railway.app")).map(|d| json!({ "id": d, "domain": d })).collect::<Vec<_>>(),
            "customDomains": s.domains.iter().filter(|d| !d.ends_with(".up.railway.app")).map(|d| json!({ "id": d, "domain": d })).collect::<Vec<_>>(),
        },
        "service": { "id": s.id, "name": s.name, "projectId": arch.project.id },
        "latestDeployment": s.latest_deployment.as_ref().map(|d| json!({
            "id": d.id,
            "status": serde_json::to_value(&d.status).unwrap_or(Value::Null),
            "createdAt": d.created_at,
            "serviceId": s.id,
            "meta": d.commit_hash.as_ref().map(|c| json!({ "commitHash": c, "branch": "main" })),
        })),
    })
}

fn environment_json(snap: &ProjectSnapshot) -> Value {
    let arch = &snap.architecture;
    let services = arch
        .services
        .iter()
        .map(|s| instance_json(arch, s))
        .collect();
    let volumes = arch
        .volumes
        .iter()
        .map(|v| {
            json!({
                "id": v.id,
                "volumeId": v.volume_id,
                "serviceId": v.service_id,
                "mountPath": v.mount_path,
                "currentSizeMB": v.current_size_mb,
                "sizeMB": v.size_mb as i64,
                "state": v.state,
                "volume": { "id": v.volume_id, "name": v.name },
            })
        })
        .collect();
    json!({
        "id": arch.environment.id,
        "name": arch.environment.name,
        "projectId": arch.project.id,
        "serviceInstances": connection(services),
        "volumeInstances": connection(volumes),
        "deployments": connection(deployments_json(snap)),
    })
}

/// Every service's deployment history, newest first across the environment, as Railway lists it.
fn deployments_json(snap: &ProjectSnapshot) -> Vec<Value> {
    let mut all: Vec<(&String, &railway::model::DeploymentRecord)> = snap
        .deployments
        .iter()
        .flat_map(|(service, ds)| ds.iter().map(move |d| (service, d)))
        .collect();
    all.sort_by_key(|(_, d)| std::cmp::Reverse(d.created_at));
    all.into_iter()
        .map(|(service, d)| {
            json!({
                "id": d.id,
                "serviceId": service,
                "status": serde_json::to_value(&d.status).unwrap_or(Value::Null),
                "createdAt": railway::timefmt::rfc3339(d.created_at),
                "meta": { "commitHash": d.commit_hash, "commitMessage": d.commit_message },
            })
        })
        .collect()
}

fn metrics(inner: &Inner, args: &Map<String, Value>) -> Result<Value, String> {
    let snap = snapshot(inner, str_arg(args, "environmentId"))?;
    if str_arg(args, "projectId").is_some_and(|p| p != snap.architecture.project.id) {
        return Err("Not Authorized".into());
    }
    if args.get("groupBy") != Some(&json!(["SERVICE_ID"])) {
        return Err("fake serves metrics grouped by SERVICE_ID only".into());
    }
    let start = time_arg(args, "startDate").ok_or("startDate required")?;
    let end = end_arg(inner, args);
    // One value per `sampleRateSeconds` bucket (the first), as Railway downsamples.
    let rate = args
        .get("sampleRateSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(1);
    let downsample = |values: Vec<Value>| -> Vec<Value> {
        let mut last_bucket = None;
        values
            .into_iter()
            .filter(|v| {
                let bucket = (v["ts"].as_i64().unwrap_or(0) - start).div_euclid(rate);
                let keep = last_bucket != Some(bucket);
                last_bucket = Some(bucket);
                keep
            })
            .collect()
    };
    let measurements: Vec<String> = args
        .get("measurements")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for (service_id, usage) in &snap.resources.services {
        let in_window = |s: &&railway::model::Sample| s.ts >= start && s.ts < end;
        for m in &measurements {
            let values: Vec<Value> = match m.as_str() {
                "CPU_USAGE" => usage
                    .cpu
                    .iter()
                    .filter(in_window)
                    .map(|s| json!({ "ts": s.ts, "value": s.value }))
                    .collect(),
                "MEMORY_USAGE_GB" => usage
                    .memory_gb
                    .iter()
                    .filter(in_window)
                    .map(|s| json!({ "ts": s.ts, "value": s.value }))
                    .collect(),
                // Limits come back as a flat series at the usage timestamps.
                "CPU_LIMIT" => limit_series(&usage.cpu, usage.cpu_limit, start, end),
                "MEMORY_LIMIT_GB" => {
                    limit_series(&usage.memory_gb, usage.memory_limit_gb, start, end)
                }
                _ => Vec::new(),
            };
            let values = downsample(values);
            if !values.is_empty() {
                out.push(json!({ "measurement": m, "tags": { "serviceId": service_id }, "values": values }));
            }
        }
    }
    Ok(Value::Array(out))
}

fn limit_series(
    usage: &[railway::model::Sample],
    limit: Option<f64>,
    start: i64,
    end: i64,
) -> Vec<Value> {
    let Some(limit) = limit else {
        return Vec::new();
    };
    usage
        .iter()
        .filter(|s| s.ts >= start && s.ts < end)
        .map(|s| json!({ "ts": s.ts, "value": limit }))
        .collect()
}

fn http_log_json(l: &HttpLogLine) -> Value {
    json!({
        "timestamp": l.timestamp,
        "requestId": l.request_id.clone().unwrap_or_default(),
        "method": l.method,
        "path": l.path,
        "host": "app.up.railway.app",
        "httpStatus": l.status,
        "totalDuration": l.total_duration_ms,
        "upstreamRqDuration": l.upstream_duration_ms.unwrap_or(l.total_duration_ms),
        "responseDetails": l.response_details.clone().unwrap_or_default(),
        "upstreamErrors": "",
        "clientUa": "fake",
        "srcIp": "127.0.0.1",
        "edgeRegion": "us-west2",
        "txBytes": 512,
        "rxBytes": 128,
    })
}

fn log_json(l: &LogLine) -> Value {
    // Railway sends attribute values JSON-quoted.
    let attributes: Vec<Value> = l
        .attributes
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": format!("\"{v}\"") }))
        .collect();
    json!({ "timestamp": l.timestamp, "message": l.message, "severity": l.severity, "attributes": attributes })
}
