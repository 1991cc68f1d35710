//! Executor behaviour against small scripted SDKs (no Node needed): retries,
//! `X-Inngest-No-Retry`, `Retry-After`, missing SDK headers, loop bounds,
//! protocol violations, registration checks, the Event API, expression
//! filters and waits resolved by events sent during a run.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use inngest_testkit::{
    ExchangeKind, ExecError, Options, RunStatus, TestInngest, step_id_hash, verify_signature_header,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const APP: &str = "fake";

/// One call as the scripted SDK sees it.
#[derive(Clone)]
struct Call {
    fn_id: String,
    step_id: String,
    body: Value,
    headers: HeaderMap,
}

/// What the scripted SDK answers, and events it sends (like `step.sendEvent`)
/// before answering.
struct Answer {
    status: u16,
    body: Value,
    sdk_header: bool,
    extra: Vec<(&'static str, String)>,
    send_events: Vec<Value>,
}

impl Answer {
    fn ok(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body,
            sdk_header: true,
            extra: vec![("x-inngest-req-version", "2".into())],
            send_events: vec![],
        }
    }

    fn header(mut self, k: &'static str, v: &str) -> Answer {
        self.extra.push((k, v.to_string()));
        self
    }
}

type Script = Arc<dyn Fn(&Call) -> Answer + Send + Sync>;

#[derive(Clone)]
struct Sdk {
    base: String,
    functions: Value,
    script: Script,
    seen: Arc<Mutex<Vec<Call>>>,
    client: reqwest::Client,
}

/// Start a scripted SDK serving `functions` (function configs without the
/// `steps` entry: it is added with this server's URL).
async fn fake_sdk(inngest: &TestInngest, functions: Vec<Value>, script: Script) -> (url::Url, Sdk) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = format!("http://{addr}/api/inngest");
    let functions: Vec<Value> = functions
        .into_iter()
        .map(|mut f| {
            let id = f["id"].as_str().unwrap().to_string();
            let retries = f.as_object_mut().unwrap().remove("retries");
            let mut step = json!({"id": "step", "name": "step",
                "runtime": {"type": "http", "url": format!("{serve}?fnId={id}&stepId=step")}});
            if let Some(r) = retries {
                step["retries"] = json!({"attempts": r});
            }
            f["steps"] = json!({"step": step});
            f
        })
        .collect();
    let sdk = Sdk {
        base: inngest.base_url().to_string(),
        functions: json!({"url": serve, "deployType": "ping", "appName": APP, "sdk": "fake:v0.0.1",
                          "framework": "axum", "v": "0.1", "functions": functions}),
        script,
        seen: Arc::new(Mutex::new(Vec::new())),
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    };
    let app = Router::new()
        .route("/api/inngest", axum::routing::put(sync).post(call))
        .with_state(sdk.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url::Url::parse(&serve).unwrap(), sdk)
}

async fn sync(State(sdk): State<Sdk>) -> Response {
    let resp = sdk
        .client
        .post(format!("{}fn/register", sdk.base))
        .header("x-inngest-sdk", "fake:v0.0.1")
        .json(&sdk.functions)
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    (
        status,
        [("x-inngest-sdk", "fake:v0.0.1")],
        resp.text().await.unwrap(),
    )
        .into_response()
}

