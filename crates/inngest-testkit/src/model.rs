//! Public types: options, registrations, runs, exchanges, errors.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Which kind of Inngest server the fake plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    /// Like `inngest dev`: no signatures, any event key.
    Dev,
    /// Like Inngest Cloud / `inngest start`: calls and sync pings are signed,
    /// the SDK's register call must carry the hashed signing key.
    Cloud,
}

impl ServerKind {
    /// `dev` or `cloud`, as the server-kind headers spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerKind::Dev => "dev",
            ServerKind::Cloud => "cloud",
        }
    }
}

/// Configuration of a [`crate::TestInngest`].
#[derive(Clone)]
pub struct Options {
    /// Dev (unsigned) or Cloud (signed) behaviour.
    pub server_kind: ServerKind,
    /// Cloud mode: the key calls are signed with and register auth is checked against.
    pub signing_key: Option<String>,
    /// Cloud mode: if set, `POST /e/{key}` must use it (401 otherwise).
    pub event_key: Option<String>,
    /// Upper bound of HTTP calls made for one run; exceeding it fails the run
    /// and `run_until_idle`, so a looping SDK cannot hang a test.
    pub max_calls: u32,
    /// Upper bound of HTTP calls in one `run_until_idle`.
    pub max_total_calls: u32,
    /// Timeout of one call to the SDK.
    pub call_timeout: Duration,
    /// Timeout of the sync PUT (the SDK registers before answering it).
    pub sync_timeout: Duration,
    /// Retries used when a function does not set `retries.attempts` (server default 4).
    pub default_retries: u32,
    /// Simulated time moved by resolved sleeps and timed-out waits; `None`: sleeps are resolved
    /// at once and time is the wall clock's.
    pub clock: Option<crate::VirtualClock>,
}

impl Options {
    /// Dev-server behaviour with the default limits: 200 calls a run, 5 000 per `run_until_idle`,
    /// 15 s call and sync timeouts, 4 retries.
    pub fn dev() -> Self {
        Options {
            server_kind: ServerKind::Dev,
            signing_key: None,
            event_key: None,
            max_calls: 200,
            max_total_calls: 5_000,
            call_timeout: Duration::from_secs(15),
            sync_timeout: Duration::from_secs(15),
            default_retries: 4,
            clock: None,
        }
    }

    /// Cloud behaviour with this signing key and event key, otherwise as [`Options::dev`].
    pub fn cloud(signing_key: impl Into<String>, event_key: impl Into<String>) -> Self {
        Options {
            server_kind: ServerKind::Cloud,
            signing_key: Some(signing_key.into()),
            event_key: Some(event_key.into()),
            ..Options::dev()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::dev()
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |k: &Option<String>| k.as_ref().map(|_| "[redacted]");
        f.debug_struct("Options")
            .field("server_kind", &self.server_kind)
            .field("signing_key", &redact(&self.signing_key))
            .field("event_key", &redact(&self.event_key))
            .field("max_calls", &self.max_calls)
            .field("max_total_calls", &self.max_total_calls)
            .field("call_timeout", &self.call_timeout)
            .field("sync_timeout", &self.sync_timeout)
            .field("default_retries", &self.default_retries)
            .field("clock", &self.clock)
            .finish()
    }
}

/// Identifier of a run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RunId(
    /// The id as the executor generated it (also sent to the SDK as `ctx.run_id`).
    pub String,
);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RunId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A function trigger as registered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Trigger {
    /// Runs on each event named `event`.
    Event {
        /// Event name, e.g. `autofix/fix.requested`.
        event: String,
        /// CEL filter the event must also match (the subset [`crate::expr`] evaluates).
        #[serde(skip_serializing_if = "Option::is_none")]
        expression: Option<String>,
    },
    /// Runs on a schedule (fired by [`crate::TestInngest::trigger_cron`], never by time).
    Cron {
        /// Cron expression, optionally `TZ=…` prefixed, as registered.
        cron: String,
        /// Jitter as registered; recorded, not applied.
        #[serde(skip_serializing_if = "Option::is_none")]
        jitter: Option<String>,
    },
}

/// One registered function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionDef {
    /// Composite id `<app>-<fn>`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Event and cron triggers, in registration order.
    pub triggers: Vec<Trigger>,
    /// `steps.step.retries.attempts` (a retry count) when the SDK sent one.
    pub retries: Option<u32>,
    /// `steps.step.runtime.url`, the URL calls go to.
    pub url: url::Url,
    /// The config object exactly as registered.
    pub raw: Value,
}

/// What an app registered on `POST /fn/register`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registration {
    /// The app id (`appName` of the register body).
    pub app_id: String,
    /// The serve URL the app registered.
    pub url: String,
    /// `sdk` field of the body (e.g. `js:v4.24.0`).
    pub sdk: String,
    /// `X-Inngest-SDK` header of the register request.
    pub sdk_header: Option<String>,
    /// `framework` field of the body (e.g. `axum`, `express`).
    pub framework: Option<String>,
    /// Functions the app registered.
    pub functions: Vec<FunctionDef>,
    /// The register body exactly as received.
    pub raw: Value,
}

