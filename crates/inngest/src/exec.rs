//! Runs one call request: replays the user function against the memo and decides what to
//! answer (function result, one executed step, or the newly found steps).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::function::{RawCtx, ServableFunction};
use crate::step::{Executed, Op, RunState, RunStateInit, Step, StepInner, parse_memo};
use crate::{Client, Error, Event};

/// The request body of a call, as sent by the executor (fields we do not use are ignored).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CallRequest {
    #[serde(default)]
    pub event: Value,
    #[serde(default)]
    pub events: Vec<Value>,
    #[serde(default)]
    pub steps: Option<Map<String, Value>>,
    #[serde(default)]
    pub ctx: CallCtx,
    #[serde(default)]
    pub use_api: bool,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CallCtx {
    #[serde(default)]
    pub run_id: String,
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub disable_immediate_execution: bool,
    #[serde(default)]
    pub use_api: bool,
}

/// What a call ended with.
#[derive(Debug)]
pub(crate) enum CallOutcome {
    /// The function returned or threw.
    Done(Result<Value, Error>),
    /// One step body ran in this request.
    Step(Executed),
    /// New steps to report (planned run-steps and async ops).
    Ops(Vec<Op>),
    /// A `stepId`-targeted call never reached that step.
    TargetNotFound(String),
}

pub(crate) struct CallInput {
    pub request: CallRequest,
    /// Hashed step id from `stepId`, `None` for `step` (discovery).
    pub target: Option<String>,
    /// Longest one step body may run in this call (see [`crate::ServeOptions::step_timeout`]).
    pub step_timeout: Option<std::time::Duration>,
}

/// Replays `function` for one call.
pub(crate) async fn execute(
    function: &ServableFunction,
    client: &Client,
    local_functions: Arc<HashSet<String>>,
    input: CallInput,
) -> CallOutcome {
    let CallInput {
        request,
        target,
        step_timeout,
    } = input;
    let memo: HashMap<String, Value> = parse_memo(request.steps.unwrap_or_default());
    let events: Vec<Event> = request
        .events
        .iter()
        .filter_map(|e| serde_json::from_value(e.clone()).ok())
        .collect();
    let event = if request.event.is_null() {
        request.events.first().cloned().unwrap_or(Value::Null)
    } else {
        request.event
    };
    let state = RunState::new(RunStateInit {
        memo,
        target,
        allow_immediate: !request.ctx.disable_immediate_execution,
        attempt: request.ctx.attempt,
        max_attempts: request
            .ctx
            .max_attempts
            .filter(|m| *m > 0)
            .unwrap_or_else(|| function.max_attempts()),
        client: client.clone(),
        local_functions,
        step_timeout,
    });
    let step = Step::durable(state);
    let inner = step.inner.clone();
    let fut = function.call(RawCtx {
        event,
        events,
        run_id: request.ctx.run_id,
        attempt: request.ctx.attempt,
        step,
    });
    drive(fut, inner).await
}

/// Polls the user future; see the module docs of `step.rs` for the protocol.
fn drive(
    mut fut: futures::future::BoxFuture<'static, Result<Value, Error>>,
    inner: Arc<StepInner>,
) -> impl Future<Output = CallOutcome> + Send {
    std::future::poll_fn(move |cx| {
        let StepInner::Durable(state) = &*inner else {
            unreachable!("durable driver over an inline step")
        };
        loop {
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            match polled {
                Err(panic) => {
                    let msg = panic_message(panic.as_ref());
                    return Poll::Ready(CallOutcome::Done(Err(Error::retriable(format!(
                        "function panicked: {msg}"
                    ))
                    .with_name("Panic"))));
                }
                Ok(Poll::Ready(Ok(_))) if st.target().is_some() => {
                    let target = st.target().unwrap_or_default().to_owned();
                    return Poll::Ready(CallOutcome::TargetNotFound(target));
                }
                Ok(Poll::Ready(result)) => return Poll::Ready(CallOutcome::Done(result)),
                Ok(Poll::Pending) => {}
            }
            if let Some(executed) = st.executed.take() {
                return Poll::Ready(CallOutcome::Step(executed));
            }
            if st.running {
                return Poll::Pending;
            }
            if let Some(target) = st.target() {
                if st.parked > 0 {
                    return Poll::Ready(CallOutcome::TargetNotFound(target.to_owned()));
                }
                // Pending on the user's own I/O before any step: keep waiting.
                return Poll::Pending;
            }
            if st.found.is_empty() {
                return Poll::Pending;
            }
            let single_run_step = st.found.len() == 1 && st.found[0].op == "StepPlanned";
            if single_run_step && st.allow_immediate() && st.run_now.is_none() {
                let hash = st.found[0].id.clone();
                st.start(&hash);
                drop(st);
                continue;
            }
            return Poll::Ready(CallOutcome::Ops(std::mem::take(&mut st.found)));
        }
    })
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}
