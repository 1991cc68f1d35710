//! A test executor that plays the Inngest server (Dev Server or Cloud kind)
//! against any SDK's serve endpoint, over HTTP only.
//!
//! ```no_run
//! # async fn demo() -> Result<(), inngest_testkit::ExecError> {
//! use inngest_testkit::{Options, TestInngest};
//! let inngest = TestInngest::start(Options::dev()).await;
//! // point the SDK at inngest.base_url() (INNGEST_BASE_URL / INNGEST_DEV), start it, then:
//! let serve_url = url::Url::parse("http://127.0.0.1:3000/api/inngest").unwrap();
//! inngest.sync(&serve_url).await?;
//! inngest.send(serde_json::json!({"name": "app/thing.happened", "data": {}})).await;
//! inngest.run_until_idle().await?;
//! assert!(inngest.runs().iter().all(|r| r.output().is_some()));
//! # Ok(()) }
//! ```
//!
//! What it does, in the Go executor's terms: discovery calls (`stepId=step`)
//! carrying the memoized `steps`; planned steps called one by one with
//! `stepId=<hash>` and `ctx.disable_immediate_execution=true` while a parallel
//! group is pending; retries per `retries.attempts` (default 4) honouring
//! `X-Inngest-No-Retry`, recording `Retry-After` instead of waiting; sleeps
//! resolved at once; wait-for-event resolved by a matching event received
//! since the run started, or by a timeout (`null`) once the executor is idle;
//! invokes run the target function and resume with `{"data"}`/`{"error"}`.
//! In cloud mode every call and the sync ping are signed, and the SDK's
//! register call must carry the hashed signing key. A 2xx without
//! `X-Inngest-SDK` counts as a failed attempt. Time is compressed: nothing
//! waits longer than an HTTP round trip.
//!
//! Trigger `expression`s, wait-for-event `if` filters and the `concurrency` and
//! `rateLimit` keys are evaluated with a small CEL subset, see [`expr`];
//! registering anything outside it fails the sync. Rate-limited events start no
//! run ([`TestInngest::skipped`]); runs over a concurrency limit queue (see
//! `flow.rs` for the exact semantics). [`shape`] reduces exchanges to a [`WireShape`] for comparing SDKs, and
//! [`node`] starts the reference app on the official TypeScript SDK.

#![warn(missing_docs)]

mod canonical;
mod clock;
mod duration;
mod engine;
pub(crate) mod expr;
mod flow;
mod ids;
mod logs;
mod model;
pub mod node;
mod registration;
mod server;
pub mod shape;
mod sign;

pub use canonical::canonical_json;
pub use clock::VirtualClock;
pub use duration::parse_time_str;
pub use expr::ExprError;
pub use flow::SkippedRun;
pub use ids::step_id_hash;
pub use logs::LogCapture;
pub use model::*;
pub use registration::{is_sdk_header, validate_registration};
pub use shape::{WireShape, load_transcript};
pub use sign::{hashed_signing_key, signature_header, verify_signature_header};

