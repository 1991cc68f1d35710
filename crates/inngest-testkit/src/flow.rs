//! Flow control applied when an event starts a run, with the semantics of Inngest's executor:
//!
//! - `rateLimit {limit, period, key}`: at most `limit` runs start per `period` for each value of
//!   `key`; an event beyond that starts no run and is recorded as a [`SkippedRun`] (rate-limited
//!   events are dropped, not queued). The period is measured on the events' `ts`, so a test can
//!   send events hours apart without waiting.
//! - `concurrency [{limit, key}]`: at most `limit` runs of the function make progress at once for
//!   each value of `key`; a further run queues (its calls wait in order) until one gives its slot
//!   up (an in-progress run's steps go first, as Inngest scores them by the run's start). A run
//!   parked on `waitForEvent` or `invoke`, sleeping, or waiting for the retry of a failed attempt
//!   holds no slot, as in Inngest, where only executing steps count; it queues for a slot again
//!   behind the runs already waiting. At most two limits per function, as Inngest accepts.
//!
//! Keys are CEL expressions over `event` in the subset of [`crate::expr`]; no key means one slot
//! set for the whole function, and so does a key whose field the event lacks (Inngest evaluates
//! it to `false`, one shared value; here it is `null`). Only the function scope (`scope: "fn"`, the default) is modelled;
//! registering another scope, or a key outside the subset, fails the sync.

use crate::duration::parse_time_str;
use crate::expr::{self, Expr, Scope};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// Most concurrency limits one function may register (`MaxConcurrencyLimits` in Inngest's
/// `pkg/consts/consts.go`; registration fails beyond it).
const MAX_CONCURRENCY_LIMITS: usize = 2;

/// One concurrency limit of a function.
#[derive(Debug, Clone)]
pub(crate) struct ConcurrencyLimit {
    pub limit: u32,
    pub key: Option<Expr>,
}

/// The rate limit of a function.
#[derive(Debug, Clone)]
pub(crate) struct RateLimit {
    pub limit: u32,
    pub period: Duration,
    pub key: Option<Expr>,
}

/// The flow control a function registered.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlowControl {
    pub concurrency: Vec<ConcurrencyLimit>,
    pub rate_limit: Option<RateLimit>,
}

/// An event that matched a function's trigger but started no run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedRun {
    /// Composite function id.
    pub fn_id: String,
    /// The event that was not run.
    pub event: Value,
    /// Why: `rate_limited`.
    pub reason: String,
    /// The evaluated flow-control key.
    pub key: String,
}

fn key_expr(v: &Value, what: &str) -> Result<Option<Expr>, String> {
    match v.get("key") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(k)) => expr::parse(k)
            .map(Some)
            .map_err(|e| format!("{what}.key: {e}")),
        Some(other) => Err(format!("{what}.key must be a string, got {other}")),
    }
}

fn limit(v: &Value, what: &str) -> Result<u32, String> {
    v.get("limit")
        .and_then(Value::as_u64)
        .filter(|n| *n >= 1)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("{what}.limit must be a positive integer"))
}

fn check_scope(v: &Value, what: &str) -> Result<(), String> {
    match v.get("scope").and_then(Value::as_str) {
        None | Some("fn") => Ok(()),
        Some(other) => Err(format!(
            "{what}.scope `{other}` is not modelled by the test executor (only `fn`)"
        )),
    }
}

