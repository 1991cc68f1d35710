//! The serve endpoint driven in-process (`oneshot`), one request at a time, checking the
//! wire answers against the protocol.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http::HeaderMap;
use inngest::{
    Client, Config, Ctx, Error, Event, Invoke, SigningKey, Trigger, WaitForEvent, function,
    hash_step_id, serve, sign,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const KEY: &str = "signkey-test-12345678";
const FALLBACK: &str = "signkey-test-abcdef00";

fn base() -> url::Url {
    // Nothing listens here; tests that reach the network use their own fakes.
    url::Url::parse("http://127.0.0.1:9").unwrap()
}

fn functions() -> Vec<inngest::ServableFunction> {
    #[derive(Deserialize)]
    struct Data {
        project_id: String,
    }
    let two = function("two-steps", "Two steps")
        .trigger(Trigger::event("t/two"))
        .handler(|ctx: Ctx<Data>| async move {
            let a: String = ctx
                .step
                .run("first", || async { Ok::<_, Error>("A".to_string()) })
                .await?;
            let b: u32 = ctx
                .step
                .run("second", || async { Ok::<_, Error>(2) })
                .await?;
            Ok(json!({ "project": ctx.event.data.project_id, "a": a, "b": b }))
        });
    let parallel = function("parallel", "Parallel")
        .trigger(Trigger::event("t/par"))
        .handler(|ctx: Ctx<Value>| async move {
            let s = &ctx.step;
            let (x, y, z) = futures::join!(
                s.run("fetch", || async { Ok::<_, Error>(1) }),
                s.run("fetch", || async { Ok::<_, Error>(2) }),
                s.run("other", || async { Ok::<_, Error>(3) }),
            );
            Ok(x? + y? + z?)
        });
    let failing = function("failing", "Failing")
        .trigger(Trigger::event("t/fail"))
        .retries(1)
        .handler(|ctx: Ctx<Value>| async move {
            let kind = ctx.event.data["kind"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match kind.as_str() {
                "fn-retriable" => Err(Error::retriable("flaky")),
                "fn-final" => Err(Error::non_retriable("bad input")),
                "fn-later" => Err(Error::retry_after("rate limited", Duration::from_secs(30))),
                "panic" => panic!("kaboom"),
                _ => {
                    ctx.step
                        .run("boom", || async {
                            Err::<u32, _>(Error::retriable("step broke"))
                        })
                        .await?;
                    Ok(0)
                }
            }
        });
    let asyncs = function("asyncs", "Async ops")
        .trigger(Trigger::event("t/async"))
        .handler(|ctx: Ctx<Value>| async move {
            ctx.step.sleep("nap", Duration::from_secs(90)).await?;
            let got = ctx
                .step
                .wait_for_event(
                    "approval",
                    WaitForEvent {
                        event: "t/approved".into(),
                        timeout: Duration::from_secs(3600),
                        if_expr: Some("async.data.id == event.data.id".into()),
                    },
                )
                .await?;
            let sum: u32 = ctx
                .step
                .invoke(
                    "call-adder",
                    Invoke {
                        function_id: "two-steps".into(),
                        data: json!({"project_id": "p"}),
                        timeout: Some(Duration::from_secs(600)),
                    },
                )
                .await?;
            let ids = ctx
                .step
                .send_event("emit", vec![Event::new("t/next", json!({"x": 1}))?])
                .await?;
            Ok(json!({ "approved": got.is_some(), "sum": sum, "ids": ids }))
        });
    vec![two, parallel, failing, asyncs]
}

fn dev_router() -> Router {
    serve(
        Client::new(Config::dev("app", base()), reqwest::Client::new()),
        functions(),
    )
}

fn cloud_router() -> Router {
    let mut config = Config::cloud("app", base(), SigningKey::new(KEY).unwrap());
    config.signing_key_fallback = Some(SigningKey::new(FALLBACK).unwrap());
    serve(Client::new(config, reqwest::Client::new()), functions())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    raw: Vec<u8>,
    body: Value,
}

async fn send(router: &Router, req: Request<Body>) -> Answer {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        raw,
        body,
    }
}

fn call_body(data: Value, steps: Value, attempt: u32, disable_immediate: bool) -> Vec<u8> {
    let event = json!({"name": "t/x", "data": data, "id": "ev1", "ts": 1, "user": {}});
    serde_json::to_vec(&json!({
        "event": event, "events": [event], "steps": steps,
        "ctx": {"run_id": "run-1", "attempt": attempt, "max_attempts": 2,
                "disable_immediate_execution": disable_immediate, "use_api": false,
                "stack": {"stack": [], "current": 0}},
        "version": 2, "use_api": false
    }))
    .unwrap()
}

fn post(fn_id: &str, step_id: &str, body: Vec<u8>, signature: Option<String>) -> Request<Body> {
    let mut b = Request::post(format!("/api/inngest?fnId=app-{fn_id}&stepId={step_id}"))
        .header("content-type", "application/json");
    if let Some(s) = signature {
        b = b.header("x-inngest-signature", s);
    }
    b.body(Body::from(body)).unwrap()
}

async fn call(router: &Router, fn_id: &str, step_id: &str, body: Vec<u8>) -> Answer {
    send(router, post(fn_id, step_id, body, None)).await
}

/// The first call of a run (attempt 0, no memoized steps) for an event carrying `data`.
async fn first_call(router: &Router, fn_id: &str, data: Value) -> Answer {
    call(router, fn_id, "step", call_body(data, json!({}), 0, false)).await
}

fn assert_sdk_headers(a: &Answer) {
    assert_eq!(a.headers["x-inngest-sdk"], inngest::SDK_IDENT);
    assert_eq!(a.headers["x-inngest-req-version"], "2");
    assert_eq!(a.headers["content-type"], "application/json");
    assert_eq!(a.headers["x-inngest-framework"], "axum");
    assert_eq!(a.headers["x-inngest-sdk-handled"], "true");
}

#[tokio::test]
async fn discovery_runs_a_single_new_step_immediately_then_completes() {
    let r = dev_router();
    let a = first_call(&r, "two-steps", json!({"project_id": "p1"})).await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_sdk_headers(&a);
    assert_eq!(
        a.body,
        json!([{"id": hash_step_id("first"), "op": "StepRun", "name": "first",
                "displayName": "first", "opts": {}, "data": "A", "userland": {"id": "first"}}])
    );

    let memo = json!({ hash_step_id("first"): {"data": "A"} });
    let a = call(
        &r,
        "two-steps",
        "step",
        call_body(json!({"project_id": "p1"}), memo, 0, false),
    )
    .await;
    assert_eq!(a.body[0]["op"], "StepRun");
    assert_eq!(a.body[0]["id"], hash_step_id("second"));
    assert_eq!(a.body[0]["data"], 2);

    let memo = json!({ hash_step_id("first"): {"data": "A"}, hash_step_id("second"): {"data": 2} });
    let a = call(
        &r,
        "two-steps",
        "step",
        call_body(json!({"project_id": "p1"}), memo, 0, false),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_sdk_headers(&a);
    assert_eq!(a.body, json!({"project": "p1", "a": "A", "b": 2}));
}

#[tokio::test]
async fn disabled_immediate_execution_plans_instead_of_running() {
    let r = dev_router();
    let a = call(
        &r,
        "two-steps",
        "step",
        call_body(json!({"project_id": "p"}), json!({}), 0, true),
    )
    .await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(a.body[0]["op"], "StepPlanned");
    assert!(a.body[0].get("data").is_none());
    // The executor then targets the planned step.
    let a = call(
        &r,
        "two-steps",
        &hash_step_id("first"),
        call_body(json!({"project_id": "p"}), json!({}), 0, true),
    )
    .await;
    assert_eq!(a.body[0]["op"], "StepRun");
    assert_eq!(a.body[0]["data"], "A");
}

#[tokio::test]
async fn parallel_steps_are_reported_together_and_run_by_target() {
    let r = dev_router();
    let a = first_call(&r, "parallel", json!({})).await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    let ops = a.body.as_array().unwrap();
    assert_eq!(ops.len(), 3);
    assert!(ops.iter().all(|o| o["op"] == "StepPlanned"));
    let ids: Vec<&str> = ops.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            hash_step_id("fetch"),
            hash_step_id("fetch:1"),
            hash_step_id("other")
        ]
    );
    assert_eq!(ops[1]["userland"], json!({"id": "fetch", "index": 1}));

    // Targeted call for the repeated id runs only that step.
    let a = call(
        &r,
        "parallel",
        &hash_step_id("fetch:1"),
        call_body(json!({}), json!({}), 0, true),
    )
    .await;
    assert_eq!(a.body.as_array().unwrap().len(), 1);
    assert_eq!(a.body[0]["op"], "StepRun");
    assert_eq!(a.body[0]["data"], 2);

    let memo = json!({
        hash_step_id("fetch"): {"data": 1},
        hash_step_id("fetch:1"): {"data": 2},
        hash_step_id("other"): {"data": 3},
    });
    let a = call(&r, "parallel", "step", call_body(json!({}), memo, 0, false)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, json!(6));
}

