//! Reduce exchanges to a structural "wire shape", so that two SDKs driven
//! through the same scenario can be compared with `==`.
//!
//! A [`WireShape`] keeps what the protocol cares about and drops what
//! legitimately differs between SDKs, runs and machines:
//!
//! | kept | dropped |
//! |---|---|
//! | register: function ids (app prefix replaced by `{app}`), names, triggers, `retries.attempts`, the `step` entry's id/name/runtime type, URL path and its `fnId`/`stepId` query, other config keys (names only), `deployType`, whether `X-Inngest-SDK` is well formed, `X-Inngest-Expected-Server-Kind`, `X-Inngest-Sync-Kind`, answer status | `sdk`, `framework`, `v`, `capabilities`, `featureObservations`, host and port |
//! | per run (grouped by run id, ordered by function id then first call): trigger event name; per call in order: `stepId`, `ctx.attempt`, `ctx.disable_immediate_execution`, request `version`, status, header presence (below), opcodes | run and event ids, timestamps, memo contents sent |
//! | per opcode: `op`, hashed `id`, `name`, `displayName`, `opts` (empty = absent, `function_id` prefix normalized), the *type skeleton* of `data` (`StepRun`/`RunComplete` only), the `name` of `error` | `timing`, `userland`, error `message`/`stack`, data values, `name` of `Sleep`/`WaitForEvent`/`InvokeFunction` (see below) |
//! | 200 bodies: type skeleton; error bodies: error `name` | |
//! | headers: `X-Inngest-SDK` well formed, `X-Inngest-Req-Version` value, JSON content type, `X-Inngest-No-Retry` value, `Retry-After` present, `X-Inngest-Signature` present | other headers |
//! | events the SDK sent to the Event API (requests carrying `X-Inngest-SDK`): name and data skeleton, sorted | ids, `ts`, the event key |
//!
//! Opcodes are reduced to what the Go executor reads, so equivalent encodings
//! compare equal: JS puts a sleep's duration in `name` and a wait's event name
//! in `name`, Go and the spec put them in `opts.duration` / `opts.event`; the
//! shape always has them in `opts`. JS also sends the serialized error as
//! `data` on `StepError`/`StepFailed`, which the server ignores.
//!
//! The *type skeleton* of a JSON value keeps objects' keys and arrays' lengths
//! and replaces each leaf by its type (`"string"`, `"number"`, `"bool"`, `"null"`).

use crate::model::{Exchange, ExchangeKind, RecordedRequest, RecordedResponse, RunId};
use crate::registration::is_sdk_header;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// The protocol-relevant structure of a set of exchanges (see the module docs for what is kept):
/// two SDKs driven through the same scenario must produce equal shapes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireShape {
    /// One entry per `POST /fn/register`, in order.
    pub register: Vec<RegisterShape>,
    /// Runs ordered by normalized function id, then by first call.
    pub runs: Vec<RunShape>,
    /// Events the SDK sent to the Event API, sorted by name and data skeleton.
    pub events_sent: Vec<EventShape>,
}

/// One register request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisterShape {
    /// `deployType` of the body (`ping` for in-band syncs).
    pub deploy_type: Option<String>,
    /// The body carried a non-empty `url`.
    pub has_url: bool,
    /// `X-Inngest-SDK` is present and well formed (`<lang>:v<semver>`).
    pub sdk_header_ok: bool,
    /// `X-Inngest-Expected-Server-Kind` as sent.
    pub expected_server_kind: Option<String>,
    /// `X-Inngest-Sync-Kind` as sent.
    pub sync_kind: Option<String>,
    /// Status the executor answered; `None` without an answer.
    pub status: Option<u16>,
    /// The registered functions, sorted by normalized id.
    pub functions: Vec<FunctionShape>,
}

