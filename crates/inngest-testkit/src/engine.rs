//! The executor's state machine: events, runs, the work queue and how SDK
//! answers move a run forward. Pure over plain types — the HTTP side lives in
//! `lib.rs` (outgoing calls) and `server.rs` (incoming API requests).
//!
//! Scheduling mirrors the Go executor's queue closely enough to reproduce the
//! recorded exchanges: one FIFO queue of work items (a discovery call with
//! `stepId=step`, or a call for one planned step); each answer appends its
//! follow-up items at the back.

use crate::canonical::canonical_json;
use crate::duration::parse_time_str;
use crate::expr::{self, Expr, Scope};
use crate::flow::{self, FlowControl, SkippedRun};
use crate::ids::{now_ms, ulid};
use crate::model::{
    Exchange, ExchangeKind, ExecError, FunctionDef, InvokeRecord, Options, RecordedRequest,
    RecordedResponse, Registration, RetryRecord, RunId, RunRecord, RunStatus, SleepRecord,
    StepRecord, Trigger, WaitRecord,
};
use crate::sign;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

/// `stepId` of a discovery call.
pub(crate) const DISCOVERY: &str = "step";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Work {
    pub run: RunId,
    /// `step` or a hashed step id.
    pub target: String,
}

struct PendingWait {
    hash: String,
    name: Option<String>,
    display_name: Option<String>,
    event_name: String,
    expr: Option<Expr>,
    seq: u64,
    record: usize,
}

struct PendingInvoke {
    hash: String,
    name: Option<String>,
    display_name: Option<String>,
    child: RunId,
}

struct Run {
    rec: RunRecord,
    memo: Map<String, Value>,
    stack: Vec<String>,
    /// Planned steps not yet answered, in plan order.
    planned: Vec<String>,
    disable_immediate: bool,
    req_version: i64,
    /// Current attempt per work target.
    attempts: HashMap<String, u32>,
    waits: Vec<PendingWait>,
    invokes: Vec<PendingInvoke>,
    /// Index into `State::events` from which events may resolve this run's waits.
    first_event_index: usize,
    consumed_events: HashSet<usize>,
    /// The run's value of each of its function's concurrency keys, in limit order.
    slots: Vec<String>,
    /// Whether the run holds its concurrency slots: its next immediate step goes ahead of
    /// later runs' steps (Inngest scores an in-progress run's steps by its start time). A
    /// sleep, a wait, an invoke or a failed attempt waiting for its retry gives them up, as
    /// Inngest counts only executing steps: the run then queues for a slot like a new one.
    admitted: bool,
}

impl Run {
    /// Holds concurrency slots: started, not finished, and not parked on a wait or an invoke.
    fn holds_slots(&self) -> bool {
        self.admitted
            && !self.rec.status.is_finished()
            && self.waits.is_empty()
            && self.invokes.is_empty()
    }

    fn has_pending(&self) -> bool {
        !self.planned.is_empty() || !self.waits.is_empty() || !self.invokes.is_empty()
    }