#[tokio::test]
async fn targeted_step_not_reached_is_a_500() {
    let r = dev_router();
    let a = call(
        &r,
        "two-steps",
        &hash_step_id("nope"),
        call_body(json!({"project_id": "p"}), json!({}), 0, true),
    )
    .await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(a.headers["x-inngest-no-retry"], "false");
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains(&hash_step_id("nope"))
    );
}

#[tokio::test]
async fn step_errors_follow_attempts_and_memoized_failures_end_the_run() {
    let r = dev_router();
    let data = json!({"kind": "step"});
    let a = first_call(&r, "failing", data.clone()).await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(a.headers["x-inngest-no-retry"], "false");
    assert_eq!(a.body[0]["op"], "StepError");
    assert_eq!(a.body[0]["error"]["message"], "step broke");

    // max_attempts is 2: attempt 1 is the last one.
    let a = call(
        &r,
        "failing",
        "step",
        call_body(data.clone(), json!({}), 1, false),
    )
    .await;
    assert_eq!(a.headers["x-inngest-no-retry"], "true");
    assert_eq!(a.body[0]["op"], "StepFailed");

    let memo =
        json!({ hash_step_id("boom"): {"error": {"name": "Error", "message": "step broke"}} });
    let a = call(&r, "failing", "step", call_body(data, memo, 0, false)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.headers["x-inngest-no-retry"], "true");
    assert_eq!(a.body["message"], "step broke");
}

