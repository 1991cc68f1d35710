//! Function definitions: triggers, flow control and the handler.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::ConfigError;
use crate::step::{Ctx, Step};
use crate::{Error, Event};

/// What starts a function: an event (optionally filtered) or a cron schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Trigger {
    kind: TriggerKind,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TriggerKind {
    Event {
        event: String,
        expression: Option<String>,
    },
    Cron {
        cron: String,
        jitter: Option<String>,
    },
}

impl Trigger {
    /// Runs on every event named `name`.
    pub fn event(name: &str) -> Trigger {
        Trigger {
            kind: TriggerKind::Event {
                event: name.to_owned(),
                expression: None,
            },
        }
    }

    /// Runs on a 5-field cron schedule, optionally prefixed with `TZ=<zone> ` or
    /// `CRON_TZ=<zone> `. Seconds fields and `@daily`-style descriptors are refused (the
    /// Inngest server rejects them at sync).
    pub fn cron(expr: &str) -> Result<Trigger, ConfigError> {
        validate_cron(expr)?;
        Ok(Trigger {
            kind: TriggerKind::Cron {
                cron: expr.trim().to_owned(),
                jitter: None,
            },
        })
    }

    /// Adds a CEL filter to an event trigger, e.g. `event.data.force == true`.
    /// Ignored on cron triggers.
    pub fn expression(mut self, expr: &str) -> Trigger {
        if let TriggerKind::Event { expression, .. } = &mut self.kind {
            *expression = Some(expr.to_owned());
        }
        self
    }

    /// Adds a random delay (`30s`, up to `5m`) to a cron trigger. Ignored on event triggers.
    pub fn jitter(mut self, period: &str) -> Trigger {
        if let TriggerKind::Cron { jitter, .. } = &mut self.kind {
            *jitter = Some(period.to_owned());
        }
        self
    }

    pub(crate) fn kind(&self) -> &TriggerKind {
        &self.kind
    }

    fn to_json(&self) -> Value {
        match &self.kind {
            TriggerKind::Event { event, expression } => {
                let mut v = json!({ "event": event });
                if let Some(e) = expression {
                    v["expression"] = json!(e);
                }
                v
            }
            TriggerKind::Cron { cron, jitter } => {
                let mut v = json!({ "cron": cron });
                if let Some(j) = jitter {
                    v["jitter"] = json!(j);
                }
                v
            }
        }
    }
}

/// IANA zone and link names: the Inngest server resolves `TZ=` with Go's time zone database,
/// which knows exactly these (the file says which tzdata release and how to regenerate it).
const TZ_NAMES: &str = include_str!("tz_names.txt");

fn is_known_time_zone(zone: &str) -> bool {
    TZ_NAMES
        .lines()
        .filter(|l| !l.starts_with('#'))
        .any(|name| name == zone)
}

fn validate_cron(expr: &str) -> Result<(), ConfigError> {
    parse_cron(expr).map(|_| ())
}

/// The most runs `expr` (Inngest cron syntax, as [`Trigger::cron`] accepts it) starts within one
/// clock hour: the minutes it matches, in any hour it matches at all. What a per-hour budget
/// (Railway's API limit) must allow for.
pub fn cron_runs_per_hour(expr: &str) -> Result<usize, ConfigError> {
    Ok(parse_cron(expr)?.pattern.minutes.values().len())
}

