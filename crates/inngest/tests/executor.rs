//! End-to-end over real HTTP: the SDK served by axum on a random port, driven by the test
//! executor (`inngest-testkit`), in dev and cloud mode.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use inngest::{
    Client, Config, Ctx, Error, Event, Invoke, ServableFunction, SigningKey, Trigger, WaitForEvent,
    function, serve,
};
use inngest_testkit::{Options, RunStatus, TestInngest};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const SIGNING_KEY: &str = "signkey-test-5ca1ab1e5ca1ab1e";
const EVENT_KEY: &str = "evkey-test";

#[derive(Deserialize, Serialize)]
struct Project {
    project_id: String,
}

fn chain() -> Vec<ServableFunction> {
    let monitor = function("monitor", "Monitor")
        .trigger(Trigger::event("t/check.requested"))
        .trigger(Trigger::cron("*/10 * * * *").unwrap())
        .handler(|ctx: Ctx<Value>| async move {
            let project = ctx.event.data["project_id"]
                .as_str()
                .unwrap_or("cron")
                .to_owned();
            let unhealthy: bool = ctx
                .step
                .run("inspect", || async { Ok::<_, Error>(true) })
                .await?;
            if unhealthy {
                ctx.step
                    .send_event(
                        "request-context",
                        vec![Event::new(
                            "t/context.requested",
                            Project {
                                project_id: project.clone(),
                            },
                        )?],
                    )
                    .await?;
            }
            Ok(json!({ "project": project, "unhealthy": unhealthy }))
        });
    let context = function("context", "Pull context")
        .trigger(Trigger::event("t/context.requested"))
        .handler(|ctx: Ctx<Project>| async move {
            let s = &ctx.step;
            // A parallel group: all three are reported in one 206 and run by target.
            let (a, b, c) = futures::join!(
                s.run("logs", || async { Ok::<_, Error>(3u32) }),
                s.run("metrics", || async { Ok::<_, Error>(4u32) }),
                s.run("deploys", || async { Ok::<_, Error>(5u32) }),
            );
            let total = a? + b? + c?;
            s.send_event(
                "request-fix",
                vec![Event::new(
                    "t/fix.requested",
                    json!({ "project_id": ctx.event.data.project_id, "signals": total }),
                )?],
            )
            .await?;
            Ok(total)
        });
    let fix = function("fix", "Generate fix")
        .trigger(Trigger::event("t/fix.requested"))
        .retries(2)
        .handler(|ctx: Ctx<Value>| async move {
            let plan: String = ctx
                .step
                .run("plan", || async move {
                    Ok::<_, Error>(format!("fix {}", ctx.event.data["project_id"]))
                })
                .await?;
            Ok(json!({ "plan": plan }))
        });
    vec![monitor, context, fix]
}

async fn start_app(config: Config, functions: Vec<ServableFunction>) -> url::Url {
    let app = serve(Client::new(config, reqwest::Client::new()), functions);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url::Url::parse(&format!("http://{addr}/api/inngest")).unwrap()
}

async fn dev(functions: Vec<ServableFunction>) -> (TestInngest, url::Url) {
    let inngest = TestInngest::start(Options::dev()).await;
    let url = start_app(Config::dev("app", inngest.base_url()), functions).await;
    inngest.sync(&url).await.expect("sync");
    (inngest, url)
}