#[tokio::test]
async fn function_errors_map_to_status_and_retry_headers() {
    let r = dev_router();
    let a = first_call(&r, "failing", json!({"kind": "fn-retriable"})).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(a.headers["x-inngest-no-retry"], "false");
    assert_eq!(a.body["message"], "flaky");
    assert_sdk_headers(&a);

    let a = first_call(&r, "failing", json!({"kind": "fn-final"})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.headers["x-inngest-no-retry"], "true");

    let a = first_call(&r, "failing", json!({"kind": "fn-later"})).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(a.headers["retry-after"], "30");

    let a = first_call(&r, "failing", json!({"kind": "panic"})).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(a.body["message"].as_str().unwrap().contains("kaboom"));
}

#[tokio::test]
async fn bad_payload_is_non_retriable_and_names_the_field() {
    let r = dev_router();
    let a = first_call(&r, "two-steps", json!({"projectId": "camel"})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.headers["x-inngest-no-retry"], "true");
    let msg = a.body["message"].as_str().unwrap();
    assert!(msg.contains("project_id"), "{msg}");
}

#[tokio::test]
async fn async_ops_have_the_wire_shapes() {
    let r = dev_router();
    let a = first_call(&r, "asyncs", json!({"id": 1})).await;
    assert_eq!(
        a.body,
        json!([{"id": hash_step_id("nap"), "op": "Sleep", "name": "1m30s", "displayName": "nap",
                "opts": {"duration": "1m30s"}, "userland": {"id": "nap"}}])
    );
    let mut memo = json!({ hash_step_id("nap"): null });
    let a = call(
        &r,
        "asyncs",
        "step",
        call_body(json!({"id": 1}), memo.clone(), 0, false),
    )
    .await;
    assert_eq!(a.body[0]["op"], "WaitForEvent");
    assert_eq!(a.body[0]["name"], "t/approved");
    assert_eq!(
        a.body[0]["opts"],
        json!({"event": "t/approved", "timeout": "1h", "if": "async.data.id == event.data.id"})
    );
    memo[hash_step_id("approval")] = json!({"name": "t/approved", "data": {"id": 1}, "ts": 5});
    let a = call(
        &r,
        "asyncs",
        "step",
        call_body(json!({"id": 1}), memo.clone(), 0, false),
    )
    .await;
    assert_eq!(a.body[0]["op"], "InvokeFunction");
    assert_eq!(
        a.body[0]["opts"],
        json!({"function_id": "app-two-steps", "payload": {"data": {"project_id": "p"}}, "timeout": "10m"})
    );
    memo[hash_step_id("call-adder")] = json!({"data": 7});
    // A single sendEvent step runs immediately; with it disabled it is planned with its type.
    let a = call(
        &r,
        "asyncs",
        "step",
        call_body(json!({"id": 1}), memo.clone(), 0, true),
    )
    .await;
    assert_eq!(
        a.body[0],
        json!({"id": hash_step_id("emit"), "op": "StepPlanned", "name": "sendEvent",
               "displayName": "emit", "opts": {"type": "step.sendEvent"}, "userland": {"id": "emit"}})
    );
    memo[hash_step_id("emit")] = json!({"data": {"ids": ["e1"]}});
    let a = call(
        &r,
        "asyncs",
        "step",
        call_body(json!({"id": 1}), memo, 0, false),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, json!({"approved": true, "sum": 7, "ids": ["e1"]}));
}