fn parse_cron(expr: &str) -> Result<croner::Cron, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidCron {
        expr: expr.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = expr.trim();
    if trimmed.len() > 255 {
        return Err(invalid("longer than 255 characters"));
    }
    let mut rest = trimmed;
    for prefix in ["TZ=", "CRON_TZ="] {
        if let Some(r) = trimmed.strip_prefix(prefix) {
            let (zone, after) = r
                .split_once(char::is_whitespace)
                .ok_or_else(|| invalid("time zone prefix without a schedule"))?;
            let zone_ok = !zone.is_empty()
                && zone
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
            if !zone_ok {
                return Err(invalid("malformed time zone name"));
            }
            if !is_known_time_zone(zone) {
                return Err(invalid(&format!(
                    "unknown time zone `{zone}`; use an IANA name such as UTC or Europe/Berlin"
                )));
            }
            rest = after.trim();
        }
    }
    if rest.starts_with('@') {
        return Err(invalid("@ descriptors are not accepted; use 5 fields"));
    }
    let fields = rest.split_whitespace().count();
    if fields != 5 {
        return Err(invalid(&format!(
            "expected 5 fields (minute hour day month weekday), got {fields}"
        )));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(rest)
        .map_err(|e| invalid(&e.to_string()))
}

/// Starts a function definition. `id` is the plain id (the wire id is `<app>-<id>`);
/// `name` is the display name.
pub fn function(id: &str, name: &str) -> FunctionBuilder {
    FunctionBuilder {
        id: id.to_owned(),
        name: name.to_owned(),
        triggers: Vec::new(),
        retries: None,
        flow: serde_json::Map::new(),
    }
}

/// Builder returned by [`function`]; finish it with [`FunctionBuilder::handler`].
#[derive(Clone, Debug)]
pub struct FunctionBuilder {
    id: String,
    name: String,
    triggers: Vec<Trigger>,
    retries: Option<u32>,
    /// Flow-control fields, already in wire shape.
    flow: serde_json::Map<String, Value>,
}

fn with_key(mut v: Value, key: Option<&str>) -> Value {
    if let Some(k) = key {
        v["key"] = json!(k);
    }
    v
}

impl FunctionBuilder {
    /// Adds a trigger (up to 10).
    pub fn trigger(mut self, t: Trigger) -> Self {
        self.triggers.push(t);
        self
    }

    /// Number of retries after the first attempt (server default 4, max 20).
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = Some(n);
        self
    }

    /// Adds a concurrency limit (at most 2), optionally per CEL key.
    pub fn concurrency(mut self, limit: u32, key: Option<&str>) -> Self {
        let entry = with_key(json!({ "limit": limit }), key);
        match self.flow.get_mut("concurrency") {
            Some(Value::Array(list)) => list.push(entry),
            _ => {
                self.flow.insert("concurrency".into(), json!([entry]));
            }
        }
        self
    }

    /// At most `limit` runs per `period` (e.g. `1h`); excess events are dropped.
    pub fn rate_limit(mut self, limit: u32, period: &str, key: Option<&str>) -> Self {
        let v = with_key(json!({ "limit": limit, "period": period }), key);
        self.flow.insert("rateLimit".into(), v);
        self
    }

    /// At most `limit` run starts per `period`; excess runs are delayed.
    pub fn throttle(
        mut self,
        limit: u32,
        period: &str,
        burst: Option<u32>,
        key: Option<&str>,
    ) -> Self {
        let mut v = with_key(json!({ "limit": limit, "period": period }), key);
        if let Some(b) = burst {
            v["burst"] = json!(b);
        }
        self.flow.insert("throttle".into(), v);
        self
    }

    /// Waits for `period` of quiet before running with the last event.
    pub fn debounce(mut self, period: &str, key: Option<&str>) -> Self {
        let v = with_key(json!({ "period": period }), key);
        self.flow.insert("debounce".into(), v);
        self
    }

    /// Runs at most once per 24 h per value of the CEL key.
    pub fn idempotency(mut self, key_expr: &str) -> Self {
        self.flow.insert("idempotency".into(), json!(key_expr));
        self
    }

    /// Cancels runs not started within `start` or not finished within `finish`.
    pub fn timeouts(mut self, start: Option<&str>, finish: Option<&str>) -> Self {
        let mut v = json!({});
        if let Some(s) = start {
            v["start"] = json!(s);
        }
        if let Some(f) = finish {
            v["finish"] = json!(f);
        }
        self.flow.insert("timeouts".into(), v);
        self
    }

    /// Cancels running instances when `event` arrives (and `if_expr` holds), up to 5 entries.
    pub fn cancel_on(mut self, event: &str, if_expr: Option<&str>, timeout: Option<&str>) -> Self {
        let mut v = json!({ "event": event });
        if let Some(i) = if_expr {
            v["if"] = json!(i);
        }
        if let Some(t) = timeout {
            v["timeout"] = json!(t);
        }
        match self.flow.get_mut("cancel") {
            Some(Value::Array(list)) => list.push(v),
            _ => {
                self.flow.insert("cancel".into(), json!([v]));
            }
        }
        self
    }

    /// Priority CEL expression (seconds to move ahead in the queue, -600..600).
    pub fn priority(mut self, run_expr: &str) -> Self {
        self.flow
            .insert("priority".into(), json!({ "run": run_expr }));
        self
    }

    /// Batches up to `max_size` events (timeout is a Go duration like `5s`).
    pub fn batch_events(mut self, max_size: u32, timeout: &str, key: Option<&str>) -> Self {
        let v = with_key(json!({ "maxSize": max_size, "timeout": timeout }), key);
        self.flow.insert("batchEvents".into(), v);
        self
    }

    /// Attaches the handler. `E` is the type of the triggering event's `data`; an event whose
    /// data does not deserialize into `E` fails the run without retries, naming the field.
    pub fn handler<E, T, F, Fut>(self, f: F) -> ServableFunction
    where
        E: DeserializeOwned + Send + 'static,
        T: Serialize + 'static,
        F: Fn(Ctx<E>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let fn_id = self.id.clone();
        let handler: RawHandler = Arc::new(move |raw: RawCtx| {
            let event: Event<E> = match serde_path_to_error::deserialize(raw.event) {
                Ok(e) => e,
                Err(e) => {
                    let msg = format!(
                        "event payload for function {fn_id:?} is invalid at `{}`: {}",
                        e.path(),
                        e.inner()
                    );
                    return Box::pin(async move { Err(Error::non_retriable(msg)) })
                        as BoxFuture<'static, Result<Value, Error>>;
                }
            };
            let fut = f(Ctx {
                event,
                events: raw.events,
                run_id: raw.run_id,
                attempt: raw.attempt,
                step: raw.step,
            });
            Box::pin(async move {
                let out = fut.await?;
                let mut value = serde_json::to_value(&out).map_err(|e| {
                    Error::non_retriable(format!("function output does not serialize: {e}"))
                })?;
                redact::redact_json(&mut value);
                Ok(value)
            })
        });
        ServableFunction {
            inner: Arc::new(FunctionInner {
                id: self.id,
                name: self.name,
                triggers: self.triggers,
                retries: self.retries,
                flow: self.flow,
                handler,
            }),
        }
    }
}

