//! Failures a worker's own logs must show, and a step that overruns its time budget, over real
//! HTTP against the test executor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use inngest::{Client, Config, Ctx, Error, ServableFunction, ServeOptions, Trigger, function};
use inngest_testkit::{LogCapture, Options, RunStatus, TestInngest};
use serde_json::{Value, json};

async fn start(functions: Vec<ServableFunction>, options: ServeOptions) -> TestInngest {
    let inngest = TestInngest::start(Options::dev()).await;
    let client = Client::new(
        Config::dev("app", inngest.base_url()),
        reqwest::Client::new(),
    );
    let app = inngest::serve_with(client, functions, options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = url::Url::parse(&format!("http://{addr}/api/inngest")).unwrap();
    inngest.sync(&url).await.expect("sync");
    inngest
}

/// A function whose step `draft` fails once (retriably) and then returns 42.
fn flaky(slow_first_attempt: Option<Duration>) -> ServableFunction {
    let calls = Arc::new(AtomicU32::new(0));
    function("flaky", "Flaky")
        .trigger(Trigger::event("t/flaky"))
        .retries(3)
        .handler(move |ctx: Ctx<Value>| {
            let calls = calls.clone();
            async move {
                let v: u32 = ctx
                    .step
                    .run("draft", || async move {
                        let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
                        match (first, slow_first_attempt) {
                            (true, Some(d)) => {
                                tokio::time::sleep(d).await;
                                Ok(1)
                            }
                            (true, None) => Err(Error::retriable("model temporarily unavailable")
                                .with_name("LlmError")),
                            (false, _) => Ok(42),
                        }
                    })
                    .await?;
                Ok(v)
            }
        })
}

// The default (current-thread) runtime keeps the served app on this thread, so the subscriber
// set as this thread's default sees its events.
#[tokio::test]
async fn a_failing_step_is_logged_once_at_warn_with_function_step_attempt_and_cause() {
    let captured = LogCapture::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let inngest = start(vec![flaky(None)], ServeOptions::default()).await;
    inngest.send(json!({"name": "t/flaky", "data": {}})).await;
    inngest.run_until_idle().await.unwrap();
    assert!(matches!(
        &inngest.runs_of("app-flaky")[0].status,
        RunStatus::Completed(v) if *v == json!(42)
    ));

    let lines = captured.json_lines();
    let failures: Vec<&Value> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" || l["level"] == "ERROR")
        .collect();
    assert_eq!(failures.len(), 1, "exactly one failure line: {failures:#?}");
    let f = &failures[0]["fields"];
    assert_eq!(failures[0]["level"], "WARN");
    assert_eq!(f["fn_id"], "app-flaky");
    assert_eq!(f["step.name"], "draft", "the human step name, not the hash");
    assert_eq!(f["step.id"], inngest::hash_step_id("draft"));
    assert_eq!(f["attempt"], 0);
    assert_eq!(f["error.name"], "LlmError");
    assert_eq!(f["error"], "model temporarily unavailable");
}

#[tokio::test]
async fn a_step_past_its_time_budget_is_a_retriable_step_error_not_a_bare_408() {
    let options = ServeOptions {
        step_timeout: Some(Duration::from_millis(200)),
        ..ServeOptions::default()
    };
    let inngest = start(vec![flaky(Some(Duration::from_secs(30)))], options).await;
    inngest.send(json!({"name": "t/flaky", "data": {}})).await;
    inngest.run_until_idle().await.unwrap();

    let run = &inngest.runs_of("app-flaky")[0];
    assert!(
        matches!(&run.status, RunStatus::Completed(v) if *v == json!(42)),
        "{:?}",
        run.status
    );
    assert_eq!(run.step("draft").unwrap().attempts, 2);
    assert_eq!(run.retries.len(), 1, "{:?}", run.retries);
    let retry = &run.retries[0];
    assert_eq!(
        retry.status,
        Some(206),
        "a StepError answer, with SDK headers"
    );
    assert!(retry.retried);
    assert!(
        retry.reason.contains("StepTimeout") || retry.reason.contains("time budget"),
        "{}",
        retry.reason
    );
}