    fn memoize(&mut self, hash: &str, memo: Value, op: &Value, op_name: &str, attempts: u32) {
        self.memo.insert(hash.to_string(), memo.clone());
        if !self.stack.iter().any(|h| h == hash) {
            self.stack.push(hash.to_string());
        }
        self.planned.retain(|h| h != hash);
        self.rec.steps.push(StepRecord {
            id: hash.to_string(),
            name: str_field(op, "name"),
            display_name: str_field(op, "displayName"),
            op: op_name.to_string(),
            memo,
            attempts,
        });
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

struct FnEntry {
    def: FunctionDef,
    /// Parsed `expression` per trigger (None = no filter or a cron trigger).
    exprs: Vec<Option<Expr>>,
    flow: FlowControl,
}

/// A failed attempt, as `fail_attempt` records it.
struct Failure {
    status: Option<u16>,
    reason: String,
    retry_after: Option<Duration>,
    /// The SDK sent `X-Inngest-No-Retry: true`.
    no_retry: bool,
    /// What the run fails with when no attempt is left.
    error: Value,
}

/// A call ready to be sent.
pub(crate) struct PreparedCall {
    pub work: Work,
    pub fn_id: String,
    pub attempt: u32,
    pub url: url::Url,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

/// What came back from a call.
pub(crate) enum CallOutcome {
    Transport(String),
    Response {
        status: u16,
        headers: BTreeMap<String, String>,
        body: String,
    },
}

/// Everything the fake server knows; guarded by one mutex, never held across I/O.
pub(crate) struct State {
    pub opts: Options,
    seq: u64,
    pub exchanges: Vec<Exchange>,
    pub events: Vec<Value>,
    dedupe: HashMap<String, String>,
    pub registrations: Vec<Registration>,
    functions: Vec<FnEntry>,
    /// Outcome of the latest `POST /fn/register`, taken by `sync`.
    pub last_register: Option<Result<Registration, Vec<String>>>,
    runs: Vec<Run>,
    run_index: HashMap<RunId, usize>,
    queue: VecDeque<Work>,
    wait_seq: u64,
    /// Start times (event `ts`, ms) of the runs within the rate-limit period, per function and key.
    rate_windows: HashMap<(String, String), VecDeque<u64>>,
    /// Events that matched a trigger but started no run.
    pub skipped: Vec<SkippedRun>,
}

impl State {
    pub fn new(opts: Options) -> Self {
        State {
            opts,
            seq: 0,
            exchanges: Vec::new(),
            events: Vec::new(),
            dedupe: HashMap::new(),
            registrations: Vec::new(),
            functions: Vec::new(),
            last_register: None,
            runs: Vec::new(),
            run_index: HashMap::new(),
            queue: VecDeque::new(),
            wait_seq: 0,
            rate_windows: HashMap::new(),
            skipped: Vec::new(),
        }
    }

    pub fn record(&mut self, mut ex: Exchange) {
        self.seq += 1;
        ex.seq = self.seq;
        self.exchanges.push(ex);
    }

    pub fn runs(&self) -> Vec<RunRecord> {
        self.runs.iter().map(|r| r.rec.clone()).collect()
    }

    pub fn run_state(&self, id: &RunId) -> Option<(Value, Map<String, Value>)> {
        let run = &self.runs[*self.run_index.get(id)?];
        Some((run.rec.event.clone(), run.memo.clone()))
    }

    /// Install a registration, replacing the functions an earlier sync of the
    /// same app registered. Returns whether anything changed.
    pub fn install(&mut self, reg: Registration) -> bool {
        let prefix = format!("{}-", reg.app_id);
        let before: Vec<&Value> = self
            .functions
            .iter()
            .filter(|f| f.def.id.starts_with(&prefix))
            .map(|f| &f.def.raw)
            .collect();
        let modified = before.len() != reg.functions.len()
            || before.iter().zip(&reg.functions).any(|(a, b)| **a != b.raw);
        self.functions.retain(|f| !f.def.id.starts_with(&prefix));
        for def in &reg.functions {
            let exprs = def
                .triggers
                .iter()
                .map(|t| match t {
                    // Validation already parsed every expression successfully.
                    Trigger::Event {
                        expression: Some(e),
                        ..
                    } => expr::parse(e).ok(),
                    _ => None,
                })
                .collect();
            self.functions.push(FnEntry {
                def: def.clone(),
                exprs,
                // Validation already refused flow control the executor cannot honour.
                flow: FlowControl::parse(&def.raw).unwrap_or_default(),
            });
        }
        self.registrations.retain(|r| r.app_id != reg.app_id);
        self.registrations.push(reg);
        modified
    }

    fn function(&self, id: &str) -> Option<&FnEntry> {
        self.functions.iter().find(|f| f.def.id == id)
    }

    /// Accept events as the Event API does; returns (event ids, runs created).
    pub fn ingest(&mut self, payload: &Value) -> Result<(Vec<String>, Vec<RunId>), String> {
        let items: Vec<&Value> = match payload {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![payload],
            _ => return Err("body must be an event object or an array of events".into()),
        };
        let mut normalized = Vec::with_capacity(items.len());
        for (i, ev) in items.iter().enumerate() {
            let name = ev.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                return Err(format!("event {i} has no name"));
            }
            let data = match ev.get("data") {
                None | Some(Value::Null) => json!({}),
                Some(d @ Value::Object(_)) => d.clone(),
                Some(_) => return Err(format!("event {i} (`{name}`): data must be an object")),
            };
            normalized.push((ev.get("id").and_then(Value::as_str).map(str::to_string), {
                let mut e = json!({
                    "id": ulid(),
                    "name": name,
                    "data": data,
                    "ts": ev.get("ts").and_then(Value::as_u64).unwrap_or_else(now_ms),
                    "user": ev.get("user").cloned().unwrap_or_else(|| json!({})),
                });
                if let Some(v) = ev.get("v") {
                    e["v"] = v.clone();
                }
                e
            }));
        }
        let mut ids = Vec::new();
        let mut runs = Vec::new();
        for (dedupe_key, event) in normalized {
            if let Some(key) = &dedupe_key
                && let Some(existing) = self.dedupe.get(key)
            {
                ids.push(existing.clone());
                continue;
            }
            let id = event["id"].as_str().unwrap_or_default().to_string();
            if let Some(key) = dedupe_key {
                self.dedupe.insert(key, id.clone());
            }
            ids.push(id);
            runs.extend(self.accept_event(event));
        }
        Ok((ids, runs))
    }

    /// Store one normalized event, start the runs it triggers and resolve waits.
    fn accept_event(&mut self, event: Value) -> Vec<RunId> {
        self.events.push(event.clone());
        let index = self.events.len() - 1;
        let name = event["name"].as_str().unwrap_or_default();
        let scope = Scope {
            event: Some(&event),
            async_: None,
        };
        let targets: Vec<String> = self
            .functions
            .iter()
            .filter(|f| {
                f.def.triggers.iter().zip(&f.exprs).any(|(t, e)| match t {
                    Trigger::Event { event: pat, .. } => {
                        event_name_matches(pat, name)
                            && e.as_ref().is_none_or(|e| expr::holds(e, &scope))
                    }
                    Trigger::Cron { .. } => false,
                })
            })
            .map(|f| f.def.id.clone())
            .collect();
        let mut created = Vec::new();
        for fn_id in &targets {
            if self.admit_rate(fn_id, &event) {
                created.push(self.create_run(fn_id, event.clone(), None));
            }
        }
        for r in 0..self.runs.len() {
            self.try_resolve_waits(r, Some(index));
        }
        created
    }

    /// Whether `rateLimit` lets `event` start a run of `fn_id`; records a skip when it does not.
    fn admit_rate(&mut self, fn_id: &str, event: &Value) -> bool {
        let Some(rate) = self.function(fn_id).and_then(|f| f.flow.rate_limit.clone()) else {
            return true;
        };
        let key = flow::key_of(rate.key.as_ref(), event);
        let ts = event["ts"].as_u64().unwrap_or_else(now_ms);
        let period_ms = u64::try_from(rate.period.as_millis()).unwrap_or(u64::MAX);
        let window = self
            .rate_windows
            .entry((fn_id.to_string(), key.clone()))
            .or_default();
        window.retain(|&started| started.saturating_add(period_ms) > ts);
        if window.len() >= rate.limit as usize {
            self.skipped.push(SkippedRun {
                fn_id: fn_id.to_string(),
                event: event.clone(),
                reason: "rate_limited".into(),
                key,
            });
            return false;
        }
        window.push_back(ts);
        true
    }

    /// Whether `work` may be called now: its run already holds its concurrency slots, or every
    /// limit of its function has a free slot for the run's key.
    fn may_run(&self, work: &Work) -> bool {
        let Some(&ri) = self.run_index.get(&work.run) else {
            return true;
        };
        let run = &self.runs[ri];
        if run.admitted || run.rec.status.is_finished() {
            return true;
        }
        let Some(entry) = self.function(&run.rec.fn_id) else {
            return true;
        };
        entry.flow.concurrency.iter().enumerate().all(|(i, limit)| {
            let busy = self
                .runs
                .iter()
                .filter(|r| {
                    r.rec.fn_id == run.rec.fn_id && r.holds_slots() && r.slots[i] == run.slots[i]
                })
                .count();
            busy < limit.limit as usize
        })
    }

    /// The first queued work that concurrency lets run; later runs of a busy key keep their
    /// place in the queue.
    fn take_runnable(&mut self) -> Option<Work> {
        let pos = self.queue.iter().position(|w| self.may_run(w))?;
        let work = self.queue.remove(pos)?;
        if let Some(&ri) = self.run_index.get(&work.run) {
            self.runs[ri].admitted = true;
        }
        Some(work)
    }

    pub fn trigger_cron(&mut self, fn_id: &str) -> Result<RunId, ExecError> {
        let entry = self
            .function(fn_id)
            .ok_or_else(|| ExecError::UnknownFunction(fn_id.to_string()))?;
        let cron = entry
            .def
            .triggers
            .iter()
            .find_map(|t| match t {
                Trigger::Cron { cron, .. } => Some(cron.clone()),
                _ => None,
            })
            .ok_or_else(|| ExecError::NoCronTrigger(fn_id.to_string()))?;
        let now = now_ms();
        let event = json!({
            "id": ulid(),
            "name": "inngest/scheduled.timer",
            "data": {"cron": cron, "scheduledAt": now, "fireAt": now},
            "ts": now,
            "user": {},
        });
        // Timer events belong to one function: stored, but not broadcast.
        self.events.push(event.clone());
        Ok(self.create_run(fn_id, event, None))
    }

    fn create_run(&mut self, fn_id: &str, event: Value, parent: Option<RunId>) -> RunId {
        let retries = self
            .function(fn_id)
            .and_then(|f| f.def.retries)
            .unwrap_or(self.opts.default_retries);
        let slots = self
            .function(fn_id)
            .map(|f| {
                f.flow
                    .concurrency
                    .iter()
                    .map(|c| flow::key_of(c.key.as_ref(), &event))
                    .collect()
            })
            .unwrap_or_default();
        let id = RunId(ulid());
        let run = Run {
            rec: RunRecord {
                id: id.clone(),
                fn_id: fn_id.to_string(),
                event,
                status: RunStatus::Running,
                calls: 0,
                max_attempts: retries + 1,
                retries: Vec::new(),
                steps: Vec::new(),
                sleeps: Vec::new(),
                waits: Vec::new(),
                invocations: Vec::new(),
                parent,
                saw_parallel_group: false,
            },
            memo: Map::new(),
            stack: Vec::new(),
            planned: Vec::new(),
            disable_immediate: false,
            req_version: -1,
            attempts: HashMap::new(),
            waits: Vec::new(),
            invokes: Vec::new(),
            first_event_index: self.events.len(),
            consumed_events: HashSet::new(),
            slots,
            admitted: false,
        };
        self.run_index.insert(id.clone(), self.runs.len());
        self.runs.push(run);
        self.queue.push_back(Work {
            run: id.clone(),
            target: DISCOVERY.to_string(),
        });
        id
    }

    /// The next call to make. When the queue is empty, time out the oldest
    /// wait-for-event (the executor is idle, so nothing else can satisfy it)
    /// and try again; `None` once nothing at all is left.
    pub fn next_call(&mut self) -> Result<Option<PreparedCall>, ExecError> {
        loop {
            if let Some(work) = self.take_runnable() {
                let Some(&ri) = self.run_index.get(&work.run) else {
                    continue;
                };
                if self.runs[ri].rec.status.is_finished() {
                    continue;
                }
                if self.runs[ri].rec.calls >= self.opts.max_calls {
                    let limit = self.opts.max_calls;
                    self.finish(
                        ri,
                        RunStatus::Failed(
                            json!({"error": format!("call limit of {limit} reached")}),
                        ),
                    );
                    return Err(ExecError::CallLimit {
                        run_id: work.run,
                        limit,
                    });
                }
                let fn_id = self.runs[ri].rec.fn_id.clone();
                let Some(url) = self.function(&fn_id).map(|f| f.def.url.clone()) else {
                    // A later sync dropped the function: the run cannot go on.
                    self.finish(
                        ri,
                        RunStatus::Failed(
                            json!({"error": format!("function `{fn_id}` is no longer registered")}),
                        ),
                    );
                    continue;
                };
                return Ok(Some(self.prepare(ri, work, url)));
            }
            if !self.time_out_oldest_wait() {
                // Only queued runs waiting for a slot are left, yet nothing holds one.
                if let Some(work) = self.queue.front() {
                    return Err(ExecError::Protocol {
                        run_id: work.run.clone(),
                        detail: "queued for a concurrency slot that nothing holds".into(),
                    });
                }
                return Ok(None);
            }
        }
    }

    fn prepare(&mut self, ri: usize, work: Work, mut url: url::Url) -> PreparedCall {
        let kind = self.opts.server_kind;
        let signing_key = self.opts.signing_key.clone();
        let run = &mut self.runs[ri];
        run.rec.calls += 1;
        let attempt = run.attempts.get(&work.target).copied().unwrap_or(0);
        let event = run.rec.event.clone();
        let body = json!({
            "event": event,
            "events": [event],
            "steps": run.memo,
            "ctx": {
                "run_id": run.rec.id.0,
                "attempt": attempt,
                "max_attempts": run.rec.max_attempts,
                "stack": {"stack": run.stack, "current": run.stack.len()},
                "disable_immediate_execution": run.disable_immediate,
                "use_api": false,
                "env": "",
                "step_id": work.target,
            },
            "version": run.req_version,
            "use_api": false,
            "defers": {},
        });
        let body = canonical_json(&body);
        let fn_id = run.rec.fn_id.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "fnId" && k != "stepId")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair("fnId", &fn_id)
            .append_pair("stepId", &work.target);
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("user-agent".to_string(), "inngest-testkit".to_string()),
            ("x-run-id".to_string(), run.rec.id.0.clone()),
            ("x-request-id".to_string(), ulid()),
            (
                "x-inngest-req-version".to_string(),
                run.req_version.to_string(),
            ),
            ("x-inngest-step-id".to_string(), work.target.clone()),
            (
                "x-inngest-server-kind".to_string(),
                kind.as_str().to_string(),
            ),
        ];
        if let Some(key) = signing_key {
            let ts = (now_ms() / 1000) as i64;
            headers.push((
                "x-inngest-signature".to_string(),
                sign::signature_header(body.as_bytes(), &key, ts),
            ));
        }
        PreparedCall {
            work,
            fn_id,
            attempt,
            url,
            body,
            headers,
        }
    }

