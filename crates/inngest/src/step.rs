//! Durable steps: `step.run`, `step.send_event`, `step.sleep`, `step.wait_for_event`,
//! `step.invoke`.
//!
//! Every call replays the user function from the top. A step whose hashed id is in the
//! request's memo resolves at once; a new step registers itself with the run state and stays
//! pending until the executor in `exec.rs` decides to run it in this request or to report it.
//! Because the decision happens only once the whole user future is pending, steps raced with
//! `futures::join!` or `join_all` are all discovered in the same request (a parallel group).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use sha1::{Digest as _, Sha1};

use crate::error::Retry;
use crate::{Client, Error, Event};

/// What a handler receives: the triggering event (typed), the batch, run metadata and steps.
pub struct Ctx<E> {
    /// The triggering event (first of `events`).
    pub event: Event<E>,
    /// All events of the run (more than one for batches).
    pub events: Vec<Event>,
    /// The run id.
    pub run_id: String,
    /// 0-based attempt of the current step/queue item.
    pub attempt: u32,
    /// Step tools.
    pub step: Step,
}

/// Options of [`Step::wait_for_event`].
#[derive(Clone, Debug)]
pub struct WaitForEvent {
    /// Event name to wait for.
    pub event: String,
    /// How long to wait; the step resolves to `None` afterwards.
    pub timeout: Duration,
    /// CEL match expression; `event` is the run's trigger, `async` the candidate.
    pub if_expr: Option<String>,
}

/// Options of [`Step::invoke`].
#[derive(Clone, Debug)]
pub struct Invoke {
    /// Plain id of a function in this app, or a composite id of another app's function.
    pub function_id: String,
    /// `data` of the `inngest/function.invoked` event the callee receives.
    pub data: Value,
    /// How long to wait for the callee (server default: 1 year).
    pub timeout: Option<Duration>,
}

/// Step tools of one run. Cheap to clone; clones share the run state.
#[derive(Clone)]
pub struct Step {
    pub(crate) inner: Arc<StepInner>,
}

#[allow(
    clippy::large_enum_variant,
    reason = "always behind an `Arc`, built once per request: the size difference costs nothing"
)]
pub(crate) enum StepInner {
    Durable(Mutex<RunState>),
    Inline(crate::inline::InlineStep),
}

/// Lowercase hex SHA-1 of a user step id, as the executor expects step ids.
pub fn hash_step_id(id: &str) -> String {
    hex::encode(Sha1::digest(id.as_bytes()))
}

