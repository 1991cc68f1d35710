//! In-process execution without durability, for dry runs (`autofix check`) and tests.
//!
//! `step.run` executes at once (its output still goes through JSON, as it would when
//! memoized), `send_event` records the events and routes them to matching functions,
//! `sleep` is skipped, `wait_for_event` times out at once and `invoke` runs the callee inline.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::event::{FUNCTION_INVOKED_EVENT, SCHEDULED_TIMER_EVENT};
use crate::function::{RawCtx, TriggerKind};
use crate::step::{Invoke, Step, StepInner};
use crate::{Error, Event, ServableFunction};

/// One function run executed inline.
#[derive(Clone, Debug)]
pub struct InlineRun {
    /// Plain function id.
    pub function_id: String,
    /// The triggering event.
    pub event: Event,
    /// The function's output or error.
    pub output: Result<Value, Error>,
    /// Steps in execution order: user step id (`id:n` for repeats) and its output
    /// (`{"error": ..}` for a failed step, `null` for sleeps and timed-out waits).
    pub steps: Vec<(String, Value)>,
    /// Events sent with `step.send_event`.
    pub sent: Vec<Event>,
}

/// Runs functions in-process; see the module docs.
pub struct InlineRunner {
    shared: Arc<Shared>,
    max_depth: usize,
}

struct Shared {
    functions: Vec<ServableFunction>,
    next_event_id: AtomicUsize,
    next_run_id: AtomicUsize,
    /// Runs started by `step.invoke`, collected by the runner after each top-level run.
    invoked: Mutex<Vec<InlineRun>>,
}

/// Default limit of send-event hops (and invoke nesting).
pub const DEFAULT_MAX_DEPTH: usize = 8;

impl InlineRunner {
    /// A runner over `functions`.
    pub fn new(functions: Vec<ServableFunction>) -> Self {
        InlineRunner {
            shared: Arc::new(Shared {
                functions,
                next_event_id: AtomicUsize::new(0),
                next_run_id: AtomicUsize::new(0),
                invoked: Mutex::new(Vec::new()),
            }),
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }

    /// Limits how many send-event hops are followed (default [`DEFAULT_MAX_DEPTH`]).
    pub fn with_max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Runs every function `event` triggers, then every function their sent events trigger,
    /// breadth first, up to the depth limit; returns one record per run (invoked runs
    /// follow the run that invoked them).
    pub async fn run(&self, event: Event) -> Vec<InlineRun> {
        let mut records = Vec::new();
        let mut queue = VecDeque::from([(event, 0usize)]);
        while let Some((event, depth)) = queue.pop_front() {
            if depth > self.max_depth {
                tracing::warn!(event = %event.name, depth, "inline run depth limit reached; event not routed");
                continue;
            }
            for function in self
                .shared
                .functions
                .iter()
                .filter(|f| triggers_on(f, &event))
            {
                let run =
                    run_one(self.shared.clone(), function.clone(), event.clone(), depth).await;
                let invoked: Vec<InlineRun> = std::mem::take(
                    &mut *self
                        .shared
                        .invoked
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()),
                );
                for r in std::iter::once(run).chain(invoked) {
                    queue.extend(r.sent.iter().cloned().map(|e| (e, depth + 1)));
                    records.push(r);
                }
            }
        }
        records
    }
}

fn run_one(
    shared: Arc<Shared>,
    function: ServableFunction,
    event: Event,
    depth: usize,
) -> BoxFuture<'static, InlineRun> {
    Box::pin(async move {
        let n = shared.next_run_id.fetch_add(1, Ordering::Relaxed);
        let inline = InlineStep {
            shared: shared.clone(),
            depth,
            state: Mutex::new(InlineState::default()),
        };
        let step = Step {
            inner: Arc::new(StepInner::Inline(inline)),
        };
        let fut = function.call(RawCtx {
            event: serde_json::to_value(&event).unwrap_or(Value::Null),
            events: vec![event.clone()],
            run_id: format!("inline-run-{n}"),
            attempt: 0,
            step: step.clone(),
        });
        let output = match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(out) => out,
            Err(_) => Err(
                Error::retriable(format!("function {:?} panicked", function.id()))
                    .with_name("Panic"),
            ),
        };
        let StepInner::Inline(inline) = &*step.inner else {
            unreachable!("built as inline above")
        };
        let state = std::mem::take(&mut *inline.lock());
        InlineRun {
            function_id: function.id().to_owned(),
            event,
            output,
            steps: state.steps,
            sent: state.sent,
        }
    })
}

fn triggers_on(function: &ServableFunction, event: &Event) -> bool {
    function.triggers().iter().any(|t| match t.kind() {
        TriggerKind::Event {
            event: name,
            expression,
        } => {
            name == &event.name
                && match expression {
                    None => true,
                    Some(expr) => match eval_simple(expr, event) {
                        Some(b) => b,
                        None => {
                            tracing::debug!(
                                function = function.id(),
                                expr,
                                "expression not evaluated inline; skipping"
                            );
                            false
                        }
                    },
                }
        }
        TriggerKind::Cron { cron, .. } => {
            event.name == SCHEDULED_TIMER_EVENT
                && event
                    .data
                    .get("cron")
                    .and_then(Value::as_str)
                    .is_none_or(|c| c == cron)
        }
    })
}