fn completed(inngest: &TestInngest, fn_id: &str) -> Vec<Value> {
    inngest
        .runs_of(fn_id)
        .iter()
        .map(|r| match &r.status {
            RunStatus::Completed(v) => v.clone(),
            other => panic!("run of {fn_id} did not complete: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn registration_payload_is_accepted() {
    let (inngest, url) = dev(chain()).await;
    let reg = &inngest.registrations()[0];
    assert_eq!(reg.app_id, "app");
    assert_eq!(reg.sdk, inngest::SDK_IDENT);
    assert_eq!(reg.framework.as_deref(), Some("axum"));
    let ids: Vec<&str> = reg.functions.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["app-monitor", "app-context", "app-fix"]);
    let fix = reg.function("app-fix").unwrap();
    assert_eq!(fix.retries, Some(2));
    assert_eq!(fix.url.as_str(), format!("{url}?fnId=app-fix&stepId=step"));
}

#[tokio::test]
async fn chain_of_three_functions_with_a_parallel_group() {
    let (inngest, _) = dev(chain()).await;
    inngest
        .send(json!({"name": "t/check.requested", "data": {"project_id": "p1"}}))
        .await;
    inngest.run_until_idle().await.unwrap();
    assert_eq!(
        completed(&inngest, "app-monitor"),
        [json!({"project": "p1", "unhealthy": true})]
    );
    assert_eq!(completed(&inngest, "app-context"), [json!(12)]);
    assert_eq!(
        completed(&inngest, "app-fix"),
        [json!({"plan": "fix \"p1\""})]
    );
    let ctx_run = &inngest.runs_of("app-context")[0];
    assert!(ctx_run.saw_parallel_group);
    let sent = ctx_run.step("sendEvent").unwrap();
    assert_eq!(sent.display_name.as_deref(), Some("request-fix"));
    assert_eq!(sent.memo["data"]["ids"].as_array().unwrap().len(), 1);
    // Every step body ran exactly once.
    for r in inngest.runs() {
        assert!(r.steps.iter().all(|s| s.attempts <= 1), "{:?}", r.steps);
    }
}

#[tokio::test]
async fn cron_trigger_runs_the_chain() {
    let (inngest, _) = dev(chain()).await;
    inngest.trigger_cron("app-monitor").await;
    inngest.run_until_idle().await.unwrap();
    assert_eq!(
        completed(&inngest, "app-monitor"),
        [json!({"project": "cron", "unhealthy": true})]
    );
    assert_eq!(completed(&inngest, "app-fix").len(), 1);
}

#[tokio::test]
async fn fail_once_then_succeed_and_non_retriable_failure() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let flaky = function("flaky", "Flaky")
        .trigger(Trigger::event("t/flaky"))
        .retries(3)
        .handler(move |ctx: Ctx<Value>| {
            let counter = counter.clone();
            async move {
                let v: u32 = ctx
                    .step
                    .run("draft", || async move {
                        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                            Err(Error::retriable("model temporarily unavailable"))
                        } else {
                            Ok(42)
                        }
                    })
                    .await?;
                Ok(v)
            }
        });
    let doomed = function("doomed", "Doomed")
        .trigger(Trigger::event("t/doomed"))
        .retries(3)
        .handler(|ctx: Ctx<Value>| async move {
            ctx.step
                .run("validate", || async {
                    Err::<u32, _>(Error::non_retriable("project not found"))
                })
                .await?;
            Ok(())
        });
    let (inngest, _) = dev(vec![flaky, doomed]).await;
    inngest.send(json!({"name": "t/flaky", "data": {}})).await;
    inngest.send(json!({"name": "t/doomed", "data": {}})).await;
    inngest.run_until_idle().await.unwrap();

    assert_eq!(completed(&inngest, "app-flaky"), [json!(42)]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let run = &inngest.runs_of("app-flaky")[0];
    assert_eq!(run.step("draft").unwrap().attempts, 2);

    let run = &inngest.runs_of("app-doomed")[0];
    let err = run.error().expect("doomed run failed");
    assert_eq!(err["message"], "project not found");
    assert_eq!(run.step("validate").unwrap().op, "StepFailed");
    assert_eq!(
        run.step("validate").unwrap().attempts,
        1,
        "no retries for non-retriable"
    );
}

#[tokio::test]
async fn sleep_wait_for_event_and_invoke() {
    let waiter = function("waiter", "Waiter")
        .trigger(Trigger::event("t/start"))
        .handler(|ctx: Ctx<Value>| async move {
            ctx.step
                .sleep("cool-down", Duration::from_secs(300))
                .await?;
            let approval = ctx
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
            let never = ctx
                .step
                .wait_for_event(
                    "never",
                    WaitForEvent {
                        event: "t/never".into(),
                        timeout: Duration::from_secs(60),
                        if_expr: None,
                    },
                )
                .await?;
            let doubled: u64 = ctx
                .step
                .invoke(
                    "double",
                    Invoke {
                        function_id: "doubler".into(),
                        data: json!({"n": 21}),
                        timeout: None,
                    },
                )
                .await?;
            Ok(json!({
                "approved_by": approval.map(|e| e.data["by"].clone()),
                "never": never.is_none(),
                "doubled": doubled,
            }))
        });
    let doubler = function("doubler", "Doubler")
        .trigger(Trigger::event("t/double"))
        .handler(|ctx: Ctx<Value>| async move {
            let n = ctx.event.data["n"].as_u64().unwrap_or(0);
            let out: u64 = ctx
                .step
                .run("multiply", || async move { Ok::<_, Error>(n * 2) })
                .await?;
            Ok(out)
        });
    let (inngest, _) = dev(vec![waiter, doubler]).await;
    inngest
        .send(json!({"name": "t/start", "data": {"id": 7}}))
        .await;
    inngest
        .send(json!({"name": "t/approved", "data": {"id": 7, "by": "ops"}}))
        .await;
    inngest.run_until_idle().await.unwrap();
    assert_eq!(
        completed(&inngest, "app-waiter"),
        [json!({"approved_by": "ops", "never": true, "doubled": 42})]
    );
    let run = &inngest.runs_of("app-waiter")[0];
    assert_eq!(run.sleeps.len(), 1);
    assert_eq!(run.sleeps[0].duration, Some(Duration::from_secs(300)));
    assert_eq!(run.invocations[0].function_id, "app-doubler");
}

#[tokio::test]
async fn cloud_mode_chain_is_signed_both_ways() {
    let inngest = TestInngest::start(Options::cloud(SIGNING_KEY, EVENT_KEY)).await;
    let mut config = Config::cloud(
        "app",
        inngest.base_url(),
        SigningKey::new(SIGNING_KEY).unwrap(),
    );
    config.event_key = Some(EVENT_KEY.into());
    let url = start_app(config, chain()).await;
    inngest.sync(&url).await.expect("signed sync");
    inngest
        .send(json!({"name": "t/check.requested", "data": {"project_id": "p9"}}))
        .await;
    inngest.run_until_idle().await.unwrap();
    assert_eq!(completed(&inngest, "app-fix").len(), 1);
    let calls: Vec<_> = inngest
        .exchanges()
        .into_iter()
        .filter(|e| e.kind == inngest_testkit::ExchangeKind::Call)
        .collect();
    assert!(!calls.is_empty());
    assert!(calls.iter().all(|e| e.response_signature_ok == Some(true)));
    assert!(
        inngest
            .exchanges()
            .iter()
            .filter(|e| e.kind != inngest_testkit::ExchangeKind::Call && e.auth_ok.is_some())
            .all(|e| e.auth_ok == Some(true))
    );
}