/// An opcode object of a 206 answer.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct Op {
    pub id: String,
    pub op: &'static str,
    pub name: String,
    #[serde(rename = "displayName")]
    pub display_name: String,
    pub opts: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    pub userland: Userland,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct Userland {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// The result of running one step body in this request.
#[derive(Debug)]
pub(crate) struct Executed {
    pub op: Op,
    /// `Some` for StepError/StepFailed: decides `X-Inngest-No-Retry` and `Retry-After`.
    pub retry: Option<Retry>,
}

pub(crate) struct RunState {
    memo: HashMap<String, Value>,
    used: HashSet<String>,
    /// Per user id, the index its next use starts probing at: every lower index is taken, so a
    /// run that repeats one id N times hashes O(N) ids, not O(N²), on each replay.
    next_index: HashMap<String, u32>,
    target: Option<String>,
    allow_immediate: bool,
    pub(crate) found: Vec<Op>,
    /// Every new op of this request by hash, including a targeted one (which is not "found").
    new_ops: HashMap<String, Op>,
    wakers: HashMap<String, Waker>,
    pub(crate) parked: usize,
    pub(crate) run_now: Option<String>,
    pub(crate) running: bool,
    pub(crate) executed: Option<Executed>,
    attempt: u32,
    max_attempts: u32,
    client: Client,
    local_functions: Arc<HashSet<String>>,
    step_timeout: Option<Duration>,
}

pub(crate) struct RunStateInit {
    pub memo: HashMap<String, Value>,
    pub target: Option<String>,
    pub allow_immediate: bool,
    pub attempt: u32,
    pub max_attempts: u32,
    pub client: Client,
    pub local_functions: Arc<HashSet<String>>,
    pub step_timeout: Option<Duration>,
}

impl RunState {
    pub(crate) fn new(init: RunStateInit) -> RunState {
        // A redelivered call may target a step that is already memoized; replaying it as
        // discovery moves the run on instead of failing with "step not found".
        let target = init.target.filter(|t| !init.memo.contains_key(t));
        RunState {
            memo: init.memo,
            used: HashSet::new(),
            next_index: HashMap::new(),
            target,
            allow_immediate: init.allow_immediate,
            found: Vec::new(),
            new_ops: HashMap::new(),
            wakers: HashMap::new(),
            parked: 0,
            run_now: None,
            running: false,
            executed: None,
            attempt: init.attempt,
            max_attempts: init.max_attempts.max(1),
            client: init.client,
            local_functions: init.local_functions,
            step_timeout: init.step_timeout,
        }
    }

    pub(crate) fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    pub(crate) fn allow_immediate(&self) -> bool {
        self.allow_immediate && self.target.is_none()
    }

    /// Marks the single found run-type step for execution and wakes its future.
    pub(crate) fn start(&mut self, hash: &str) {
        self.run_now = Some(hash.to_owned());
        if let Some(w) = self.wakers.remove(hash) {
            w.wake();
        }
    }

    /// Assigns the hashed id (with the `:n` suffix for repeats) and looks up the memo.
    fn claim(&mut self, id: &str) -> (String, Option<u32>, Option<Value>) {
        let hash_at = |index: u32| match index {
            0 => hash_step_id(id),
            n => hash_step_id(&format!("{id}:{n}")),
        };
        let mut index = self.next_index.get(id).copied().unwrap_or(0);
        let mut hash = hash_at(index);
        while self.used.contains(&hash) {
            index += 1;
            hash = hash_at(index);
        }
        self.next_index.insert(id.to_owned(), index + 1);
        self.used.insert(hash.clone());
        let memo = self.memo.remove(&hash);
        (hash, (index > 0).then_some(index), memo)
    }

    /// Records a new step: parked in targeted calls, reported otherwise.
    fn discover(&mut self, op: Op) {
        self.new_ops.insert(op.id.clone(), op.clone());
        if self.target.as_deref() == Some(op.id.as_str()) {
            return;
        }
        if self.target.is_some() {
            self.parked += 1;
        } else {
            self.found.push(op);
        }
    }

    fn may_run(&self, hash: &str) -> bool {
        self.target.as_deref() == Some(hash) || self.run_now.as_deref() == Some(hash)
    }

    fn finish(&mut self, mut op: Op, result: Result<Value, Error>) {
        self.running = false;
        let result =
            result.and_then(|v| crate::limits::check_step_output(&op.userland.id, &v).map(|()| v));
        match result {
            Ok(data) => {
                op.op = "StepRun";
                op.data = Some(data);
                self.executed = Some(Executed { op, retry: None });
            }
            Err(e) => {
                let final_attempt = self.attempt + 1 >= self.max_attempts;
                let retry = if e.is_retriable() && !final_attempt {
                    op.op = "StepError";
                    e.retry()
                } else {
                    op.op = "StepFailed";
                    Retry::NonRetriable
                };
                op.error = Some(e.to_json());
                self.executed = Some(Executed {
                    op,
                    retry: Some(retry),
                });
            }
        }
    }
}

/// The error of a step whose body ran past its time budget.
fn step_timed_out(id: &str, budget: Duration) -> Error {
    Error::retriable(format!(
        "step {id:?} ran past its time budget of {} and was stopped; it will be retried",
        format_duration(budget)
    ))
    .with_name("StepTimeout")
}

/// How a new step is described on the wire.
struct OpTemplate {
    op: &'static str,
    name: Option<String>,
    opts: Value,
}

enum Claim {
    Memo(Value),
    New(String),
}

impl Step {
    pub(crate) fn durable(state: RunState) -> Step {
        Step {
            inner: Arc::new(StepInner::Durable(Mutex::new(state))),
        }
    }

    fn lock(state: &Mutex<RunState>) -> MutexGuard<'_, RunState> {
        // A panic inside user code never happens while this lock is held.
        state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn claim(state: &Mutex<RunState>, id: &str, template: OpTemplate) -> Claim {
        let mut st = Self::lock(state);
        let (hash, index, memo) = st.claim(id);
        if let Some(m) = memo {
            return Claim::Memo(m);
        }
        let op = Op {
            id: hash.clone(),
            op: template.op,
            name: template.name.unwrap_or_else(|| id.to_owned()),
            display_name: id.to_owned(),
            opts: template.opts,
            data: None,
            error: None,
            userland: Userland {
                id: id.to_owned(),
                index,
            },
        };
        st.discover(op);
        Claim::New(hash)
    }

    /// Runs `f` once per run: the result is memoized by Inngest and replayed afterwards.
    ///
    /// Errors are retried per the function's retry policy; once a step has failed for good,
    /// replays get a non-retriable error back.
    ///
    /// The returned future does not borrow `id`, so ids built with `format!` work inside
    /// `join_all(... .map(..))`.
    pub fn run<'a, T, Fut, F>(
        &'a self,
        id: &str,
        f: F,
    ) -> impl Future<Output = Result<T, Error>> + use<'a, T, Fut, F>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        self.run_owned(id.to_owned(), f)
    }

    async fn run_owned<T, Fut, F>(&self, id: String, f: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let id = id.as_str();
        let value = self
            .run_value(id, None, json!({}), async move {
                let out = f().await?;
                serde_json::to_value(&out).map_err(|e| {
                    Error::non_retriable(format!("output of step {id:?} does not serialize: {e}"))
                })
            })
            .await?;
        decode(id, value)
    }

    /// Sends events as a memoized step; resolves to the event ids (`{"ids":[..]}` on the wire).
    pub fn send_event<'a>(
        &'a self,
        id: &str,
        events: Vec<Event>,
    ) -> impl Future<Output = Result<Vec<String>, Error>> + use<'a> {
        self.send_event_owned(id.to_owned(), events)
    }

    async fn send_event_owned(&self, id: String, events: Vec<Event>) -> Result<Vec<String>, Error> {
        let id = id.as_str();
        if let StepInner::Inline(inline) = &*self.inner {
            return inline.send_event(id, events);
        }
        let client = match &*self.inner {
            StepInner::Durable(state) => Self::lock(state).client.clone(),
            StepInner::Inline(_) => unreachable!("handled above"),
        };
        let value = self
            .run_value(
                id,
                Some("sendEvent".into()),
                json!({"type": "step.sendEvent"}),
                async move {
                    crate::limits::check_events(id, &events)?;
                    let ids = client
                        .send(&events)
                        .await
                        .map_err(|e| e.into_step_error())?;
                    Ok(json!({ "ids": ids }))
                },
            )
            .await?;
        #[derive(serde::Deserialize)]
        struct Ids {
            ids: Vec<String>,
        }
        decode::<Ids>(id, value).map(|i| i.ids)
    }

    async fn run_value(
        &self,
        id: &str,
        name: Option<String>,
        opts: Value,
        body: impl Future<Output = Result<Value, Error>>,
    ) -> Result<Value, Error> {
        // Step outputs are stored by Inngest and sent back on every later call: no secret may
        // be in them, and the run sees the same redacted value first time and on replay.
        let body = async move {
            body.await.map(|mut v| {
                redact::redact_json(&mut v);
                v
            })
        };
        let state = match &*self.inner {
            StepInner::Inline(inline) => return inline.run(id, body).await,
            StepInner::Durable(state) => state,
        };
        let template = OpTemplate {
            op: "StepPlanned",
            name,
            opts,
        };
        let hash = match Self::claim(state, id, template) {
            Claim::Memo(m) => return unwrap_run_memo(m),
            Claim::New(hash) => hash,
        };
        Permit { state, hash: &hash }.await;
        let (op, budget) = {
            let mut st = Self::lock(state);
            st.running = true;
            let op = st
                .new_ops
                .get(&hash)
                .cloned()
                .expect("claim registered every new op");
            (op, st.step_timeout)
        };
        tracing::debug!(step.id = %hash, step.name = %id, "running step");
        let result = match budget {
            None => body.await,
            // Past the budget the step fails retriably, with SDK headers and a message, instead
            // of the connection being cut by a proxy or server timeout that Inngest cannot read.
            Some(budget) => tokio::time::timeout(budget, body)
                .await
                .unwrap_or_else(|_| Err(step_timed_out(id, budget))),
        };
        Self::lock(state).finish(op, result);
        // The executor answers with the step's result; this replay ends here.
        std::future::pending().await
    }

    /// Pauses the run for `d` (no-op when run inline).
    pub fn sleep<'a>(
        &'a self,
        id: &str,
        d: Duration,
    ) -> impl Future<Output = Result<(), Error>> + use<'a> {
        self.sleep_owned(id.to_owned(), d)
    }

    async fn sleep_owned(&self, id: String, d: Duration) -> Result<(), Error> {
        let id = id.as_str();
        let state = match &*self.inner {
            StepInner::Inline(inline) => return inline.record(id, Value::Null),
            StepInner::Durable(state) => state,
        };
        let duration = format_duration(d);
        let template = OpTemplate {
            op: "Sleep",
            name: Some(duration.clone()),
            opts: json!({ "duration": duration }),
        };
        match Self::claim(state, id, template) {
            Claim::Memo(_) => Ok(()),
            Claim::New(_) => std::future::pending().await,
        }
    }

    /// Waits for a matching event; `None` after the timeout (always `None` inline).
    pub fn wait_for_event<'a>(
        &'a self,
        id: &str,
        opts: WaitForEvent,
    ) -> impl Future<Output = Result<Option<Event>, Error>> + use<'a> {
        self.wait_for_event_owned(id.to_owned(), opts)
    }

    async fn wait_for_event_owned(
        &self,
        id: String,
        opts: WaitForEvent,
    ) -> Result<Option<Event>, Error> {
        let id = id.as_str();
        let state = match &*self.inner {
            StepInner::Inline(inline) => return inline.record(id, Value::Null).map(|()| None),
            StepInner::Durable(state) => state,
        };
        let mut o = json!({ "event": opts.event, "timeout": format_duration(opts.timeout) });
        if let Some(expr) = &opts.if_expr {
            o["if"] = Value::String(expr.clone());
        }
        let template = OpTemplate {
            op: "WaitForEvent",
            name: Some(opts.event.clone()),
            opts: o,
        };
        match Self::claim(state, id, template) {
            Claim::Memo(Value::Null) => Ok(None),
            Claim::Memo(m) => {
                let m = match m {
                    Value::Object(mut obj) if obj.len() == 1 && obj.contains_key("data") => {
                        obj.remove("data").unwrap_or(Value::Null)
                    }
                    other => other,
                };
                if m.is_null() {
                    return Ok(None);
                }
                decode::<Event>(id, m).map(Some)
            }
            Claim::New(_) => std::future::pending().await,
        }
    }

    /// Invokes another function and waits for its result.
    pub fn invoke<'a, T: DeserializeOwned>(
        &'a self,
        id: &str,
        opts: Invoke,
    ) -> impl Future<Output = Result<T, Error>> + use<'a, T> {
        self.invoke_owned(id.to_owned(), opts)
    }

    async fn invoke_owned<T: DeserializeOwned>(
        &self,
        id: String,
        opts: Invoke,
    ) -> Result<T, Error> {
        let id = id.as_str();
        let state = match &*self.inner {
            StepInner::Inline(inline) => {
                let v = inline.invoke(id, opts).await?;
                return decode(id, v);
            }
            StepInner::Durable(state) => state,
        };
        let function_id = {
            let st = Self::lock(state);
            if st.local_functions.contains(&opts.function_id) {
                st.client.config().composite_id(&opts.function_id)
            } else {
                opts.function_id.clone()
            }
        };
        let mut o = json!({ "function_id": function_id, "payload": { "data": opts.data } });
        if let Some(t) = opts.timeout {
            o["timeout"] = Value::String(format_duration(t));
        }
        let template = OpTemplate {
            op: "InvokeFunction",
            name: None,
            opts: o,
        };
        match Self::claim(state, id, template) {
            Claim::Memo(m) => decode(id, unwrap_run_memo(m)?),
            Claim::New(_) => std::future::pending().await,
        }
    }
}