/// Evaluates `a == b`, `a != b` clauses joined by `&&`, where operands are `event.name`,
/// `event.data.<path>` or JSON/single-quoted literals. `None` when the expression uses
/// anything else.
pub(crate) fn eval_simple(expr: &str, event: &Event) -> Option<bool> {
    let mut result = true;
    for clause in expr.split("&&") {
        let (lhs, rhs, negate) = if let Some((l, r)) = clause.split_once("==") {
            (l, r, false)
        } else if let Some((l, r)) = clause.split_once("!=") {
            (l, r, true)
        } else {
            return None;
        };
        let equal = operand(lhs.trim(), event)? == operand(rhs.trim(), event)?;
        result &= equal != negate;
    }
    Some(result)
}

fn operand(s: &str, event: &Event) -> Option<Value> {
    if s == "event.name" {
        return Some(Value::String(event.name.clone()));
    }
    if let Some(path) = s.strip_prefix("event.data.") {
        let mut v = &event.data;
        for part in path.split('.') {
            if part.is_empty() || !part.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return None;
            }
            v = v.get(part).unwrap_or(&Value::Null);
        }
        return Some(v.clone());
    }
    if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(Value::String(inner.to_owned()));
    }
    match serde_json::from_str::<Value>(s) {
        Ok(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null)) => Some(v),
        _ => None,
    }
}

#[derive(Default)]
struct InlineState {
    counts: HashMap<String, u32>,
    steps: Vec<(String, Value)>,
    sent: Vec<Event>,
}

pub(crate) struct InlineStep {
    shared: Arc<Shared>,
    depth: usize,
    state: Mutex<InlineState>,
}

impl InlineStep {
    fn lock(&self) -> std::sync::MutexGuard<'_, InlineState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unique_id(&self, id: &str) -> String {
        let mut st = self.lock();
        let n = st.counts.entry(id.to_owned()).or_insert(0);
        let unique = if *n == 0 {
            id.to_owned()
        } else {
            format!("{id}:{n}")
        };
        *n += 1;
        unique
    }

    pub(crate) async fn run(
        &self,
        id: &str,
        body: impl Future<Output = Result<Value, Error>>,
    ) -> Result<Value, Error> {
        let unique = self.unique_id(id);
        // The durable path checks the same limit when the step finishes.
        let out = body
            .await
            .and_then(|v| crate::limits::check_step_output(id, &v).map(|()| v));
        let recorded = match &out {
            Ok(v) => v.clone(),
            Err(e) => json!({ "error": e.to_json() }),
        };
        self.lock().steps.push((unique, recorded));
        out
    }

    pub(crate) fn record(&self, id: &str, value: Value) -> Result<(), Error> {
        let unique = self.unique_id(id);
        self.lock().steps.push((unique, value));
        Ok(())
    }

    pub(crate) fn send_event(&self, id: &str, events: Vec<Event>) -> Result<Vec<String>, Error> {
        let unique = self.unique_id(id);
        if let Err(e) = crate::limits::check_events(id, &events) {
            self.lock()
                .steps
                .push((unique, json!({ "error": e.to_json() })));
            return Err(e);
        }
        if let Some(bad) = events.iter().find(|e| !e.data.is_object()) {
            return Err(Error::non_retriable(format!(
                "data of event {:?} must be a JSON object",
                bad.name
            )));
        }
        let ids: Vec<String> = events
            .iter()
            .map(|_| {
                let n = self.shared.next_event_id.fetch_add(1, Ordering::Relaxed);
                format!("inline-{n}")
            })
            .collect();
        let mut st = self.lock();
        st.steps.push((unique, json!({ "ids": ids })));
        st.sent
            .extend(events.into_iter().zip(&ids).map(|(mut e, id)| {
                e.id.get_or_insert_with(|| id.clone());
                e
            }));
        Ok(ids)
    }

    pub(crate) async fn invoke(&self, id: &str, opts: Invoke) -> Result<Value, Error> {
        let unique = self.unique_id(id);
        let target = self
            .shared
            .functions
            .iter()
            .find(|f| {
                f.id() == opts.function_id || opts.function_id.ends_with(&format!("-{}", f.id()))
            })
            .cloned()
            .ok_or_else(|| {
                Error::non_retriable(format!(
                    "invoked function {:?} is not served by this app",
                    opts.function_id
                ))
            })?;
        if self.depth >= DEFAULT_MAX_DEPTH * 4 {
            return Err(Error::non_retriable("inline invoke nesting too deep"));
        }
        let event = Event::new(FUNCTION_INVOKED_EVENT, opts.data)?;
        let run = run_one(self.shared.clone(), target, event, self.depth + 1).await;
        let output = run.output.clone();
        self.shared
            .invoked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(run);
        let recorded = match &output {
            Ok(v) => v.clone(),
            Err(e) => json!({ "error": e.to_json() }),
        };
        self.lock().steps.push((unique, recorded));
        // The callee's failure is final for the caller, as with a memoized invoke error.
        output.map_err(|e| Error::non_retriable(e.message().to_owned()).with_name(e.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_expressions() {
        let e = Event::new("a", json!({"force": true, "p": {"id": "x"}, "n": 3})).unwrap();
        assert_eq!(eval_simple("event.data.force == true", &e), Some(true));
        assert_eq!(
            eval_simple("event.data.p.id == 'x' && event.data.n == 3", &e),
            Some(true)
        );
        assert_eq!(eval_simple("event.data.n != 3", &e), Some(false));
        assert_eq!(eval_simple("event.data.missing == null", &e), Some(true));
        assert_eq!(eval_simple("event.data.n > 2", &e), None);
        assert_eq!(eval_simple("size(event.data.p) == 1", &e), None);
    }
}