    /// Record a finished call and move its run forward.
    pub fn apply(&mut self, call: PreparedCall, outcome: CallOutcome) -> Result<(), ExecError> {
        let ri = self.run_index[&call.work.run];
        let mut ex = Exchange {
            seq: 0,
            kind: ExchangeKind::Call,
            run_id: Some(call.work.run.clone()),
            fn_id: Some(call.fn_id.clone()),
            step_id: Some(call.work.target.clone()),
            attempt: Some(call.attempt),
            request: RecordedRequest {
                method: "POST".into(),
                url: call.url.to_string(),
                headers: call.headers.iter().cloned().collect(),
                body: serde_json::from_str(&call.body).unwrap_or(Value::Null),
                raw_body: call.body.clone(),
            },
            response: None,
            error: None,
            auth_ok: None,
            response_signature_ok: None,
        };
        let (status, headers, text) = match outcome {
            CallOutcome::Transport(e) => {
                ex.error = Some(e.clone());
                self.record(ex);
                self.fail_attempt(
                    ri,
                    &call,
                    Failure {
                        status: None,
                        reason: e.clone(),
                        retry_after: None,
                        no_retry: false,
                        error: json!({"error": e}),
                    },
                );
                return Ok(());
            }
            CallOutcome::Response {
                status,
                headers,
                body,
            } => (status, headers, body),
        };
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        if let Some(key) = &self.opts.signing_key {
            ex.response_signature_ok = Some(
                headers
                    .get("x-inngest-signature")
                    .is_some_and(|h| sign::verify_signature_header(h, text.as_bytes(), key)),
            );
        }
        ex.response = Some(RecordedResponse {
            status,
            headers: headers.clone(),
            body: body.clone(),
            raw_body: text.clone(),
        });
        let header = |k: &str| headers.get(k).map(String::as_str);
        let no_retry = header("x-inngest-no-retry") == Some("true");
        let retry_after = header("retry-after").and_then(parse_retry_after);

        if !headers.contains_key("x-inngest-sdk") {
            let reason = format!("{status} response has no X-Inngest-SDK header");
            ex.error = Some(reason.clone());
            self.record(ex);
            let err = if body.is_null() {
                json!({"error": reason})
            } else {
                body
            };
            self.fail_attempt(
                ri,
                &call,
                Failure {
                    status: Some(status),
                    reason,
                    retry_after: None,
                    no_retry: false,
                    error: err,
                },
            );
            return Ok(());
        }
        if let Some(v) = header("x-inngest-req-version").and_then(|v| v.parse::<i64>().ok()) {
            self.runs[ri].req_version = v;
        }
        self.record(ex);
        match status {
            200 => {
                self.reset_attempt(ri, &call.work.target);
                self.finish(ri, RunStatus::Completed(body));
                Ok(())
            }
            206 => self.apply_ops(ri, &call, body, no_retry, retry_after),
            s if (200..300).contains(&s) => Err(self.protocol(
                ri,
                format!("unsupported success status {s} (streaming is not implemented)"),
            )),
            s => {
                let reason = format!("SDK answered {s}");
                self.fail_attempt(
                    ri,
                    &call,
                    Failure {
                        status: Some(s),
                        reason,
                        retry_after,
                        no_retry,
                        error: body,
                    },
                );
                Ok(())
            }
        }
    }

