//! Size limits fail a run the same way inline (`autofix check`) and under the executor
//! (`autofix serve`): same error name, same message, no retries.

use inngest::{
    Client, Config, Ctx, Error, Event, InlineRunner, ServableFunction, Trigger, function, serve,
};
use inngest_testkit::{Options, RunStatus, TestInngest};
use serde_json::{Value, json};

fn oversized() -> Vec<ServableFunction> {
    let big_step = function("big-step", "Big step")
        .trigger(Trigger::event("t/big-step"))
        .handler(|ctx: Ctx<Value>| async move {
            let small: u32 = ctx
                .step
                .run("small", || async { Ok::<_, Error>(1) })
                .await?;
            let _: String = ctx
                .step
                .run("huge", || async {
                    Ok::<_, Error>("x".repeat(inngest::MAX_STEP_OUTPUT_BYTES))
                })
                .await?;
            Ok(small)
        });
    let big_event = function("big-event", "Big event")
        .trigger(Trigger::event("t/big-event"))
        .handler(|ctx: Ctx<Value>| async move {
            let event = Event::new(
                "t/next",
                json!({ "blob": "y".repeat(inngest::MAX_EVENT_BYTES) }),
            )?;
            ctx.step.send_event("send-big", vec![event]).await?;
            Ok(())
        });
    vec![big_step, big_event]
}

/// `(name, message)` of the error a run failed with.
fn failure(error: &Value) -> (String, String) {
    (
        error["name"].as_str().unwrap_or_default().to_owned(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn inline_failure(event: &str) -> (String, String) {
    let runs = InlineRunner::new(oversized())
        .run(Event::new(event, json!({})).unwrap())
        .await;
    assert_eq!(runs.len(), 1);
    let e = runs[0].output.as_ref().expect_err("inline run must fail");
    assert!(!e.is_retriable());
    failure(&e.to_json())
}

async fn durable_failure(event: &str) -> (String, String, u32) {
    let inngest = TestInngest::start(Options::dev()).await;
    let app = serve(
        Client::new(
            Config::dev("app", inngest.base_url()),
            reqwest::Client::new(),
        ),
        oversized(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = url::Url::parse(&format!("http://{addr}/api/inngest")).unwrap();
    inngest.sync(&url).await.expect("sync");
    inngest.send(json!({ "name": event, "data": {} })).await;
    inngest.run_until_idle().await.expect("runs finish");
    server.abort();
    let runs = inngest.runs();
    assert_eq!(runs.len(), 1);
    match &runs[0].status {
        RunStatus::Failed(e) => {
            let (name, message) = failure(e);
            (name, message, runs[0].calls)
        }
        other => panic!("durable run must fail: {other:?}"),
    }
}

#[tokio::test]
async fn oversized_step_fails_identically_inline_and_durable() {
    let inline = inline_failure("t/big-step").await;
    let (name, message, calls) = durable_failure("t/big-step").await;
    assert_eq!(inline.0, inngest::limits::STEP_OUTPUT_TOO_LARGE);
    assert!(inline.1.contains("\"huge\""), "{}", inline.1);
    assert_eq!((name, message), inline);
    // The first step, the failing one, the final call that reports the failure: no retries.
    assert!(calls <= 3, "no retries of a size failure: {calls} calls");
}

#[tokio::test]
async fn oversized_event_fails_identically_inline_and_durable() {
    let inline = inline_failure("t/big-event").await;
    let (name, message, _) = durable_failure("t/big-event").await;
    assert_eq!(inline.0, inngest::limits::EVENT_TOO_LARGE);
    assert!(inline.1.contains("\"send-big\""), "{}", inline.1);
    assert_eq!((name, message), inline);
}