impl Registration {
    /// The registered function with this composite id (`<app>-<fn>`).
    pub fn function(&self, composite_id: &str) -> Option<&FunctionDef> {
        self.functions.iter().find(|f| f.id == composite_id)
    }
}

/// State of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RunStatus {
    /// Has work queued or a call in flight.
    Running,
    /// Parked on a wait-for-event or an invoked run.
    Waiting,
    /// Finished with the function's return value.
    Completed(Value),
    /// Finished with an error (the SDK's error body, or the executor's reason).
    Failed(Value),
}

impl RunStatus {
    /// Completed or failed: nothing more will happen.
    pub fn is_finished(&self) -> bool {
        matches!(self, RunStatus::Completed(_) | RunStatus::Failed(_))
    }
}

/// A step whose result the executor stored (memoized).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// Hashed id.
    pub id: String,
    /// The op's `name` (user step id for `step.run`; `sendEvent`, the sleep
    /// duration or the awaited event name for other JS ops).
    pub name: Option<String>,
    /// The op's `displayName`, when the SDK sent one.
    pub display_name: Option<String>,
    /// Op that produced the memo: `StepRun`, `StepFailed`, `Sleep`, `WaitForEvent`, `InvokeFunction`.
    pub op: String,
    /// The memo value sent back in `steps` (`{"data":…}`, `{"error":…}`, `null`, an event).
    pub memo: Value,
    /// Calls made for this step, retries included (0 for async ops).
    pub attempts: u32,
}

/// One failed attempt that was retried or ended the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryRecord {
    /// `step` for function-level attempts, else the hashed step id.
    pub target: String,
    /// The attempt that failed (0-based).
    pub attempt: u32,
    /// HTTP status of the failed call; `None` for a transport failure.
    pub status: Option<u16>,
    /// Why the attempt failed (the error body's message, a timeout, a protocol violation).
    pub reason: String,
    /// `Retry-After` the SDK asked for; recorded, not waited for.
    pub retry_after: Option<Duration>,
    /// Whether another attempt was scheduled.
    pub retried: bool,
}

/// A `step.sleep` / `step.sleepUntil` the run asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SleepRecord {
    /// Hashed id of the sleep step.
    pub step_id: String,
    /// Duration or date as sent.
    pub until: String,
    /// Parsed duration when `until` is a time string.
    pub duration: Option<Duration>,
}

/// A `step.waitForEvent` the run asked for, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitRecord {
    /// Hashed id of the wait step.
    pub step_id: String,
    /// Name of the awaited event.
    pub event: String,
    /// The `if` match expression, as sent.
    pub if_expr: Option<String>,
    /// The timeout, as sent (a time string).
    pub timeout: Option<String>,
    /// Internal id of the event that resolved the wait; `None` = timed out.
    pub matched_event_id: Option<String>,
    /// An event resolved it, or it timed out; `false` while it is still pending.
    pub resolved: bool,
}

/// A `step.invoke` the run asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvokeRecord {
    /// Hashed id of the invoke step.
    pub step_id: String,
    /// Composite id of the invoked function.
    pub function_id: String,
    /// The child run started for it; `None` when the function is unknown.
    pub child_run: Option<RunId>,
}

/// Everything the executor knows about one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// Composite function id.
    pub fn_id: String,
    /// The triggering event as sent to the SDK.
    pub event: Value,
    /// Where the run is.
    pub status: RunStatus,
    /// HTTP calls made for this run.
    pub calls: u32,
    /// Calls per function attempt allowed: retries + 1.
    pub max_attempts: u32,
    /// Failed attempts (function- or step-level), in order.
    pub retries: Vec<RetryRecord>,
    /// Memoized steps in the order they were stored.
    pub steps: Vec<StepRecord>,
    /// Sleeps requested, in order.
    pub sleeps: Vec<SleepRecord>,
    /// Waits for events requested, in order.
    pub waits: Vec<WaitRecord>,
    /// Invocations requested, in order.
    pub invocations: Vec<InvokeRecord>,
    /// The run that invoked this one.
    pub parent: Option<RunId>,
    /// Whether a parallel group was ever planned (a 206 carried several ops).
    pub saw_parallel_group: bool,
}

impl RunRecord {
    /// The first memoized step whose op `name` or `displayName` is `name`.
    pub fn step(&self, name: &str) -> Option<&StepRecord> {
        self.steps
            .iter()
            .find(|s| s.name.as_deref() == Some(name) || s.display_name.as_deref() == Some(name))
    }

    /// The stored `data` of the step named `name`.
    pub fn step_output(&self, name: &str) -> Option<&Value> {
        self.step(name).and_then(|s| s.memo.get("data"))
    }

    /// The function's return value, once completed.
    pub fn output(&self) -> Option<&Value> {
        match &self.status {
            RunStatus::Completed(v) => Some(v),
            _ => None,
        }
    }