    fn protocol(&mut self, ri: usize, detail: String) -> ExecError {
        let run_id = self.runs[ri].rec.id.clone();
        self.finish(
            ri,
            RunStatus::Failed(json!({"error": format!("protocol violation: {detail}")})),
        );
        ExecError::Protocol { run_id, detail }
    }

    fn reset_attempt(&mut self, ri: usize, target: &str) {
        self.runs[ri].attempts.remove(target);
    }

    /// A failed attempt: retry the same work item while attempts remain and
    /// the SDK did not forbid it, else fail the run.
    fn fail_attempt(&mut self, ri: usize, call: &PreparedCall, f: Failure) {
        let run = &mut self.runs[ri];
        let retried = !f.no_retry && call.attempt + 1 < run.rec.max_attempts;
        run.rec.retries.push(RetryRecord {
            target: call.work.target.clone(),
            attempt: call.attempt,
            status: f.status,
            reason: f.reason,
            retry_after: f.retry_after,
            retried,
        });
        if retried {
            run.attempts
                .insert(call.work.target.clone(), call.attempt + 1);
            // Inngest schedules a retry after a backoff and does not move it forward.
            run.admitted = false;
            self.queue.push_back(call.work.clone());
        } else {
            self.finish(ri, RunStatus::Failed(f.error));
        }
    }