#[tokio::test]
async fn unknown_function_and_other_methods() {
    let r = dev_router();
    let a = first_call(&r, "missing", json!({})).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(a.body["message"].as_str().unwrap().contains("app-missing"));
    let a = send(
        &r,
        Request::delete("/api/inngest").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_sdk_headers(&a);
}

#[tokio::test]
async fn dev_introspection_is_unauthenticated() {
    let r = dev_router();
    let a = send(
        &r,
        Request::get("/api/inngest").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_sdk_headers(&a);
    assert_eq!(a.body["mode"], "dev");
    assert_eq!(a.body["function_count"], 4);
    assert_eq!(a.body["schema_version"], "2024-05-24");
    assert!(a.body.get("signing_key_hash").is_none());
}

// ---- cloud mode: signatures ------------------------------------------------------------

fn signed(key: &str, body: &[u8], ts: i64) -> String {
    sign(&SigningKey::new(key).unwrap(), body, ts)
}

fn assert_unauthorized(a: &Answer) {
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body, json!({"message": "Unauthorized"}));
    assert!(a.headers.get("x-inngest-sdk").is_none());
    assert!(a.headers.get("x-inngest-signature").is_none());
}

fn verify_response(a: &Answer, key: &str) {
    let header = a.headers["x-inngest-signature"].to_str().unwrap();
    let t: i64 = header
        .split('&')
        .next()
        .unwrap()
        .trim_start_matches("t=")
        .parse()
        .unwrap();
    assert_eq!(header, signed(key, &a.raw, t));
}

#[tokio::test]
async fn cloud_calls_require_a_valid_fresh_signature() {
    let r = cloud_router();
    let body = call_body(json!({"project_id": "p"}), json!({}), 0, false);

    let a = send(&r, post("two-steps", "step", body.clone(), None)).await;
    assert_unauthorized(&a);

    let wrong = signed("signkey-test-99999999", &body, now());
    assert_unauthorized(&send(&r, post("two-steps", "step", body.clone(), Some(wrong))).await);

    let mut tampered = body.clone();
    let pos = tampered.iter().position(|b| *b == b'p').unwrap();
    tampered[pos] = b'q';
    let sig = signed(KEY, &body, now());
    assert_unauthorized(&send(&r, post("two-steps", "step", tampered, Some(sig))).await);

    let expired = signed(KEY, &body, now() - 3600);
    assert_unauthorized(&send(&r, post("two-steps", "step", body.clone(), Some(expired))).await);

    assert_unauthorized(
        &send(
            &r,
            post("two-steps", "step", body.clone(), Some("garbage".into())),
        )
        .await,
    );

    let ok = signed(KEY, &body, now());
    let a = send(&r, post("two-steps", "step", body.clone(), Some(ok))).await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_sdk_headers(&a);
    verify_response(&a, KEY);

    let fb = signed(FALLBACK, &body, now());
    let a = send(&r, post("two-steps", "step", body, Some(fb))).await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    // Answers are signed with the key that verified the request.
    verify_response(&a, FALLBACK);
}

#[tokio::test]
async fn cloud_introspection_and_trust_probe() {
    let r = cloud_router();
    assert_unauthorized(
        &send(
            &r,
            Request::get("/api/inngest").body(Body::empty()).unwrap(),
        )
        .await,
    );
    let req = Request::get("/api/inngest")
        .header("x-inngest-signature", signed(KEY, b"", now()))
        .body(Body::empty())
        .unwrap();
    let a = send(&r, req).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["authentication_succeeded"], true);
    assert_eq!(a.body["mode"], "cloud");
    assert_eq!(a.body["sdk_language"], "rust");
    // Like the JS SDK (observed: 12 hex of the hash, no prefix), never the full Bearer token.
    let hashed = SigningKey::new(KEY).unwrap().hashed();
    let body = hashed.rsplit('-').next().unwrap();
    assert_eq!(a.body["signing_key_hash"], body[..12]);
    assert!(!a.raw.windows(20).any(|w| w == &body.as_bytes()[..20]));
    assert!(!a.raw.windows(8).any(|w| w == b"12345678"));
    verify_response(&a, KEY);

    let probe = |sig: Option<String>| {
        let mut b = Request::post("/api/inngest?probe=trust");
        if let Some(s) = sig {
            b = b.header("x-inngest-signature", s);
        }
        b.body(Body::empty()).unwrap()
    };
    assert_unauthorized(&send(&r, probe(None)).await);
    let a = send(&r, probe(Some(signed(KEY, b"", now())))).await;
    assert_eq!(a.status, StatusCode::OK);
    verify_response(&a, KEY);
}

