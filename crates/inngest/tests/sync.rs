//! Out-of-band sync against a fake `/fn/register`.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::post;
use inngest::{Client, Config, Ctx, SigningKey, SyncError, Trigger, function, register, serve};
use serde_json::{Value, json};
use std::collections::HashMap;
use tower::ServiceExt as _;

#[derive(Clone, Debug)]
struct Seen {
    headers: HeaderMap,
    query: HashMap<String, String>,
    body: Value,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Bearer tokens the fake accepts (empty = accept anything).
    accept: Arc<Vec<String>>,
}

async fn fake_register() -> (url::Url, Fake) {
    fake_register_accepting(vec![]).await
}

async fn fake_register_accepting(accept: Vec<String>) -> (url::Url, Fake) {
    let fake = Fake {
        accept: Arc::new(accept),
        ..Default::default()
    };
    let app = axum::Router::new()
        .route(
            "/fn/register",
            post(
                |State(f): State<Fake>,
                 Query(query): Query<HashMap<String, String>>,
                 headers: HeaderMap,
                 Json(body): Json<Value>| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    f.seen.lock().unwrap().push(Seen {
                        headers,
                        query,
                        body,
                    });
                    if !f.accept.is_empty() && !f.accept.contains(&auth) {
                        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "bad key"})));
                    }
                    (
                        StatusCode::OK,
                        Json(json!({"ok": true, "modified": true, "app_id": "u"})),
                    )
                },
            ),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url::Url::parse(&format!("http://{addr}")).unwrap(), fake)
}

fn functions() -> Vec<inngest::ServableFunction> {
    vec![
        function("monitor-project-health", "Monitor project health")
            .trigger(Trigger::cron("*/10 * * * *").unwrap())
            .trigger(Trigger::event("autofix/project.health.check.requested"))
            .handler(|_ctx: Ctx<Value>| async { Ok(()) }),
        function("generate-fix", "Generate fix")
            .trigger(Trigger::event("autofix/fix.requested"))
            .retries(2)
            .handler(|_ctx: Ctx<Value>| async { Ok(()) }),
    ]
}

#[tokio::test]
async fn dev_put_registers_with_the_official_body_shape() {
    let (base, fake) = fake_register().await;
    let client = Client::new(Config::dev("autofix-ref", base), reqwest::Client::new());
    let router = serve(client, functions());
    let req = Request::put("/api/inngest?deployId=d-1")
        .header("host", "127.0.0.1:3939")
        .header("x-inngest-server-kind", "dev")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"url":"http://127.0.0.1:3939/api/inngest"}"#))
        .unwrap();
    let resp = router.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-inngest-sync-kind"], "out_of_band");
    assert_eq!(resp.headers()["x-inngest-sdk"], inngest::SDK_IDENT);
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["modified"], true);

    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.query.get("deployId").map(String::as_str), Some("d-1"));
    assert_eq!(s.headers["x-inngest-expected-server-kind"], "dev");
    assert_eq!(s.headers["x-inngest-sync-kind"], "out_of_band");
    assert_eq!(s.headers["x-inngest-sdk"], inngest::SDK_IDENT);
    assert!(s.headers.get("authorization").is_none());
    let b = &s.body;
    assert_eq!(b["url"], "http://127.0.0.1:3939/api/inngest");
    assert_eq!(b["deployType"], "ping");
    assert_eq!(b["appName"], "autofix-ref");
    assert_eq!(b["framework"], "axum");
    assert_eq!(b["v"], "0.1");
    assert_eq!(b["sdk"], inngest::SDK_IDENT);
    assert_eq!(
        b["capabilities"],
        json!({"trust_probe": "v1", "in_band_sync": "v1"})
    );
    // Function configs exactly as the TS SDK 4.24.0 sent them (fixtures/inngest-ts-sdk).
    assert_eq!(
        b["functions"],
        json!([
            {"id":"autofix-ref-monitor-project-health","name":"Monitor project health",
             "triggers":[{"cron":"*/10 * * * *"},{"event":"autofix/project.health.check.requested"}],
             "steps":{"step":{"id":"step","name":"step","runtime":{"type":"http",
               "url":"http://127.0.0.1:3939/api/inngest?fnId=autofix-ref-monitor-project-health&stepId=step"}}}},
            {"id":"autofix-ref-generate-fix","name":"Generate fix",
             "triggers":[{"event":"autofix/fix.requested"}],
             "steps":{"step":{"id":"step","name":"step","runtime":{"type":"http",
               "url":"http://127.0.0.1:3939/api/inngest?fnId=autofix-ref-generate-fix&stepId=step"},
               "retries":{"attempts":2}}}}
        ])
    );
}

#[tokio::test]
async fn serve_origin_overrides_forwarded_headers() {
    let (base, fake) = fake_register().await;
    let mut config = Config::dev("a", base);
    config.serve_origin = Some("https://public.example.com".into());
    let router = serve(Client::new(config, reqwest::Client::new()), functions());
    let req = Request::put("/api/inngest")
        .header("host", "internal.railway.internal:8080")
        .header("x-forwarded-proto", "http")
        .body(Body::empty())
        .unwrap();
    assert_eq!(router.oneshot(req).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        fake.seen.lock().unwrap()[0].body["url"],
        "https://public.example.com/api/inngest"
    );
}

#[tokio::test]
async fn cloud_register_uses_hashed_key_then_fallback() {
    let primary = SigningKey::new("signkey-prod-12345678").unwrap();
    let fallback = SigningKey::new("signkey-prod-abcdef00").unwrap();
    let (base, fake) = fake_register_accepting(vec![format!("Bearer {}", fallback.hashed())]).await;
    let mut config = Config::cloud("agent", base, primary.clone());
    config.signing_key_fallback = Some(fallback.clone());
    let client = Client::new(config, reqwest::Client::new());
    let url = url::Url::parse("https://autofix.example.com/api/inngest").unwrap();
    let outcome = register(&client, &functions(), &url).await.unwrap();
    assert!(outcome.modified);
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].headers["authorization"],
        "Bearer signkey-prod-b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c"
    );
    assert_eq!(
        seen[1].headers["authorization"].to_str().unwrap(),
        format!("Bearer {}", fallback.hashed())
    );
}

#[tokio::test]
async fn rejected_register_reports_the_server_error() {
    let (base, _fake) = fake_register_accepting(vec!["Bearer nope".into()]).await;
    let client = Client::new(
        Config::cloud(
            "agent",
            base,
            SigningKey::new("signkey-prod-12345678").unwrap(),
        ),
        reqwest::Client::new(),
    );
    let url = url::Url::parse("https://x.example/api/inngest").unwrap();
    let err = register(&client, &functions(), &url).await.unwrap_err();
    match &err {
        SyncError::Rejected { status, message } => {
            assert_eq!(*status, 401);
            assert_eq!(message, "bad key");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.to_string().contains("12345678"));
}