/// `{"data": X}` → X, `{"error": E}` → a final error, anything else as is.
fn unwrap_run_memo(m: Value) -> Result<Value, Error> {
    match m {
        Value::Object(mut obj) if obj.len() == 1 && obj.contains_key("data") => {
            Ok(obj.remove("data").unwrap_or(Value::Null))
        }
        Value::Object(obj) if obj.len() == 1 && obj.contains_key("error") => {
            Err(Error::from_memo(&obj["error"]))
        }
        other => Ok(other),
    }
}

fn decode<T: DeserializeOwned>(id: &str, v: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        Error::non_retriable(format!(
            "memoized output of step {id:?} does not match its type at `{}`: {}",
            e.path(),
            e.inner()
        ))
    })
}

/// Resolves once the executor allows the step `hash` to run in this request.
struct Permit<'a> {
    state: &'a Mutex<RunState>,
    hash: &'a str,
}

impl Future for Permit<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = Step::lock(self.state);
        if st.may_run(self.hash) {
            Poll::Ready(())
        } else {
            st.wakers.insert(self.hash.to_owned(), cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Inngest time string: `1h30m`, `45s`, or `250ms` for sub-second precision.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return format!("{}ms", d.as_millis().max(1));
    }
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Parses the memo map of a call request, dropping `{"input": ..}` entries (not yet run).
pub(crate) fn parse_memo(steps: Map<String, Value>) -> HashMap<String, Value> {
    steps
        .into_iter()
        .filter(|(_, v)| !matches!(v, Value::Object(o) if o.len() == 1 && o.contains_key("input")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_vectors() {
        assert_eq!(
            hash_step_id("my-step-id"),
            "e7d8a2f140845095749d60246ff1110c9d01d76a"
        );
        assert_eq!(
            hash_step_id("first"),
            "e0996a37c13d44c3b06074939d43fa3759bd32c1"
        );
        assert_eq!(
            hash_step_id("same:1"),
            "c1023fa587daa4753ff5868c7e4bdbd03defda7d"
        );
        assert_eq!(
            hash_step_id("same:2"),
            "e48d666a39ba11b45ba1301e5228396678a2ad06"
        );
        assert_eq!(
            hash_step_id("load-project"),
            "fbabb6be90b6aa3d8fe814efa27b811b4f5e6ead"
        );
    }

    #[test]
    fn repeated_ids_get_the_smallest_free_index_like_a_full_probe() {
        let client = Client::new(
            crate::Config::dev("app", url::Url::parse("http://127.0.0.1:9/").unwrap()),
            reqwest::Client::new(),
        );
        let mut st = RunState::new(RunStateInit {
            memo: HashMap::new(),
            target: None,
            allow_immediate: false,
            attempt: 0,
            max_attempts: 1,
            client,
            local_functions: Arc::default(),
            step_timeout: None,
        });
        // A user id that looks like a repeat ("a:1") takes that hash first; the repeats of "a"
        // step over it, exactly as probing from 0 each time would.
        let ids = ["a", "a:1", "a", "b", "a", "a:3", "a", "b"];
        let mut naive_used = HashSet::new();
        for id in ids {
            let (hash, index, _) = st.claim(id);
            let mut i = 0u32;
            let mut want = hash_step_id(id);
            while naive_used.contains(&want) {
                i += 1;
                want = hash_step_id(&format!("{id}:{i}"));
            }
            naive_used.insert(want.clone());
            assert_eq!((hash, index), (want, (i > 0).then_some(i)), "{id}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(
            format_duration(Duration::from_secs(2 * 86_400 + 3600)),
            "2d1h"
        );
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn memo_shapes() {
        assert_eq!(unwrap_run_memo(json!({"data": 1})).unwrap(), json!(1));
        assert_eq!(unwrap_run_memo(Value::Null).unwrap(), Value::Null);
        let e = unwrap_run_memo(json!({"error": {"name":"Error","message":"m"}})).unwrap_err();
        assert!(!e.is_retriable());
        let memo = parse_memo(
            json!({"a": {"data": 1}, "b": {"input": [1]}, "c": null})
                .as_object()
                .cloned()
                .unwrap(),
        );
        assert!(memo.contains_key("a") && memo.contains_key("c") && !memo.contains_key("b"));
    }
}