#[tokio::test]
async fn cloud_sync_rules() {
    let r = cloud_router();
    // Unsigned out-of-band sync is refused by default in cloud mode.
    let req = Request::put("/api/inngest")
        .header("host", "app:3000")
        .body(Body::empty())
        .unwrap();
    assert_unauthorized(&send(&r, req).await);

    // Signed in-band sync is answered inline, signed, without calling /fn/register.
    let body = br#"{"url":"https://autofix.example.com/api/inngest"}"#.to_vec();
    let req = Request::put("/api/inngest")
        .header("x-inngest-sync-kind", "in_band")
        .header("x-inngest-signature", signed(KEY, &body, now()))
        .body(Body::from(body.clone()))
        .unwrap();
    let a = send(&r, req).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["x-inngest-sync-kind"], "in_band");
    verify_response(&a, KEY);
    assert_eq!(a.body["app_id"], "app");
    assert_eq!(a.body["sdk"], inngest::SDK_IDENT);
    assert_eq!(a.body["functions"].as_array().unwrap().len(), 4);
    assert_eq!(
        a.body["functions"][0]["steps"]["step"]["runtime"]["url"],
        "https://autofix.example.com/api/inngest?fnId=app-two-steps&stepId=step"
    );
    assert_eq!(a.body["inspection"]["authentication_succeeded"], true);

    let req = Request::put("/api/inngest")
        .header("x-inngest-sync-kind", "in_band")
        .body(Body::from(body))
        .unwrap();
    assert_unauthorized(&send(&r, req).await);
}