    fn apply_ops(
        &mut self,
        ri: usize,
        call: &PreparedCall,
        body: Value,
        no_retry: bool,
        retry_after: Option<Duration>,
    ) -> Result<(), ExecError> {
        let ops = match body {
            Value::Array(a) => a,
            o @ Value::Object(_) => vec![o],
            other => return Err(self.protocol(ri, format!("206 body is not opcodes: {other}"))),
        };
        if ops.is_empty() {
            return Err(self.protocol(ri, "206 with no opcodes".into()));
        }
        for op in &ops {
            let ok = op
                .get("op")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
                && op
                    .get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty());
            if !ok {
                return Err(self.protocol(ri, format!("opcode without `op` or `id`: {op}")));
            }
        }
        let target = call.work.target.clone();
        if target != DISCOVERY {
            let op = &ops[0];
            let name = op["op"].as_str().unwrap_or_default();
            if ops.len() != 1
                || op["id"].as_str() != Some(target.as_str())
                || !matches!(name, "StepRun" | "StepError" | "StepFailed")
            {
                let summary: Vec<String> = ops
                    .iter()
                    .map(|o| {
                        format!(
                            "{}:{}",
                            o["op"].as_str().unwrap_or(""),
                            o["id"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                return Err(self.protocol(
                    ri,
                    format!(
                        "call for step {target} answered with [{}]",
                        summary.join(", ")
                    ),
                ));
            }
        }
        if let Some(op) = ops.iter().find(|op| {
            op["op"] != "None"
                && self.runs[ri]
                    .memo
                    .contains_key(op["id"].as_str().unwrap_or(""))
        }) {
            // A memoized step must be replayed from `steps`, never reported again.
            return Err(self.protocol(
                ri,
                format!(
                    "{} reported for already memoized step {}",
                    op["op"], op["id"]
                ),
            ));
        }
        if ops.len() > 1 {
            let run = &mut self.runs[ri];
            run.disable_immediate = true;
            run.rec.saw_parallel_group = true;
        }
        let mut retry_scheduled = false;
        for op in &ops {
            let hash = op["id"].as_str().unwrap_or_default().to_string();
            let op_name = op["op"].as_str().unwrap_or_default();
            match op_name {
                "StepRun" | "Step" => {
                    let data = op.get("data").cloned().unwrap_or(Value::Null);
                    self.runs[ri].memoize(
                        &hash,
                        json!({"data": data}),
                        op,
                        "StepRun",
                        call.attempt + 1,
                    );
                    self.reset_attempt(ri, &target);
                }
                "StepError" | "StepFailed" => {
                    let error = op.get("error").cloned().unwrap_or(Value::Null);
                    let message = error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("step error")
                        .to_string();
                    let run = &mut self.runs[ri];
                    let retry = op_name == "StepError"
                        && !no_retry
                        && call.attempt + 1 < run.rec.max_attempts;
                    run.rec.retries.push(RetryRecord {
                        target: target.clone(),
                        attempt: call.attempt,
                        status: Some(206),
                        reason: format!("{op_name} {hash}: {message}"),
                        retry_after,
                        retried: retry,
                    });
                    if retry {
                        run.attempts.insert(target.clone(), call.attempt + 1);
                        run.admitted = false;
                        self.queue.push_back(call.work.clone());
                        retry_scheduled = true;
                    } else {
                        run.memoize(
                            &hash,
                            json!({"error": error}),
                            op,
                            "StepFailed",
                            call.attempt + 1,
                        );
                        self.reset_attempt(ri, &target);
                    }
                }
                "StepPlanned" => {
                    let run = &mut self.runs[ri];
                    if !run.memo.contains_key(&hash) && !run.planned.contains(&hash) {
                        run.planned.push(hash.clone());
                        self.queue.push_back(Work {
                            run: run.rec.id.clone(),
                            target: hash,
                        });
                    }
                }
                "Sleep" => {
                    let until = op
                        .pointer("/opts/duration")
                        .and_then(Value::as_str)
                        .or_else(|| op.get("name").and_then(Value::as_str))
                        .unwrap_or_default()
                        .to_string();
                    let duration = parse_time_str(&until);
                    let run = &mut self.runs[ri];
                    if let Some(clock) = &self.opts.clock
                        && !run.memo.contains_key(&hash)
                    {
                        advance_for_sleep(clock, duration, &until);
                    }
                    // A sleeping run holds no slot; it queues for one when it wakes.
                    run.admitted = false;
                    run.rec.sleeps.push(SleepRecord {
                        step_id: hash.clone(),
                        duration,
                        until,
                    });
                    run.memoize(&hash, Value::Null, op, "Sleep", 0);
                }
                "WaitForEvent" => self.add_wait(ri, &hash, op)?,
                "InvokeFunction" => self.add_invoke(ri, &hash, op),
                "RunComplete" => {
                    let data = op.get("data").cloned().unwrap_or(Value::Null);
                    self.finish(ri, RunStatus::Completed(data));
                    return Ok(());
                }
                "None" => {}
                other => {
                    return Err(self.protocol(ri, format!("unsupported opcode `{other}`")));
                }
            }
            if self.runs[ri].rec.status.is_finished() {
                return Ok(());
            }
        }
        if !retry_scheduled {
            self.continue_if_unblocked(ri);
        }
        Ok(())
    }

    /// Queue a discovery call once nothing is pending, ending a parallel group.
    fn continue_if_unblocked(&mut self, ri: usize) {
        let run = &mut self.runs[ri];
        if run.rec.status.is_finished() {
            return;
        }
        if run.has_pending() {
            if run.planned.is_empty() {
                run.rec.status = RunStatus::Waiting;
            }
            return;
        }
        run.disable_immediate = false;
        run.rec.status = RunStatus::Running;
        self.queue.push_back(Work {
            run: run.rec.id.clone(),
            target: DISCOVERY.to_string(),
        });
    }

    fn add_wait(&mut self, ri: usize, hash: &str, op: &Value) -> Result<(), ExecError> {
        let event_name = op
            .pointer("/opts/event")
            .and_then(Value::as_str)
            .or_else(|| op.get("name").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string();
        let if_src = op
            .pointer("/opts/if")
            .and_then(Value::as_str)
            .map(str::to_string);
        let expr = match &if_src {
            Some(src) => match expr::parse(src) {
                Ok(e) => Some(e),
                Err(source) => {
                    let run_id = self.runs[ri].rec.id.clone();
                    self.finish(ri, RunStatus::Failed(json!({"error": source.to_string()})));
                    return Err(ExecError::Expression { run_id, source });
                }
            },
            None => None,
        };
        self.wait_seq += 1;
        let run = &mut self.runs[ri];
        if run.waits.iter().any(|w| w.hash == hash) || run.memo.contains_key(hash) {
            return Ok(());
        }
        run.admitted = false;
        run.rec.waits.push(WaitRecord {
            step_id: hash.to_string(),
            event: event_name.clone(),
            if_expr: if_src,
            timeout: op
                .pointer("/opts/timeout")
                .and_then(Value::as_str)
                .map(str::to_string),
            matched_event_id: None,
            resolved: false,
        });
        run.waits.push(PendingWait {
            hash: hash.to_string(),
            name: str_field(op, "name"),
            display_name: str_field(op, "displayName"),
            event_name,
            expr,
            seq: self.wait_seq,
            record: run.rec.waits.len() - 1,
        });
        self.try_resolve_waits(ri, None);
        Ok(())
    }

    /// Resolve the run's waits with a matching event: the one at `only` or, for
    /// a new wait, any event received since the run started and not yet used.
    fn try_resolve_waits(&mut self, ri: usize, only: Option<usize>) {
        if self.runs[ri].waits.is_empty() || self.runs[ri].rec.status.is_finished() {
            return;
        }
        let candidates: Vec<usize> = match only {
            Some(i) => vec![i],
            None => (self.runs[ri].first_event_index..self.events.len()).collect(),
        };
        let mut resolved_any = false;
        let mut w = 0;
        while w < self.runs[ri].waits.len() {
            let run = &self.runs[ri];
            let wait = &run.waits[w];
            let hit = candidates.iter().copied().find(|&i| {
                let ev = &self.events[i];
                i >= run.first_event_index
                    && !run.consumed_events.contains(&i)
                    && ev["name"].as_str() == Some(wait.event_name.as_str())
                    && wait.expr.as_ref().is_none_or(|e| {
                        expr::holds(
                            e,
                            &Scope {
                                event: Some(&run.rec.event),
                                async_: Some(ev),
                            },
                        )
                    })
            });
            match hit {
                Some(i) => {
                    let event = self.events[i].clone();
                    let run = &mut self.runs[ri];
                    let wait = run.waits.remove(w);
                    run.consumed_events.insert(i);
                    let rec = &mut run.rec.waits[wait.record];
                    rec.resolved = true;
                    rec.matched_event_id = event["id"].as_str().map(str::to_string);
                    let op = json!({"name": wait.name, "displayName": wait.display_name});
                    run.memoize(&wait.hash, event, &op, "WaitForEvent", 0);
                    resolved_any = true;
                }
                None => w += 1,
            }
        }
        if resolved_any {
            self.continue_if_unblocked(ri);
        }
    }

    /// Time out the wait created first, as the clock would once the executor
    /// has nothing else to do. Returns false when no wait is pending.
    fn time_out_oldest_wait(&mut self) -> bool {
        let oldest = self
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.rec.status.is_finished())
            .flat_map(|(ri, r)| {
                r.waits
                    .iter()
                    .enumerate()
                    .map(move |(wi, w)| (w.seq, ri, wi))
            })
            .min();
        let Some((_, ri, wi)) = oldest else {
            return false;
        };
        let run = &mut self.runs[ri];
        let wait = run.waits.remove(wi);
        run.rec.waits[wait.record].resolved = true;
        if let Some(clock) = &self.opts.clock
            && let Some(timeout) = run.rec.waits[wait.record]
                .timeout
                .as_deref()
                .and_then(parse_time_str)
        {
            clock.advance(timeout);
        }
        let op = json!({"name": wait.name, "displayName": wait.display_name});
        run.memoize(&wait.hash, Value::Null, &op, "WaitForEvent", 0);
        self.continue_if_unblocked(ri);
        true
    }

    fn add_invoke(&mut self, ri: usize, hash: &str, op: &Value) {
        if self.runs[ri].memo.contains_key(hash)
            || self.runs[ri].invokes.iter().any(|i| i.hash == hash)
        {
            return;
        }
        let function_id = op
            .pointer("/opts/function_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if self.function(&function_id).is_none() {
            let run = &mut self.runs[ri];
            run.rec.invocations.push(InvokeRecord {
                step_id: hash.to_string(),
                function_id: function_id.clone(),
                child_run: None,
            });
            let error = json!({"error": {"name": "Error", "message": format!("could not find function `{function_id}` to invoke")}});
            run.memoize(hash, error, op, "InvokeFunction", 0);
            return;
        }
        let payload = op.pointer("/opts/payload").cloned().unwrap_or(Value::Null);
        let now = now_ms();
        let event = json!({
            "id": ulid(),
            "name": "inngest/function.invoked",
            "data": payload.get("data").cloned().unwrap_or_else(|| json!({})),
            "ts": now,
            "user": payload.get("user").cloned().unwrap_or_else(|| json!({})),
        });
        self.events.push(event.clone());
        let parent = self.runs[ri].rec.id.clone();
        let child = self.create_run(&function_id, event, Some(parent));
        let run = &mut self.runs[ri];
        run.rec.invocations.push(InvokeRecord {
            step_id: hash.to_string(),
            function_id,
            child_run: Some(child.clone()),
        });
        run.admitted = false;
        run.invokes.push(PendingInvoke {
            hash: hash.to_string(),
            name: str_field(op, "name"),
            display_name: str_field(op, "displayName"),
            child,
        });
    }

    /// End a run: emit the lifecycle events Inngest emits and resume an invoker.
    fn finish(&mut self, ri: usize, status: RunStatus) {
        if self.runs[ri].rec.status.is_finished() {
            return;
        }
        self.runs[ri].rec.status = status.clone();
        let rec = self.runs[ri].rec.clone();
        let now = now_ms();
        let (finished_data, resume) = match &status {
            RunStatus::Completed(out) => (
                json!({"function_id": rec.fn_id, "run_id": rec.id.0, "result": out, "event": rec.event}),
                json!({"data": out}),
            ),
            RunStatus::Failed(err) => (
                json!({"function_id": rec.fn_id, "run_id": rec.id.0, "error": err, "event": rec.event}),
                json!({"error": err}),
            ),
            _ => unreachable!("finish is only called with a final status"),
        };
        if let RunStatus::Failed(err) = &status {
            self.accept_event(json!({
                "id": ulid(), "name": "inngest/function.failed", "ts": now, "user": {},
                "data": {"function_id": rec.fn_id, "run_id": rec.id.0, "error": err, "event": rec.event},
            }));
        }
        self.accept_event(json!({
            "id": ulid(), "name": "inngest/function.finished", "ts": now, "user": {},
            "data": finished_data,
        }));
        let Some(parent) = rec.parent else { return };
        let Some(&pi) = self.run_index.get(&parent) else {
            return;
        };
        let prun = &mut self.runs[pi];
        if let Some(pos) = prun.invokes.iter().position(|i| i.child == rec.id) {
            let inv = prun.invokes.remove(pos);
            let op = json!({"name": inv.name, "displayName": inv.display_name});
            prun.memoize(&inv.hash, resume, &op, "InvokeFunction", 0);
            self.continue_if_unblocked(pi);
        }
    }
}

/// Exact match, or a `prefix/*` wildcard.
fn event_name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// `Retry-After`: up to 7 characters = seconds, otherwise an HTTP or RFC 3339
/// date; clamped to 1 s..24 h as the server does.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    let secs = if v.len() <= 7 {
        v.parse::<u64>().ok()?
    } else {
        use time::format_description::well_known::{Rfc2822, Rfc3339};
        let at = time::OffsetDateTime::parse(v, &Rfc3339)
            .or_else(|_| time::OffsetDateTime::parse(v, &Rfc2822))
            .or_else(|_| time::OffsetDateTime::parse(&v.replace("GMT", "+0000"), &Rfc2822))
            .ok()?;
        let delta = at - time::OffsetDateTime::now_utc();
        delta.whole_seconds().max(0) as u64
    };
    Some(Duration::from_secs(secs.clamp(1, 86_400)))
}

/// Move the simulated clock to the end of a sleep: by its duration, or to its date.
fn advance_for_sleep(clock: &crate::VirtualClock, duration: Option<Duration>, until: &str) {
    if let Some(d) = duration {
        clock.advance(d);
        return;
    }
    let date = time::OffsetDateTime::parse(until, &time::format_description::well_known::Rfc3339);
    if let Ok(date) = date {
        let ms = i64::try_from(date.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let ahead = ms.saturating_sub(clock.now_ms());
        if ahead > 0 {
            clock.advance(Duration::from_millis(ahead as u64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("0"), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after("9999999"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(parse_retry_after("soon"), None);
        let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
        let rfc3339 = later
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let d = parse_retry_after(&rfc3339).unwrap();
        assert!(
            d > Duration::from_secs(590) && d <= Duration::from_secs(600),
            "{d:?}"
        );
        assert!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT").is_some());
    }

    #[test]
    fn wildcard_event_names() {
        assert!(event_name_matches("app/*", "app/x"));
        assert!(event_name_matches("app/x", "app/x"));
        assert!(!event_name_matches("app/x", "app/y"));
    }
}