/// One registered function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionShape {
    /// Composite id with the app prefix replaced by `{app}-`.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Triggers exactly as registered.
    pub triggers: Vec<Value>,
    /// `retries.attempts` of the `step` entry.
    pub retries: Option<u64>,
    /// `id` of the `step` entry.
    pub step_id: Option<String>,
    /// `name` of the `step` entry.
    pub step_name: Option<String>,
    /// `runtime.type` of the `step` entry (`http`).
    pub runtime_type: Option<String>,
    /// Path of the step's runtime URL (host and port dropped).
    pub url_path: Option<String>,
    /// `fnId` query value of that URL, normalized.
    pub url_fn_id: Option<String>,
    /// `stepId` query value of that URL.
    pub url_step_id: Option<String>,
    /// Other top-level config keys (`concurrency`, `cancel`, …), names only.
    pub other_keys: Vec<String>,
}

/// Every call of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunShape {
    /// Normalized function id.
    pub fn_id: String,
    /// Name of the triggering event.
    pub trigger: Option<String>,
    /// Calls in order.
    pub calls: Vec<CallShape>,
}

/// One executor → SDK call and its answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallShape {
    /// `stepId` query value (`step` for a plain function call).
    pub step_id: String,
    /// `ctx.attempt` of the request.
    pub attempt: Option<u64>,
    /// `ctx.disable_immediate_execution` of the request.
    pub disable_immediate_execution: Option<bool>,
    /// `version` of the request body.
    pub request_version: Option<i64>,
    /// `None` when the call failed at the transport level.
    pub status: Option<u16>,
    /// Which protocol headers the answer carried.
    pub headers: HeaderShape,
    /// Opcodes of the answer, reduced.
    pub ops: Vec<OpShape>,
    /// Type skeleton of a 200 body.
    pub result: Option<Value>,
    /// `name` of an error body (non-2xx answers).
    pub error: Option<String>,
}

/// Presence or value of the protocol headers of an SDK answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderShape {
    /// `X-Inngest-SDK` present and well formed.
    pub sdk: bool,
    /// `X-Inngest-Req-Version` value.
    pub req_version: Option<String>,
    /// `Content-Type` is JSON.
    pub json: bool,
    /// `X-Inngest-No-Retry` value.
    pub no_retry: Option<String>,
    /// `Retry-After` present.
    pub retry_after: bool,
    /// `X-Inngest-Signature` present.
    pub signed: bool,
}

/// One opcode, reduced to what the Go executor reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpShape {
    /// `op`, e.g. `StepRun`, `Sleep`.
    pub op: String,
    /// Hashed step id.
    pub id: String,
    /// `name`, except for `Sleep`/`WaitForEvent`/`InvokeFunction` (moved into `opts`).
    pub name: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `opts`, with a sleep's duration and a wait's event in it; `None` when empty.
    pub opts: Option<Value>,
    /// Type skeleton of `data` (`StepRun`/`RunComplete` only).
    pub data: Option<Value>,
    /// `name` of `error`.
    pub error: Option<String>,
}

/// One event the SDK sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventShape {
    /// Event name.
    pub name: String,
    /// Type skeleton of its `data`.
    pub data: Value,
}

/// The type skeleton of a JSON value (see the module docs).
pub fn skeleton(v: &Value) -> Value {
    match v {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::Array(a) => Value::Array(a.iter().map(skeleton).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), skeleton(v))).collect())
        }
    }
}

struct Norm {
    prefix: Option<String>,
}

impl Norm {
    fn id(&self, id: &str) -> String {
        match &self.prefix {
            Some(p) => match id.strip_prefix(p.as_str()) {
                Some(rest) => format!("{{app}}-{rest}"),
                None => id.to_string(),
            },
            None => id.to_string(),
        }
    }
}