async fn call(
    State(sdk): State<Sdk>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap();
    let c = Call {
        fn_id: q["fnId"].clone(),
        step_id: q["stepId"].clone(),
        body,
        headers,
    };
    sdk.seen.lock().unwrap().push(c.clone());
    let answer = (sdk.script)(&c);
    for ev in &answer.send_events {
        let r = sdk
            .client
            .post(format!("{}e/any-key", sdk.base))
            .header("x-inngest-sdk", "fake:v0.0.1")
            .json(ev)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let mut resp = (
        StatusCode::from_u16(answer.status).unwrap(),
        answer.body.to_string(),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert("content-type", "application/json".parse().unwrap());
    if answer.sdk_header {
        h.insert("x-inngest-sdk", "fake:v0.0.1".parse().unwrap());
    }
    for (k, v) in answer.extra {
        h.insert(k, v.parse().unwrap());
    }
    resp
}

fn func(name: &str, event: &str) -> Value {
    json!({"id": format!("{APP}-{name}"), "name": name, "triggers": [{"event": event}]})
}

#[tokio::test]
async fn retry_after_is_recorded_not_waited_and_no_retry_wins() {
    let inngest = TestInngest::start(Options::dev()).await;
    let mut f = func("flaky", "t/flaky");
    f["retries"] = json!(3);
    let script: Script = Arc::new(|c: &Call| {
        let attempt = c.body["ctx"]["attempt"].as_u64().unwrap();
        let err = json!({"name": "Error", "message": format!("attempt {attempt}")});
        match attempt {
            0 => Answer::ok(500, err)
                .header("retry-after", "30")
                .header("x-inngest-no-retry", "false"),
            _ => Answer::ok(500, err).header("x-inngest-no-retry", "true"),
        }
    });
    let (url, _) = fake_sdk(&inngest, vec![f], script).await;
    inngest.sync(&url).await.unwrap();
    inngest.send(json!({"name": "t/flaky", "data": {}})).await;
    let started = Instant::now();
    inngest.run_until_idle().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "Retry-After must not be slept"
    );
    let run = &inngest.runs()[0];
    assert_eq!(run.max_attempts, 4);
    assert_eq!(run.calls, 2);
    assert_eq!(run.retries[0].retry_after, Some(Duration::from_secs(30)));
    assert!(run.retries[0].retried && !run.retries[1].retried);
    assert_eq!(
        run.error(),
        Some(&json!({"name": "Error", "message": "attempt 1"}))
    );
}

#[tokio::test]
async fn default_is_four_retries_and_a_bare_4xx_is_retried() {
    let inngest = TestInngest::start(Options::dev()).await;
    let script: Script =
        Arc::new(|_c: &Call| Answer::ok(400, json!({"name": "Error", "message": "bad"})));
    let (url, _) = fake_sdk(&inngest, vec![func("always-400", "t/400")], script).await;
    inngest.sync(&url).await.unwrap();
    inngest.send(json!({"name": "t/400"})).await;
    inngest.run_until_idle().await.unwrap();
    let run = &inngest.runs()[0];
    assert_eq!(run.max_attempts, 5);
    assert_eq!(run.calls, 5);
    let attempts: Vec<u32> = run.retries.iter().map(|r| r.attempt).collect();
    assert_eq!(attempts, [0, 1, 2, 3, 4]);
    assert!(matches!(run.status, RunStatus::Failed(_)));
}

#[tokio::test]
async fn a_2xx_without_the_sdk_header_is_a_failed_attempt() {
    let inngest = TestInngest::start(Options::dev()).await;
    let mut f = func("impostor", "t/imp");
    f["retries"] = json!(1);
    let script: Script = Arc::new(|_c: &Call| Answer {
        sdk_header: false,
        ..Answer::ok(200, json!("done"))
    });
    let (url, _) = fake_sdk(&inngest, vec![f], script).await;
    inngest.sync(&url).await.unwrap();
    inngest.send(json!({"name": "t/imp"})).await;
    inngest.run_until_idle().await.unwrap();
    let run = &inngest.runs()[0];
    assert_eq!(run.calls, 2);
    assert!(
        run.retries
            .iter()
            .all(|r| r.reason.contains("X-Inngest-SDK"))
    );
    assert!(matches!(run.status, RunStatus::Failed(_)));
}

#[tokio::test]
async fn a_looping_sdk_hits_the_call_limit() {
    let mut opts = Options::dev();
    opts.max_calls = 12;
    let inngest = TestInngest::start(opts).await;
    let n = Arc::new(AtomicU32::new(0));
    let script: Script = Arc::new(move |_c: &Call| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        Answer::ok(
            206,
            json!([{"op": "StepRun", "id": step_id_hash("again", i as usize), "name": "again", "data": i}]),
        )
    });
    let (url, _) = fake_sdk(&inngest, vec![func("loop", "t/loop")], script).await;
    inngest.sync(&url).await.unwrap();
    inngest.send(json!({"name": "t/loop"})).await;
    let err = inngest.run_until_idle().await.unwrap_err();
    assert!(
        matches!(err, ExecError::CallLimit { limit: 12, .. }),
        "{err}"
    );
    let run = &inngest.runs()[0];
    assert_eq!(run.calls, 12);
    assert_eq!(run.steps.len(), 12);
    assert!(matches!(run.status, RunStatus::Failed(_)));
    // Memoized state grows call by call.
    let stacks = inngest
        .exchanges()
        .iter()
        .filter(|e| e.kind == ExchangeKind::Call)
        .map(|e| e.request.body["ctx"]["stack"]["current"].as_u64().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(stacks, (0..12).collect::<Vec<u64>>());
}

#[tokio::test]
async fn protocol_violations_fail_loudly() {
    let inngest = TestInngest::start(Options::dev()).await;
    let script: Script = Arc::new(|c: &Call| match c.fn_id.as_str() {
        "fake-no-op" => Answer::ok(206, json!({"data": 1})),
        _ => Answer::ok(206, json!([{"op": "StepPlanned", "id": "aaa"}])),
    });
    let (url, _) = fake_sdk(&inngest, vec![func("no-op", "t/no-op")], script).await;
    inngest.sync(&url).await.unwrap();
    inngest.send(json!({"name": "t/no-op"})).await;
    let err = inngest.run_until_idle().await.unwrap_err();
    assert!(
        matches!(&err, ExecError::Protocol { detail, .. } if detail.contains("without `op`")),
        "{err}"
    );
}

#[tokio::test]
async fn a_planned_step_answered_with_another_op_is_a_violation() {
    let inngest = TestInngest::start(Options::dev()).await;
    let script: Script = Arc::new(|c: &Call| {
        if c.step_id == "step" {
            Answer::ok(
                206,
                json!([{"op": "StepPlanned", "id": "aaa"}, {"op": "StepPlanned", "id": "bbb"}]),
            )
        } else {
            Answer::ok(206, json!([{"op": "StepPlanned", "id": c.step_id}]))
        }
    });
    let (url, sdk) = fake_sdk(&inngest, vec![func("bad-plan", "t/bad")], script).await;
    inngest.sync(&url).await.unwrap();
    inngest.send(json!({"name": "t/bad"})).await;
    let err = inngest.run_until_idle().await.unwrap_err();
    assert!(
        matches!(&err, ExecError::Protocol { detail, .. } if detail.contains("call for step aaa")),
        "{err}"
    );
    let seen = sdk.seen.lock().unwrap();
    assert_eq!(seen[1].step_id, "aaa");
    assert_eq!(seen[1].body["ctx"]["disable_immediate_execution"], true);
    assert_eq!(seen[1].body["ctx"]["step_id"], "aaa");
}

#[tokio::test]
async fn invalid_registrations_are_reported() {
    let inngest = TestInngest::start(Options::dev()).await;
    let mut f = func("x", "t/x");
    f["name"] = json!("");
    f["triggers"] = json!([{"event": "t/x", "expression": "event.data.list.exists(i, i == 1)"}]);
    let script: Script = Arc::new(|_c: &Call| Answer::ok(200, Value::Null));
    let (url, _) = fake_sdk(&inngest, vec![f], script).await;
    let err = inngest.sync(&url).await.unwrap_err();
    let ExecError::InvalidRegistration(errs) = err else {
        panic!("{err}")
    };
    assert!(
        errs.iter().any(|e| e.contains("name is missing")),
        "{errs:?}"
    );
    assert!(errs.iter().any(|e| e.contains("expression")), "{errs:?}");
    assert!(inngest.registrations().is_empty());
}

#[tokio::test]
async fn cloud_calls_are_signed_and_the_event_api_checks_its_key() {
    let key = "signkey-test-00112233";
    let inngest = TestInngest::start(Options::cloud(key, "ev-key")).await;
    let mut f = func("filtered", "t/f");
    f["triggers"] =
        json!([{"event": "t/f", "expression": "event.data.x == 'y' && event.data.n >= 2"}]);
    let script: Script = Arc::new(|c: &Call| {
        let sig = c.headers["x-inngest-signature"].to_str().unwrap();
        let canonical = inngest_testkit::canonical_json(&c.body);
        assert!(verify_signature_header(
            sig,
            canonical.as_bytes(),
            "signkey-test-00112233"
        ));
        Answer::ok(200, json!({"n": c.body["event"]["data"]["n"]}))
    });
    let (url, _) = fake_sdk(&inngest, vec![f], script).await;
    // The scripted SDK sends no bearer token: refused in cloud mode.
    let err = inngest.sync(&url).await.unwrap_err();
    assert!(
        matches!(&err, ExecError::InvalidRegistration(e) if e[0].contains("not authorized")),
        "{err}"
    );

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let reg = client
        .post(format!("{}fn/register", inngest.base_url()))
        .header(
            "authorization",
            format!(
                "Bearer {}",
                inngest_testkit::hashed_signing_key(key).unwrap()
            ),
        )
        .header("x-inngest-sdk", "fake:v0.0.1")
        .json(&_register_body(&url))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 200);

    let wrong = client
        .post(format!("{}e/nope", inngest.base_url()))
        .json(&json!({"name": "t/f"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = client
        .post(format!("{}e/ev-key", inngest.base_url()))
        .json(&json!([
            {"name": "t/f", "data": {"x": "y", "n": 3}},
            {"name": "t/f", "data": {"x": "y", "n": 1}},
            {"name": "t/f", "data": {"x": "z", "n": 5}},
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["ids"].as_array().unwrap().len(), 3);
    inngest.run_until_idle().await.unwrap();
    let runs = inngest.runs();
    assert_eq!(
        runs.len(),
        1,
        "only the event matching the expression starts a run"
    );
    assert_eq!(runs[0].output(), Some(&json!({"n": 3})));

    // The run-state API an SDK reads when `use_api` is set: the events, then the step memo.
    let bearer = format!(
        "Bearer {}",
        inngest_testkit::hashed_signing_key(key).unwrap()
    );
    let state = |run: &str, part: &str| {
        client
            .get(format!("{}v0/runs/{run}/{part}", inngest.base_url()))
            .header("authorization", &bearer)
            .send()
    };
    let batch = state(&runs[0].id.0, "batch").await.unwrap();
    assert_eq!(batch.status(), 200);
    let batch: Value = batch.json().await.unwrap();
    assert_eq!(batch[0]["data"]["n"], 3, "{batch}");
    let actions = state(&runs[0].id.0, "actions").await.unwrap();
    assert_eq!(actions.status(), 200);
    assert!(actions.json::<Value>().await.unwrap().is_object());
    let missing = state("no-such-run", "batch").await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"],
        "run not found"
    );
    let other = state(&runs[0].id.0, "steps").await.unwrap();
    assert_eq!(other.status(), 404);
    assert!(
        other.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .starts_with("no route for GET"),
    );
    let unsigned = client
        .get(format!(
            "{}v0/runs/{}/actions",
            inngest.base_url(),
            runs[0].id.0
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    let events = inngest
        .exchanges()
        .into_iter()
        .filter(|e| e.kind == ExchangeKind::Event)
        .collect::<Vec<_>>();
    assert!(
        events.iter().all(|e| e.request.url == "/e/[redacted]"),
        "event keys are not recorded"
    );
    assert_eq!(events[0].auth_ok, Some(false));
}

fn _register_body(serve: &url::Url) -> Value {
    json!({"url": serve.as_str(), "deployType": "ping", "appName": APP, "sdk": "fake:v0.0.1",
      "functions": [{"id": "fake-filtered", "name": "filtered",
        "triggers": [{"event": "t/f", "expression": "event.data.x == 'y' && event.data.n >= 2"}],
        "steps": {"step": {"id": "step", "name": "step", "runtime": {"type": "http",
          "url": format!("{serve}?fnId=fake-filtered&stepId=step")}}}}]})
}

#[tokio::test]
async fn a_wait_is_resolved_by_an_event_another_run_sends_later() {
    let inngest = TestInngest::start(Options::dev()).await;
    let script: Script = Arc::new(|c: &Call| {
        let memo = c.body["steps"].as_object().unwrap();
        match c.fn_id.as_str() {
            "fake-waiter" => match memo.get(&step_id_hash("wait-done", 0)) {
                None => Answer::ok(
                    206,
                    json!([{"op": "WaitForEvent", "id": step_id_hash("wait-done", 0),
                    "name": "wait-done", "opts": {"event": "t/done", "timeout": "1h",
                    "if": "async.data.job == event.data.job"}}]),
                ),
                Some(ev) => Answer::ok(200, json!({"got": ev["name"], "by": ev["data"]["by"]})),
            },
            _ => Answer {
                send_events: vec![
                    json!({"name": "t/done", "data": {"job": "other", "by": "nobody"}}),
                    json!({"name": "t/done", "data": {"job": "j1", "by": "sender"}}),
                ],
                ..Answer::ok(200, json!("sent"))
            },
        }
    });
    let (url, _) = fake_sdk(
        &inngest,
        vec![func("waiter", "t/start"), func("sender", "t/start")],
        script,
    )
    .await;
    inngest.sync(&url).await.unwrap();
    assert_eq!(
        inngest
            .send(json!({"name": "t/start", "data": {"job": "j1"}}))
            .await
            .len(),
        2
    );
    inngest.run_until_idle().await.unwrap();
    let waiter = &inngest.runs_of("fake-waiter")[0];
    assert_eq!(
        waiter.output(),
        Some(&json!({"got": "t/done", "by": "sender"}))
    );
    assert!(waiter.waits[0].matched_event_id.is_some());
    // The finished-run lifecycle events were emitted too.
    let finished = inngest
        .events()
        .iter()
        .filter(|e| e["name"] == "inngest/function.finished")
        .count();
    assert_eq!(finished, 2);
}

#[tokio::test]
async fn cron_needs_a_cron_trigger() {
    let inngest = TestInngest::start(Options::dev()).await;
    let mut f = func("timer", "t/x");
    f["triggers"] = json!([{"cron": "TZ=Europe/Paris 0 9 * * 1"}]);
    let script: Script =
        Arc::new(|c: &Call| Answer::ok(200, c.body["event"]["data"]["cron"].clone()));
    let (url, _) = fake_sdk(&inngest, vec![f, func("plain", "t/plain")], script).await;
    inngest.sync(&url).await.unwrap();
    assert!(matches!(
        inngest.try_trigger_cron("fake-plain").await,
        Err(ExecError::NoCronTrigger(_))
    ));
    assert!(matches!(
        inngest.try_trigger_cron("fake-nope").await,
        Err(ExecError::UnknownFunction(_))
    ));
    let id = inngest.trigger_cron("fake-timer").await;
    inngest.run_until_idle().await.unwrap();
    assert_eq!(
        inngest.run(&id).unwrap().output(),
        Some(&json!("TZ=Europe/Paris 0 9 * * 1"))
    );
    assert!(
        inngest
            .try_send(json!({"name": "t/plain", "data": [1]}))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_resync_replaces_the_apps_functions() {
    let inngest = TestInngest::start(Options::dev()).await;
    let script: Script = Arc::new(|_c: &Call| Answer::ok(200, json!(1)));
    let (url, sdk) = fake_sdk(&inngest, vec![func("gone", "t/gone")], script).await;
    inngest.sync(&url).await.unwrap();
    // Same functions again: accepted, reported as unmodified.
    inngest.sync(&url).await.unwrap();
    let answers: Vec<Value> = inngest
        .exchanges()
        .into_iter()
        .filter(|e| e.kind == ExchangeKind::Register)
        .map(|e| e.response.unwrap().body["modified"].clone())
        .collect();
    assert_eq!(answers, [json!(true), json!(false)]);

    inngest.send(json!({"name": "t/gone"})).await;
    let mut body = sdk.functions.clone();
    body["functions"] = json!([]);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client
        .post(format!("{}fn/register", inngest.base_url()))
        .header("x-inngest-sdk", "fake:v0.0.1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    inngest.run_until_idle().await.unwrap();
    let run = &inngest.runs()[0];
    assert_eq!(run.calls, 0);
    assert!(
        run.error().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("no longer registered")
    );
    assert!(inngest.send(json!({"name": "t/gone"})).await.is_empty());
}

#[tokio::test]
async fn reporting_a_memoized_step_again_is_a_violation() {
    let inngest = TestInngest::start(Options::dev()).await;
    let script: Script = Arc::new(|_c: &Call| {
        Answer::ok(
            206,
            json!([{"op": "StepRun", "id": step_id_hash("once", 0), "name": "once", "data": 1}]),
        )
    });
    let (url, _) = fake_sdk(&inngest, vec![func("forgetful", "t/forget")], script).await;
    inngest.sync(&url).await.unwrap();
    inngest.send(json!({"name": "t/forget"})).await;
    let err = inngest.run_until_idle().await.unwrap_err();
    assert!(
        matches!(&err, ExecError::Protocol { detail, .. } if detail.contains("already memoized")),
        "{err}"
    );
    assert_eq!(inngest.runs()[0].calls, 2);
}

/// Calls of each run in completion order: `(run's event data "n", attempt)`.
fn call_order(inngest: &TestInngest) -> Vec<(u64, u32)> {
    let runs = inngest.runs();
    inngest
        .exchanges()
        .iter()
        .filter(|e| e.kind == ExchangeKind::Call)
        .filter_map(|e| {
            let run = runs.iter().find(|r| Some(&r.id) == e.run_id.as_ref())?;
            Some((run.event["data"]["n"].as_u64()?, e.attempt?))
        })
        .collect()
}

/// As in Inngest, a concurrency limit counts executing steps: a run that sleeps, or waits for
/// the retry of a failed attempt, gives up its slot, and a queued run of the same key uses it;
/// an in-progress run otherwise keeps going ahead of later runs.
#[tokio::test]
async fn a_sleeping_or_retrying_run_holds_no_concurrency_slot() {
    let inngest = TestInngest::start(Options::dev()).await;
    let mut f = func("keyed", "t/keyed");
    f["concurrency"] = json!([{"limit": 1, "key": "event.data.k"}]);
    let sleep = step_id_hash("nap", 0);
    let script: Script = Arc::new(move |c: &Call| {
        let memo = c.body["steps"].as_object().unwrap();
        let data = &c.body["event"]["data"];
        let attempt = c.body["ctx"]["attempt"].as_u64().unwrap();
        match data["mode"].as_str().unwrap_or_default() {
            "sleep" if !memo.contains_key(&sleep) => Answer::ok(
                206,
                json!([{"op": "Sleep", "id": sleep, "name": "1m", "opts": {"duration": "1m"}}]),
            ),
            "fail-once" if attempt == 0 => {
                Answer::ok(500, json!({"name": "Error", "message": "flaky"}))
                    .header("x-inngest-no-retry", "false")
            }
            _ => Answer::ok(200, json!("done")),
        }
    });
    let (url, _) = fake_sdk(&inngest, vec![f], script).await;
    inngest.sync(&url).await.unwrap();

    for (n, mode) in [(1, "sleep"), (2, "plain"), (3, "fail-once"), (4, "plain")] {
        inngest
            .send(json!({"name": "t/keyed", "data": {"k": "one", "n": n, "mode": mode}}))
            .await;
    }
    inngest.run_until_idle().await.unwrap();
    assert!(inngest.runs().iter().all(|r| r.output().is_some()));
    assert_eq!(
        call_order(&inngest),
        [(1, 0), (2, 0), (3, 0), (4, 0), (1, 0), (3, 1)],
        "2, 3 and 4 run while 1 sleeps, 4 while 3 waits for its retry"
    );
}