    /// The function's error, once failed.
    pub fn error(&self) -> Option<&Value> {
        match &self.status {
            RunStatus::Failed(v) => Some(v),
            _ => None,
        }
    }

    /// Name of the triggering event (`inngest/scheduled.timer` for cron runs).
    pub fn trigger_name(&self) -> Option<&str> {
        self.event.get("name").and_then(Value::as_str)
    }
}

/// What an exchange was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeKind {
    /// Executor → SDK `PUT` that triggers registration.
    Sync,
    /// SDK → executor `POST /fn/register`.
    Register,
    /// Executor → SDK function/step call.
    Call,
    /// SDK (or the test) → executor Event API.
    Event,
    /// SDK → executor anything else (run state API, checkpoints, unknown routes).
    Other,
}

/// The request half of an [`Exchange`], as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Absolute URL for outgoing requests, path and query for incoming ones.
    pub url: String,
    /// Lower-cased names; `authorization` values and event keys are redacted.
    pub headers: BTreeMap<String, String>,
    /// Parsed JSON body, or the text as a JSON string, or null when empty.
    pub body: Value,
    /// The body text as received (empty when there was none).
    pub raw_body: String,
}

/// The response half of an [`Exchange`], as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedResponse {
    /// HTTP status.
    pub status: u16,
    /// Lower-cased names, values as received (`X-Inngest-Signature` included).
    pub headers: BTreeMap<String, String>,
    /// Parsed JSON body, or the text as a JSON string, or null when empty.
    pub body: Value,
    /// The body text as received.
    pub raw_body: String,
}

/// One HTTP request/response between the SDK and the fake server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exchange {
    /// Order of completion, from 0, across every kind.
    pub seq: u64,
    /// What the exchange was.
    pub kind: ExchangeKind,
    /// The run a call belongs to.
    pub run_id: Option<RunId>,
    /// Composite function id of a call (`fnId` query value).
    pub fn_id: Option<String>,
    /// `stepId` query value of a call.
    pub step_id: Option<String>,
    /// `ctx.attempt` of a call (0-based).
    pub attempt: Option<u32>,
    /// What was sent.
    pub request: RecordedRequest,
    /// What came back; `None` on a transport failure.
    pub response: Option<RecordedResponse>,
    /// Transport error, or why the executor rejected the answer.
    pub error: Option<String>,
    /// Register / Event API: whether the credentials were accepted.
    pub auth_ok: Option<bool>,
    /// Cloud calls: whether the SDK's response carried a valid `X-Inngest-Signature`.
    pub response_signature_ok: Option<bool>,
}

impl Exchange {
    /// A response header by case-insensitive name.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response
            .as_ref()
            .and_then(|r| r.headers.get(&name.to_ascii_lowercase()))
            .map(String::as_str)
    }
}

/// Errors of the test executor.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("sync PUT to {url} failed: {detail}")]
    /// The sync `PUT` to the app could not be sent or answered (app not listening, timeout).
    SyncTransport {
        /// The serve URL.
        url: String,
        /// The HTTP client's error.
        detail: String,
    },
    /// The SDK answered the sync `PUT` with a non-2xx status.
    #[error("sync PUT to {url} answered {status}: {body}")]
    SyncRejected {
        /// The serve URL.
        url: String,
        /// The status it answered.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// The answer to the sync `PUT` did not come from an Inngest SDK.
    #[error("sync PUT answer has no X-Inngest-SDK header")]
    SyncNotSdk,
    /// The SDK answered the sync without calling `POST /fn/register`.
    #[error("the SDK answered the sync PUT without registering (no POST /fn/register)")]
    NoRegistration,
    /// The register body breaks the protocol; one message per problem.
    #[error("invalid registration: {}", .0.join("; "))]
    InvalidRegistration(Vec<String>),
    /// No registered function has this composite id.
    #[error("unknown function `{0}`")]
    UnknownFunction(String),
    /// The function has no cron trigger to fire.
    #[error("function `{0}` has no cron trigger")]
    NoCronTrigger(String),
    /// The event sent to the Event API is not a valid event (no `name`, not an object, …).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("run {run_id} exceeded {limit} calls")]
    /// One run made more calls than [`Options::max_calls`]: a looping SDK.
    CallLimit {
        /// The run.
        run_id: RunId,
        /// The limit it exceeded.
        limit: u32,
    },
    /// One `run_until_idle` made more calls than [`Options::max_total_calls`].
    #[error("run_until_idle exceeded {0} calls in total")]
    TotalCallLimit(u32),
    #[error("run {run_id}: protocol violation: {detail}")]
    /// The SDK answered a call with something the protocol does not allow.
    Protocol {
        /// The run.
        run_id: RunId,
        /// What was wrong with the answer.
        detail: String,
    },
    /// A trigger or wait expression could not be evaluated.
    #[error("run {run_id}: {source}")]
    Expression {
        /// The run whose event or wait it was.
        run_id: RunId,
        /// The parse or evaluation error.
        source: crate::ExprError,
    },
}