pub(crate) struct RawCtx {
    pub event: Value,
    pub events: Vec<Event>,
    pub run_id: String,
    pub attempt: u32,
    pub step: Step,
}

pub(crate) type RawHandler =
    Arc<dyn Fn(RawCtx) -> BoxFuture<'static, Result<Value, Error>> + Send + Sync>;

struct FunctionInner {
    id: String,
    name: String,
    triggers: Vec<Trigger>,
    retries: Option<u32>,
    flow: serde_json::Map<String, Value>,
    handler: RawHandler,
}

/// A function ready to be served: its definition plus a type-erased handler.
#[derive(Clone)]
pub struct ServableFunction {
    inner: Arc<FunctionInner>,
}

impl std::fmt::Debug for ServableFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServableFunction")
            .field("id", &self.inner.id)
            .field("name", &self.inner.name)
            .field("triggers", &self.inner.triggers)
            .finish_non_exhaustive()
    }
}

/// Server default when a function sets no retries.
pub(crate) const DEFAULT_RETRIES: u32 = 4;

impl ServableFunction {
    /// The plain function id (not the `<app>-<id>` composite).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The triggers.
    pub fn triggers(&self) -> &[Trigger] {
        &self.inner.triggers
    }

    /// Attempts in total (retries + 1), used when a request carries no `max_attempts`.
    pub(crate) fn max_attempts(&self) -> u32 {
        self.inner.retries.unwrap_or(DEFAULT_RETRIES) + 1
    }