impl FlowControl {
    /// Reads `concurrency` (an integer, an object or a list of objects) and `rateLimit` from a
    /// function's registered config.
    pub fn parse(config: &Value) -> Result<Self, String> {
        let mut flow = FlowControl::default();
        let entries: Vec<&Value> = match config.get("concurrency") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().collect(),
            Some(one) => vec![one],
        };
        if entries.len() > MAX_CONCURRENCY_LIMITS {
            return Err(format!(
                "concurrency has {} limits; Inngest accepts at most {MAX_CONCURRENCY_LIMITS} per function",
                entries.len()
            ));
        }
        for (i, entry) in entries.into_iter().enumerate() {
            let what = format!("concurrency[{i}]");
            let limit = match entry {
                Value::Number(_) => entry
                    .as_u64()
                    .filter(|n| *n >= 1)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("{what} must be a positive integer"))?,
                _ => {
                    check_scope(entry, &what)?;
                    limit(entry, &what)?
                }
            };
            let key = if entry.is_object() {
                key_expr(entry, &what)?
            } else {
                None
            };
            flow.concurrency.push(ConcurrencyLimit { limit, key });
        }
        if let Some(r) = config.get("rateLimit").filter(|v| !v.is_null()) {
            let period = r
                .get("period")
                .and_then(Value::as_str)
                .and_then(parse_time_str)
                .filter(|p| !p.is_zero())
                .ok_or("rateLimit.period must be a time string such as `4h`")?;
            flow.rate_limit = Some(RateLimit {
                limit: limit(r, "rateLimit")?,
                period,
                key: key_expr(r, "rateLimit")?,
            });
        }
        Ok(flow)
    }
}

/// The value of a key for `event`: strings as they are, anything else as JSON text; no key is
/// the empty string (one bucket for the function).
pub(crate) fn key_of(key: Option<&Expr>, event: &Value) -> String {
    let Some(key) = key else {
        return String::new();
    };
    let scope = Scope {
        event: Some(event),
        async_: None,
    };
    match expr::eval(key, &scope) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_registered_form() {
        let flow = FlowControl::parse(&json!({
            "concurrency": [{"limit": 1, "key": "event.data.repo"}, {"limit": 5}],
            "rateLimit": {"limit": 1, "period": "4h", "key": "event.data.repo + '-' + event.data.fp"},
        }))
        .unwrap();
        assert_eq!(flow.concurrency.len(), 2);
        assert_eq!(flow.concurrency[1].limit, 5);
        let rate = flow.rate_limit.unwrap();
        assert_eq!(rate.period, Duration::from_secs(4 * 3600));
        let ev = json!({"data": {"repo": "acme/api", "fp": "f1"}});
        assert_eq!(key_of(rate.key.as_ref(), &ev), "acme/api-f1");
        assert_eq!(key_of(flow.concurrency[0].key.as_ref(), &ev), "acme/api");
        assert_eq!(key_of(None, &ev), "");
        // Events without the key's field share one value (one slot), distinct from real values.
        let key = expr::parse("event.data.target_key").unwrap();
        let cron = json!({"data": {"cron": "*/10 * * * *"}});
        assert_eq!(
            key_of(Some(&key), &cron),
            key_of(Some(&key), &json!({"data": {}}))
        );
        assert_ne!(
            key_of(Some(&key), &cron),
            key_of(Some(&key), &json!({"data": {"target_key": "p/e"}}))
        );

        let flow = FlowControl::parse(&json!({"concurrency": 2})).unwrap();
        assert_eq!(flow.concurrency[0].limit, 2);
        assert!(FlowControl::parse(&json!({})).unwrap().rate_limit.is_none());
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for (config, needle) in [
            (
                json!({"concurrency": [{"limit": 0}]}),
                "concurrency[0].limit",
            ),
            (
                json!({"concurrency": [{"limit": 1}, {"limit": 2, "key": "'a'"}, {"limit": 3, "key": "'b'"}]}),
                "at most 2 per function",
            ),
            (
                json!({"concurrency": {"limit": 1, "scope": "account", "key": "'x'"}}),
                "scope `account`",
            ),
            (
                json!({"rateLimit": {"limit": 1, "period": "soon"}}),
                "rateLimit.period",
            ),
            (
                json!({"rateLimit": {"limit": 1, "period": "1h", "key": "size(event.data)"}}),
                "rateLimit.key",
            ),
        ] {
            let err = FlowControl::parse(&config).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }
}