#[tokio::test]
async fn body_limit_is_above_axum_default() {
    let r = dev_router();
    // 3 MiB of memo: more than axum's 2 MB default, less than Inngest's 4 MiB.
    let big = "x".repeat(3 * 1024 * 1024);
    let memo = json!({ hash_step_id("first"): {"data": big} });
    let a = call(
        &r,
        "two-steps",
        "step",
        call_body(json!({"project_id": "p"}), memo, 0, false),
    )
    .await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT, "{:?}", a.body);
    assert_eq!(a.body[0]["id"], hash_step_id("second"));
}

#[tokio::test]
async fn use_api_loads_events_and_memo_with_the_hashed_key() {
    use axum::extract::Path;
    use axum::routing::get;
    let seen_auth = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let auth = seen_auth.clone();
    let api = Router::new()
        .route(
            "/v0/runs/{run}/batch",
            get(|Path(run): Path<String>| async move {
                assert_eq!(run, "run-1");
                axum::Json(json!([{"name": "t/x", "data": {"project_id": "from-api"}, "user": {}}]))
            }),
        )
        .route(
            "/v0/runs/{run}/actions",
            get(move |headers: HeaderMap| async move {
                auth.lock().unwrap().push(headers["authorization"].to_str().unwrap().to_owned());
                axum::Json(json!({ hash_step_id("first"): {"data": "A"}, hash_step_id("second"): {"data": 2} }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });
    let base = url::Url::parse(&format!("http://{addr}")).unwrap();
    let key = SigningKey::new(KEY).unwrap();
    let r = serve(
        Client::new(
            Config::cloud("app", base, key.clone()),
            reqwest::Client::new(),
        ),
        functions(),
    );

    let body = serde_json::to_vec(&json!({
        "event": {}, "events": [], "steps": {},
        "ctx": {"run_id": "run-1", "attempt": 0, "use_api": true},
        "version": 2, "use_api": true
    }))
    .unwrap();
    let sig = signed(KEY, &body, now());
    let a = send(&r, post("two-steps", "step", body, Some(sig))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body, json!({"project": "from-api", "a": "A", "b": 2}));
    assert_eq!(
        seen_auth.lock().unwrap()[0],
        format!("Bearer {}", key.hashed())
    );
}

#[tokio::test]
async fn use_api_failure_is_a_retriable_500() {
    let r = dev_router(); // its API origin has nothing listening
    let body = serde_json::to_vec(&json!({"ctx": {"run_id": "r"}, "use_api": true})).unwrap();
    let a = call(&r, "two-steps", "step", body).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(a.headers["x-inngest-no-retry"], "false");
}

#[tokio::test]
async fn step_retry_after_sets_the_header() {
    let f = function("later", "Later")
        .trigger(Trigger::event("t/later"))
        .handler(|ctx: Ctx<Value>| async move {
            ctx.step
                .run("call-llm", || async {
                    Err::<(), _>(Error::retry_after(
                        "429 from provider",
                        Duration::from_secs(20),
                    ))
                })
                .await?;
            Ok(())
        });
    let r = serve(
        Client::new(Config::dev("app", base()), reqwest::Client::new()),
        vec![f],
    );
    let a = first_call(&r, "later", json!({})).await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(a.body[0]["op"], "StepError");
    assert_eq!(a.body[0]["error"]["name"], "RetryAfterError");
    assert_eq!(a.headers["retry-after"], "20");
    assert_eq!(a.headers["x-inngest-no-retry"], "false");
}

#[tokio::test]
async fn redelivered_call_for_a_memoized_step_continues_the_run() {
    let r = dev_router();
    let memo = json!({ hash_step_id("first"): {"data": "A"} });
    let a = call(
        &r,
        "two-steps",
        &hash_step_id("first"),
        call_body(json!({"project_id": "p"}), memo, 0, true),
    )
    .await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(a.body[0]["op"], "StepPlanned");
    assert_eq!(a.body[0]["id"], hash_step_id("second"));
}

#[tokio::test]
async fn oversized_step_output_fails_the_step_for_good() {
    let f = function("big", "Big")
        .trigger(Trigger::event("t/big"))
        .handler(|ctx: Ctx<Value>| async move {
            ctx.step
                .run("huge", || async {
                    Ok::<_, Error>("x".repeat(inngest::MAX_STEP_OUTPUT_BYTES))
                })
                .await?;
            Ok(())
        });
    let r = serve(
        Client::new(Config::dev("app", base()), reqwest::Client::new()),
        vec![f],
    );
    let a = first_call(&r, "big", json!({})).await;
    assert_eq!(a.body[0]["op"], "StepFailed");
    assert_eq!(a.body[0]["error"]["name"], "StepOutputTooLarge");
    assert_eq!(a.headers["x-inngest-no-retry"], "true");
}

fn wide_router(n: u32) -> Router {
    let f = function("wide", "Wide")
        .trigger(Trigger::event("t/wide"))
        .handler(move |ctx: Ctx<Value>| async move {
            // More than 30 futures: join_all switches to FuturesOrdered, which only polls
            // children that were woken.
            let results = futures::future::join_all((0..n).map(|i| {
                ctx.step.run(
                    &format!("part-{i}"),
                    move || async move { Ok::<_, Error>(i) },
                )
            }))
            .await;
            let mut sum = 0;
            for r in results {
                sum += r?;
            }
            Ok(sum)
        });
    serve(
        Client::new(Config::dev("app", base()), reqwest::Client::new()),
        vec![f],
    )
}

#[tokio::test]
async fn wide_join_all_plans_runs_by_target_and_runs_the_last_one_immediately() {
    let n = 40;
    let r = wide_router(n);
    let a = first_call(&r, "wide", json!({})).await;
    assert_eq!(a.body.as_array().unwrap().len(), n as usize);
    assert!(
        a.body
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["op"] == "StepPlanned")
    );

    let a = call(
        &r,
        "wide",
        &hash_step_id("part-35"),
        call_body(json!({}), json!({}), 0, true),
    )
    .await;
    assert_eq!(
        a.body,
        json!([{"id": hash_step_id("part-35"), "op": "StepRun", "name": "part-35",
        "displayName": "part-35", "opts": {}, "data": 35, "userland": {"id": "part-35"}}])
    );

    let mut memo = serde_json::Map::new();
    for i in 0..n - 1 {
        memo.insert(hash_step_id(&format!("part-{i}")), json!({"data": i}));
    }
    let a = call(
        &r,
        "wide",
        "step",
        call_body(json!({}), Value::Object(memo.clone()), 0, false),
    )
    .await;
    assert_eq!(a.body[0]["op"], "StepRun");
    assert_eq!(a.body[0]["data"], n - 1);

    memo.insert(
        hash_step_id(&format!("part-{}", n - 1)),
        json!({"data": n - 1}),
    );
    let a = call(
        &r,
        "wide",
        "step",
        call_body(json!({}), Value::Object(memo), 0, false),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, json!((0..n).sum::<u32>()));
}