    pub(crate) fn call(&self, ctx: RawCtx) -> BoxFuture<'static, Result<Value, Error>> {
        (self.inner.handler)(ctx)
    }

    /// The function config object of the register body, shaped like the official SDKs.
    /// `serve_url` is the public serve URL without query.
    pub fn config_json(&self, app_id: &str, serve_url: &url::Url) -> Value {
        let composite = format!("{app_id}-{}", self.inner.id);
        let mut step_url = serve_url.clone();
        step_url.set_query(None);
        step_url
            .query_pairs_mut()
            .append_pair("fnId", &composite)
            .append_pair("stepId", "step");
        let mut step = json!({
            "id": "step",
            "name": "step",
            "runtime": { "type": "http", "url": step_url.as_str() },
        });
        if let Some(r) = self.inner.retries {
            step["retries"] = json!({ "attempts": r });
        }
        let mut v = json!({
            "id": composite,
            "name": self.inner.name,
            "triggers": self.inner.triggers.iter().map(Trigger::to_json).collect::<Vec<_>>(),
            "steps": { "step": step },
        });
        if let Value::Object(obj) = &mut v {
            for (k, val) in &self.inner.flow {
                obj.insert(k.clone(), val.clone());
            }
        }
        v
    }

    /// Checks the limits the server enforces at sync, so problems surface before deploying.
    pub fn validate(&self) -> Result<(), String> {
        let i = &self.inner;
        let id = &i.id;
        if id.trim().is_empty() {
            return Err("function id must not be empty".into());
        }
        if i.name.trim().is_empty() {
            return Err(format!("function {id:?}: name must not be empty"));
        }
        if i.triggers.is_empty() || i.triggers.len() > 10 {
            return Err(format!("function {id:?}: needs 1 to 10 triggers"));
        }
        if i.retries.is_some_and(|r| r > 20) {
            return Err(format!("function {id:?}: retries must be at most 20"));
        }
        let count = |k: &str| i.flow.get(k).and_then(Value::as_array).map_or(0, Vec::len);
        if count("concurrency") > 2 {
            return Err(format!("function {id:?}: at most 2 concurrency limits"));
        }
        if count("cancel") > 5 {
            return Err(format!("function {id:?}: at most 5 cancel_on entries"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> ServableFunction {
        function("generate-fix", "Generate fix")
            .trigger(Trigger::event("autofix/fix.requested"))
            .retries(2)
            .handler(|_ctx: Ctx<Value>| async { Ok(()) })
    }

    #[test]
    fn config_matches_official_shape() {
        let url = url::Url::parse("http://127.0.0.1:3939/api/inngest").unwrap();
        let v = noop().config_json("autofix-ref", &url);
        // Exactly as recorded from the TS SDK 4.24.0 (fixtures/inngest-ts-sdk).
        let expected = json!({"id":"autofix-ref-generate-fix","name":"Generate fix",
            "triggers":[{"event":"autofix/fix.requested"}],
            "steps":{"step":{"id":"step","name":"step","runtime":{"type":"http",
            "url":"http://127.0.0.1:3939/api/inngest?fnId=autofix-ref-generate-fix&stepId=step"},
            "retries":{"attempts":2}}}});
        assert_eq!(v, expected);
    }

    #[test]
    fn flow_control_shapes() {
        let f = function("m", "M")
            .trigger(Trigger::event("a").expression("event.data.force == true"))
            .trigger(Trigger::cron("TZ=UTC */10 * * * *").unwrap().jitter("30s"))
            .concurrency(1, Some("event.data.projectId"))
            .concurrency(5, None)
            .rate_limit(10, "1h", Some("event.data.projectId"))
            .throttle(5, "1m", Some(2), None)
            .debounce("30s", Some("event.data.projectId"))
            .idempotency("event.data.runKey")
            .timeouts(Some("10m"), Some("1h"))
            .cancel_on(
                "agent/cancel",
                Some("async.data.id == event.data.id"),
                Some("1h"),
            )
            .priority("event.data.urgent ? 120 : 0")
            .handler(|_ctx: Ctx<Value>| async { Ok(1) });
        let v = f.config_json(
            "agent",
            &url::Url::parse("https://x.example/api/inngest").unwrap(),
        );
        assert_eq!(
            v["triggers"],
            json!([{"event":"a","expression":"event.data.force == true"},
                   {"cron":"TZ=UTC */10 * * * *","jitter":"30s"}])
        );
        assert_eq!(
            v["concurrency"],
            json!([{"limit":1,"key":"event.data.projectId"},{"limit":5}])
        );
        assert_eq!(
            v["rateLimit"],
            json!({"limit":10,"period":"1h","key":"event.data.projectId"})
        );
        assert_eq!(v["throttle"], json!({"limit":5,"period":"1m","burst":2}));
        assert_eq!(
            v["debounce"],
            json!({"period":"30s","key":"event.data.projectId"})
        );
        assert_eq!(v["idempotency"], json!("event.data.runKey"));
        assert_eq!(v["timeouts"], json!({"start":"10m","finish":"1h"}));
        assert_eq!(
            v["cancel"],
            json!([{"event":"agent/cancel","if":"async.data.id == event.data.id","timeout":"1h"}])
        );
        assert_eq!(v["priority"], json!({"run":"event.data.urgent ? 120 : 0"}));
        assert!(v["steps"]["step"].get("retries").is_none());
        assert!(f.validate().is_ok());
    }

    #[test]
    fn cron_validation() {
        assert!(Trigger::cron("*/10 * * * *").is_ok());
        assert!(Trigger::cron("TZ=Europe/Paris 0 12 * * 5").is_ok());
        assert!(Trigger::cron("CRON_TZ=America/New_York 0 9 * * MON-FRI").is_ok());
        for bad in [
            "@daily",
            "* * * * * *",
            "* * * *",
            "61 * * * *",
            "TZ=UTC",
            "TZ=a;b * * * * *",
            "TZ=Mars/Base */10 * * * *",
        ] {
            let err = Trigger::cron(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn runs_per_hour_count_the_minutes_a_schedule_matches() {
        for (expr, runs) in [
            ("*/10 * * * *", 6),
            ("TZ=Europe/Paris */15 * * * *", 4),
            ("0,30 9-17 * * MON-FRI", 2),
            ("0 */2 * * *", 1),
            ("* * * * *", 60),
            ("5-10 * * * *", 6),
        ] {
            assert_eq!(cron_runs_per_hour(expr).unwrap(), runs, "{expr}");
        }
        assert!(cron_runs_per_hour("61 * * * *").is_err());
    }

    #[test]
    fn validate_limits() {
        let f = function("x", "X")
            .trigger(Trigger::event("a"))
            .concurrency(1, None)
            .concurrency(1, None)
            .concurrency(1, None)
            .handler(|_ctx: Ctx<Value>| async { Ok(()) });
        assert!(f.validate().unwrap_err().contains("concurrency"));
        let f = function("x", "X").handler(|_ctx: Ctx<Value>| async { Ok(()) });
        assert!(f.validate().unwrap_err().contains("triggers"));
    }
}