use engine::{CallOutcome, State};
use ids::now_ms;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A fake Inngest API on `127.0.0.1:<random port>` plus the executor driving
/// runs against the SDK apps that synced with it. Stops serving on drop.
pub struct TestInngest {
    state: server::Shared,
    opts: Options,
    base_url: url::Url,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestInngest {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestInngest {
    /// Bind the fake API and start serving. Panics if no loopback port can be
    /// bound, which only happens on a broken test machine.
    pub async fn start(opts: Options) -> TestInngest {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the fake Inngest API");
        let addr = listener
            .local_addr()
            .expect("local address of bound listener");
        let state: server::Shared = Arc::new(Mutex::new(State::new(opts.clone())));
        let app = server::router(state.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "fake Inngest API stopped");
            }
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("reqwest client with default TLS settings");
        TestInngest {
            state,
            base_url: url::Url::parse(&format!("http://{addr}/")).expect("loopback URL parses"),
            opts,
            client,
            server,
        }
    }

    /// Origin of the fake API and Event API (`INNGEST_BASE_URL`, or the URL
    /// form of `INNGEST_DEV`).
    pub fn base_url(&self) -> url::Url {
        self.base_url.clone()
    }

    /// The options the executor was started with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Do what the Dev Server does to sync an app: `PUT` the serve URL with
    /// `{"url": …}` and `X-Inngest-Server-Kind` (signed in cloud mode), during
    /// which the SDK must `POST /fn/register`. Returns the validated registration.
    pub async fn sync(&self, serve_url: &url::Url) -> Result<Registration, ExecError> {
        self.lock().last_register = None;
        let body = canonical_json(&json!({"url": serve_url.as_str()}));
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            (
                "x-inngest-server-kind".to_string(),
                self.opts.server_kind.as_str().to_string(),
            ),
        ];
        if let Some(key) = &self.opts.signing_key {
            let ts = (now_ms() / 1000) as i64;
            headers.push((
                "x-inngest-signature".into(),
                signature_header(body.as_bytes(), key, ts),
            ));
        }
        let mut req = self
            .client
            .put(serve_url.clone())
            .timeout(self.opts.sync_timeout)
            .body(body.clone());
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let outcome = send(req).await;
        let mut ex = Exchange {
            seq: 0,
            kind: ExchangeKind::Sync,
            run_id: None,
            fn_id: None,
            step_id: None,
            attempt: None,
            request: RecordedRequest {
                method: "PUT".into(),
                url: serve_url.to_string(),
                headers: headers.into_iter().collect(),
                body: serde_json::from_str(&body).unwrap_or(Value::Null),
                raw_body: body,
            },
            response: None,
            error: None,
            auth_ok: None,
            response_signature_ok: None,
        };
        let (status, resp_headers, text) = match outcome {
            CallOutcome::Transport(detail) => {
                ex.error = Some(detail.clone());
                self.lock().record(ex);
                return Err(ExecError::SyncTransport {
                    url: serve_url.to_string(),
                    detail,
                });
            }
            CallOutcome::Response {
                status,
                headers,
                body,
            } => (status, headers, body),
        };
        ex.response = Some(RecordedResponse {
            status,
            headers: resp_headers.clone(),
            body: serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone())),
            raw_body: text.clone(),
        });
        let mut st = self.lock();
        st.record(ex);
        // A refused register explains a failed PUT better than its status does.
        if let Some(Err(errs)) = &st.last_register {
            return Err(ExecError::InvalidRegistration(errs.clone()));
        }
        if !(200..300).contains(&status) {
            return Err(ExecError::SyncRejected {
                url: serve_url.to_string(),
                status,
                body: text,
            });
        }
        if !resp_headers.contains_key("x-inngest-sdk") {
            return Err(ExecError::SyncNotSdk);
        }
        match st.last_register.take() {
            None => Err(ExecError::NoRegistration),
            Some(Err(errs)) => Err(ExecError::InvalidRegistration(errs)),
            Some(Ok(reg)) => Ok(reg),
        }
    }

    /// Accept an event (or an array of events) as the Event API would and
    /// create one run per function whose trigger matches. Panics on an
    /// invalid event (no `name`, non-object `data`): that is a bug in the test.
    pub async fn send(&self, event: Value) -> Vec<RunId> {
        self.try_send(event).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`TestInngest::send`], returning invalid events as an error.
    pub async fn try_send(&self, event: Value) -> Result<Vec<RunId>, ExecError> {
        let mut st = self.lock();
        let headers: BTreeMap<String, String> =
            [("content-type".to_string(), "application/json".to_string())].into();
        let result = st.ingest(&event);
        let (status, body) = match &result {
            Ok((ids, _)) => (200, json!({"ids": ids, "status": 200})),
            Err(e) => (400, json!({"ids": [], "status": 400, "error": e})),
        };
        st.record(Exchange {
            seq: 0,
            kind: ExchangeKind::Event,
            run_id: None,
            fn_id: None,
            step_id: None,
            attempt: None,
            request: RecordedRequest {
                method: "POST".into(),
                url: "/e/[redacted]".into(),
                headers: headers.clone(),
                raw_body: event.to_string(),
                body: event,
            },
            response: Some(RecordedResponse {
                status,
                headers,
                raw_body: body.to_string(),
                body,
            }),
            error: None,
            auth_ok: Some(true),
            response_signature_ok: None,
        });
        result
            .map(|(_, runs)| runs)
            .map_err(ExecError::InvalidEvent)
    }

    /// Fire the function's cron trigger now: a run triggered by
    /// `{"name":"inngest/scheduled.timer","data":{"cron":…}}`. Panics if the
    /// function is unknown or has no cron trigger.
    pub async fn trigger_cron(&self, composite_fn_id: &str) -> RunId {
        self.try_trigger_cron(composite_fn_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`TestInngest::trigger_cron`] returning the error instead of panicking.
    pub async fn try_trigger_cron(&self, composite_fn_id: &str) -> Result<RunId, ExecError> {
        self.lock().trigger_cron(composite_fn_id)
    }

    /// Drive every run, including runs started by events sent meanwhile, until
    /// nothing is left to do. Calls are made one at a time, in queue order.
    /// Returns an error on a protocol violation or when a call limit is hit;
    /// ordinary function failures end as [`RunStatus::Failed`] instead.
    pub async fn run_until_idle(&self) -> Result<(), ExecError> {
        let mut total = 0u32;
        loop {
            let call = self.lock().next_call()?;
            let Some(call) = call else {
                return Ok(());
            };
            total += 1;
            if total > self.opts.max_total_calls {
                return Err(ExecError::TotalCallLimit(self.opts.max_total_calls));
            }
            let mut req = self
                .client
                .post(call.url.clone())
                .timeout(self.opts.call_timeout)
                .body(call.body.clone());
            for (k, v) in &call.headers {
                req = req.header(k, v);
            }
            let outcome = send(req).await;
            self.lock().apply(call, outcome)?;
        }
    }

    /// Every run so far, finished or not.
    pub fn runs(&self) -> Vec<RunRecord> {
        self.lock().runs()
    }

    /// One run by id.
    pub fn run(&self, id: &RunId) -> Option<RunRecord> {
        self.runs().into_iter().find(|r| &r.id == id)
    }

    /// Runs of one function, in creation order.
    pub fn runs_of(&self, composite_fn_id: &str) -> Vec<RunRecord> {
        self.runs()
            .into_iter()
            .filter(|r| r.fn_id == composite_fn_id)
            .collect()
    }

    /// Events that matched a function but started no run (rate limited), in order.
    pub fn skipped(&self) -> Vec<SkippedRun> {
        self.lock().skipped.clone()
    }

    /// Every HTTP exchange with the SDK, in completion order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.lock().exchanges.clone()
    }

    /// Every event accepted (sent by the test, by SDKs, or emitted internally:
    /// `inngest/scheduled.timer`, `inngest/function.invoked|finished|failed`).
    pub fn events(&self) -> Vec<Value> {
        self.lock().events.clone()
    }

    /// Every registration received, in order.
    pub fn registrations(&self) -> Vec<Registration> {
        self.lock().registrations.clone()
    }

    /// The wire shape of everything exchanged so far (see [`WireShape`]).
    pub fn wire_shape(&self) -> WireShape {
        WireShape::from_exchanges(&self.exchanges())
    }
}

async fn send(req: reqwest::RequestBuilder) -> CallOutcome {
    match req.send().await {
        Err(e) => CallOutcome::Transport(describe(&e)),
        Ok(resp) => {
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        v.to_str().unwrap_or("<non-utf8>").to_string(),
                    )
                })
                .collect();
            match resp.text().await {
                Ok(body) => CallOutcome::Response {
                    status,
                    headers,
                    body,
                },
                Err(e) => CallOutcome::Transport(describe(&e)),
            }
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}