fn s(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

impl WireShape {
    /// Reduce `exchanges` (from [`crate::TestInngest::exchanges`] or
    /// [`load_transcript`]). The app id used for normalization is the
    /// `appName` of the first register request.
    pub fn from_exchanges(exchanges: &[Exchange]) -> WireShape {
        let norm = Norm {
            prefix: exchanges
                .iter()
                .filter(|e| e.kind == ExchangeKind::Register)
                .find_map(|e| s(e.request.body.get("appName")))
                .map(|a| format!("{a}-")),
        };
        let register = exchanges
            .iter()
            .filter(|e| e.kind == ExchangeKind::Register)
            .map(|e| register_shape(e, &norm))
            .collect();

        let mut order: Vec<(String, RunId)> = Vec::new();
        let mut calls: BTreeMap<RunId, (Option<String>, Vec<CallShape>)> = BTreeMap::new();
        for e in exchanges.iter().filter(|e| e.kind == ExchangeKind::Call) {
            let run_id = e
                .run_id
                .clone()
                .or_else(|| s(e.request.body.pointer("/ctx/run_id")).map(RunId))
                .unwrap_or_else(|| RunId(String::new()));
            let fn_id = e
                .fn_id
                .clone()
                .or_else(|| query(&e.request.url, "fnId"))
                .unwrap_or_default();
            let entry = calls.entry(run_id.clone()).or_insert_with(|| {
                order.push((norm.id(&fn_id), run_id.clone()));
                (s(e.request.body.pointer("/event/name")), Vec::new())
            });
            entry.1.push(call_shape(e, &norm));
        }
        // Stable sort: runs of the same function keep first-call order.
        order.sort_by(|a, b| a.0.cmp(&b.0));
        let runs = order
            .into_iter()
            .map(|(fn_id, id)| {
                let (trigger, calls) = calls.remove(&id).unwrap_or_default();
                RunShape {
                    fn_id,
                    trigger,
                    calls,
                }
            })
            .collect();

        let mut events_sent: Vec<EventShape> = exchanges
            .iter()
            .filter(|e| {
                e.kind == ExchangeKind::Event && e.request.headers.contains_key("x-inngest-sdk")
            })
            .flat_map(|e| match &e.request.body {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            })
            .map(|ev| EventShape {
                name: s(ev.get("name")).unwrap_or_default(),
                data: skeleton(ev.get("data").unwrap_or(&Value::Null)),
            })
            .collect();
        events_sent.sort_by(|a, b| {
            (a.name.as_str(), a.data.to_string()).cmp(&(b.name.as_str(), b.data.to_string()))
        });
        WireShape {
            register,
            runs,
            events_sent,
        }
    }

    /// Keep only functions (register entries and runs) whose normalized id
    /// (`{app}-…`) satisfies `keep` — to compare one scenario of a larger app.
    pub fn retain_functions(&mut self, keep: impl Fn(&str) -> bool) {
        for r in &mut self.register {
            r.functions.retain(|f| keep(&f.id));
        }
        self.runs.retain(|r| keep(&r.fn_id));
    }

    /// The runs of one function (normalized id, e.g. `{app}-generate-fix`).
    pub fn runs_of(&self, fn_id: &str) -> Vec<&RunShape> {
        self.runs.iter().filter(|r| r.fn_id == fn_id).collect()
    }

    /// Paths at which two shapes differ, for readable assertion failures.
    pub fn diff(&self, other: &WireShape) -> Vec<String> {
        let a = serde_json::to_value(self).unwrap_or(Value::Null);
        let b = serde_json::to_value(other).unwrap_or(Value::Null);
        let mut out = Vec::new();
        diff_values("$", &a, &b, &mut out);
        out
    }

    /// Panic with the list of differences unless both shapes are equal.
    pub fn assert_same_as(&self, other: &WireShape) {
        let d = self.diff(other);
        assert!(
            d.is_empty(),
            "wire shapes differ at {} place(s):\n{}",
            d.len(),
            d.join("\n")
        );
    }
}

fn diff_values(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if out.len() >= 60 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = Value::Null;
                diff_values(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(format!("{path}: length {} vs {}", x.len(), y.len()));
            }
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff_values(&format!("{path}[{i}]"), p, q, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
}

fn query(url: &str, key: &str) -> Option<String> {
    let parsed = url::Url::parse(url)
        .or_else(|_| url::Url::parse("http://placeholder/").and_then(|base| base.join(url)))
        .ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn register_shape(e: &Exchange, norm: &Norm) -> RegisterShape {
    let body = &e.request.body;
    let functions = body
        .get("functions")
        .and_then(Value::as_array)
        .map(|fns| {
            let mut v: Vec<FunctionShape> = fns.iter().map(|f| function_shape(f, norm)).collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v
        })
        .unwrap_or_default();
    let h = |k: &str| e.request.headers.get(k).cloned();
    RegisterShape {
        deploy_type: s(body.get("deployType")),
        has_url: body
            .get("url")
            .and_then(Value::as_str)
            .is_some_and(|u| !u.is_empty()),
        sdk_header_ok: h("x-inngest-sdk").is_some_and(|v| is_sdk_header(&v)),
        expected_server_kind: h("x-inngest-expected-server-kind"),
        sync_kind: h("x-inngest-sync-kind"),
        status: e.response.as_ref().map(|r| r.status),
        functions,
    }
}

fn function_shape(f: &Value, norm: &Norm) -> FunctionShape {
    let step = f.pointer("/steps/step");
    let url = step
        .and_then(|st| st.pointer("/runtime/url"))
        .and_then(Value::as_str);
    let parsed = url.and_then(|u| url::Url::parse(u).ok());
    let q = |k: &str| {
        parsed.as_ref().and_then(|u| {
            u.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        })
    };
    let mut other_keys: Vec<String> = f
        .as_object()
        .map(|m| {
            m.keys()
                .filter(|k| !matches!(k.as_str(), "id" | "name" | "triggers" | "steps"))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    other_keys.sort();
    FunctionShape {
        id: norm.id(f.get("id").and_then(Value::as_str).unwrap_or_default()),
        name: s(f.get("name")),
        triggers: f
            .get("triggers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        retries: step
            .and_then(|st| st.pointer("/retries/attempts"))
            .and_then(Value::as_u64),
        step_id: step.and_then(|st| s(st.get("id"))),
        step_name: step.and_then(|st| s(st.get("name"))),
        runtime_type: step.and_then(|st| s(st.pointer("/runtime/type"))),
        url_path: parsed.as_ref().map(|u| u.path().to_string()),
        url_fn_id: q("fnId").map(|id| norm.id(&id)),
        url_step_id: q("stepId"),
        other_keys,
    }
}

fn call_shape(e: &Exchange, norm: &Norm) -> CallShape {
    let body = &e.request.body;
    let step_id = e
        .step_id
        .clone()
        .or_else(|| query(&e.request.url, "stepId"))
        .unwrap_or_default();
    let resp = e.response.as_ref();
    let h = |k: &str| resp.and_then(|r| r.headers.get(k)).cloned();
    let headers = HeaderShape {
        sdk: h("x-inngest-sdk").is_some_and(|v| is_sdk_header(&v)),
        req_version: h("x-inngest-req-version"),
        json: h("content-type").is_some_and(|v| v.starts_with("application/json")),
        no_retry: h("x-inngest-no-retry"),
        retry_after: h("retry-after").is_some(),
        signed: h("x-inngest-signature").is_some(),
    };
    let status = resp.map(|r| r.status);
    let rbody = resp.map(|r| &r.body).unwrap_or(&Value::Null);
    let mut ops = Vec::new();
    let mut result = None;
    let mut error = None;
    match status {
        Some(206) => {
            let list = match rbody {
                Value::Array(a) => a.clone(),
                Value::Null => Vec::new(),
                other => vec![other.clone()],
            };
            ops = list.iter().map(|op| op_shape(op, norm)).collect();
        }
        Some(200) => result = Some(skeleton(rbody)),
        Some(_) => {
            error = s(rbody.get("name")).or_else(|| rbody.get("error").map(|_| "error".to_string()))
        }
        None => {}
    }
    CallShape {
        step_id,
        attempt: body.pointer("/ctx/attempt").and_then(Value::as_u64),
        disable_immediate_execution: body
            .pointer("/ctx/disable_immediate_execution")
            .and_then(Value::as_bool),
        request_version: body.get("version").and_then(Value::as_i64),
        status,
        headers,
        ops,
        result,
        error,
    }
}

/// Reduce one opcode to what the Go executor reads from it. Encodings the
/// server treats alike compare equal: a sleep's duration in `opts.duration` or
/// in `name`, a wait's event in `opts.event` or in `name`; fields it ignores
/// (`name` of invokes, sleeps and waits, `data` next to an `error` or on a
/// planned step) are dropped.
fn op_shape(op: &Value, norm: &Norm) -> OpShape {
    let op_name = s(op.get("op")).unwrap_or_default();
    let name = s(op.get("name"));
    let mut opts: Map<String, Value> = match op.get("opts") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    if let Some(Value::String(fid)) = opts.get("function_id") {
        let n = norm.id(fid);
        opts.insert("function_id".into(), Value::String(n));
    }
    let keep_name = match op_name.as_str() {
        "Sleep" => {
            if !opts.contains_key("duration")
                && let Some(n) = &name
            {
                opts.insert("duration".into(), Value::String(n.clone()));
            }
            false
        }
        "WaitForEvent" => {
            if !opts.contains_key("event")
                && let Some(n) = &name
            {
                opts.insert("event".into(), Value::String(n.clone()));
            }
            false
        }
        "InvokeFunction" => false,
        _ => true,
    };
    let keeps_data = matches!(op_name.as_str(), "StepRun" | "Step" | "RunComplete");
    OpShape {
        id: s(op.get("id")).unwrap_or_default(),
        name: if keep_name { name } else { None },
        display_name: s(op.get("displayName")),
        opts: if opts.is_empty() {
            None
        } else {
            Some(Value::Object(opts))
        },
        data: match op.get("data") {
            Some(d) if keeps_data && !d.is_null() => Some(skeleton(d)),
            _ => None,
        },
        error: op.get("error").and_then(|e| s(e.get("name"))),
        op: op_name,
    }
}

/// Errors reading a recorded transcript.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// The file could not be read.
    #[error("cannot read transcript {path}: {source}")]
    Io {
        /// The file as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a JSON exchange.
    #[error("transcript {path} line {line}: {source}")]
    Json {
        /// The file as given.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The decoder's error.
        source: serde_json::Error,
    },
}

/// Load a JSON-lines transcript as recorded in `shared/fixtures/inngest-ts-sdk/`
/// (one object per exchange: `seq`, `kind`, `runId`, `fnId`, `stepId`,
/// `attempt`, `request`, `response`, `error`) as [`Exchange`]s.
pub fn load_transcript(path: &Path) -> Result<Vec<Exchange>, TranscriptError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TranscriptError::Io {
        path: p.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line).map_err(|source| TranscriptError::Json {
            path: p.clone(),
            line: i + 1,
            source,
        })?;
        out.push(transcript_exchange(&v));
    }
    Ok(out)
}

fn headers_of(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let k = k.to_ascii_lowercase();
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    let v = if k == "authorization" {
                        match v.split_once(' ') {
                            Some((scheme, _)) => format!("{scheme} [redacted]"),
                            None => "[redacted]".into(),
                        }
                    } else {
                        v
                    };
                    (k, v)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn transcript_exchange(v: &Value) -> Exchange {
    let kind = match v.get("kind").and_then(Value::as_str) {
        Some("register") => ExchangeKind::Register,
        Some("sync") => ExchangeKind::Sync,
        Some("call") => ExchangeKind::Call,
        Some("event") => ExchangeKind::Event,
        _ => ExchangeKind::Other,
    };
    let req = v.get("request").cloned().unwrap_or(Value::Null);
    let resp = v.get("response").filter(|r| !r.is_null());
    Exchange {
        seq: v.get("seq").and_then(Value::as_u64).unwrap_or(0),
        kind,
        run_id: s(v.get("runId")).map(RunId),
        fn_id: s(v.get("fnId")),
        step_id: s(v.get("stepId")),
        attempt: v.get("attempt").and_then(Value::as_u64).map(|a| a as u32),
        request: RecordedRequest {
            method: s(req.get("method")).unwrap_or_default(),
            url: s(req.get("url")).unwrap_or_default(),
            headers: headers_of(req.get("headers")),
            body: req.get("body").cloned().unwrap_or(Value::Null),
            raw_body: s(req.get("rawBody")).unwrap_or_default(),
        },
        response: resp.map(|r| RecordedResponse {
            status: r.get("status").and_then(Value::as_u64).unwrap_or(0) as u16,
            headers: headers_of(r.get("headers")),
            body: r.get("body").cloned().unwrap_or(Value::Null),
            raw_body: s(r.get("rawBody")).unwrap_or_default(),
        }),
        error: v.get("error").and_then(|e| {
            if e.is_null() {
                None
            } else {
                Some(e.to_string())
            }
        }),
        auth_ok: v.pointer("/auth/ok").and_then(Value::as_bool),
        response_signature_ok: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skeleton_keeps_structure_not_values() {
        let v = json!({"a": [1, "x", null, {"b": true}], "c": 2.5});
        assert_eq!(
            skeleton(&v),
            json!({"a": ["number", "string", "null", {"b": "bool"}], "c": "number"})
        );
    }

    #[test]
    fn app_prefix_normalization() {
        let n = Norm {
            prefix: Some("autofix-ref-".into()),
        };
        assert_eq!(n.id("autofix-ref-generate-fix"), "{app}-generate-fix");
        assert_eq!(n.id("other-generate-fix"), "other-generate-fix");
    }

    #[test]
    fn equivalent_op_encodings_reduce_alike() {
        let n = Norm {
            prefix: Some("app-".into()),
        };
        let js_sleep =
            json!({"op": "Sleep", "id": "h", "name": "2h", "displayName": "nap", "opts": {}});
        let go_sleep = json!({"op": "Sleep", "id": "h", "name": "nap", "displayName": "nap", "opts": {"duration": "2h"}});
        assert_eq!(op_shape(&js_sleep, &n), op_shape(&go_sleep, &n));
        assert_eq!(
            op_shape(&js_sleep, &n).opts,
            Some(json!({"duration": "2h"}))
        );

        let js_wait =
            json!({"op": "WaitForEvent", "id": "w", "name": "a/b", "opts": {"timeout": "1h"}});
        let go_wait = json!({"op": "WaitForEvent", "id": "w", "name": "wait", "opts": {"event": "a/b", "timeout": "1h"}});
        assert_eq!(op_shape(&js_wait, &n), op_shape(&go_wait, &n));
        let other_event =
            json!({"op": "WaitForEvent", "id": "w", "opts": {"event": "a/c", "timeout": "1h"}});
        assert_ne!(op_shape(&js_wait, &n), op_shape(&other_event, &n));

        let failed = json!({"op": "StepFailed", "id": "f", "name": "s", "error": {"name": "Error"}, "data": {"x": 1}});
        let shape = op_shape(&failed, &n);
        assert_eq!((shape.data, shape.error.as_deref()), (None, Some("Error")));

        let invoke = json!({"op": "InvokeFunction", "id": "i", "name": "call", "opts": {"function_id": "app-child"}});
        let shape = op_shape(&invoke, &n);
        assert_eq!(shape.name, None);
        assert_eq!(shape.opts, Some(json!({"function_id": "{app}-child"})));

        let run = json!({"op": "StepRun", "id": "r", "name": "s", "opts": {}, "data": [1, "a"]});
        let shape = op_shape(&run, &n);
        assert_eq!(
            (shape.name.as_deref(), shape.opts, shape.data),
            (Some("s"), None, Some(json!(["number", "string"])))
        );
    }

    #[test]
    fn diff_lists_paths() {
        let a = WireShape {
            register: vec![],
            runs: vec![RunShape {
                fn_id: "{app}-x".into(),
                trigger: Some("e".into()),
                calls: vec![],
            }],
            events_sent: vec![],
        };
        let mut b = a.clone();
        b.runs[0].trigger = Some("f".into());
        assert_eq!(
            a.diff(&b),
            vec![r#"$.runs[0].trigger: "e" vs "f""#.to_string()]
        );
        assert!(a.diff(&a).is_empty());
    }
}
