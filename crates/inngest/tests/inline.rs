//! `InlineRunner`: in-process runs without durability.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use inngest::{
    Ctx, Error, Event, InlineRunner, Invoke, ServableFunction, Trigger, WaitForEvent, function,
};
use serde::Deserialize;
use serde_json::{Value, json};

fn functions(ran: Arc<AtomicU32>) -> Vec<ServableFunction> {
    #[derive(Deserialize)]
    struct Check {
        project_id: String,
    }
    let monitor = function("monitor", "Monitor")
        .trigger(Trigger::event("t/check"))
        .trigger(Trigger::cron("*/10 * * * *").unwrap())
        .handler(|ctx: Ctx<Value>| async move {
            let project = ctx.event.data["project_id"]
                .as_str()
                .unwrap_or("all")
                .to_owned();
            let n: u32 = ctx
                .step
                .run("count", || async { Ok::<_, Error>(2) })
                .await?;
            let n2: u32 = ctx
                .step
                .run("count", || async { Ok::<_, Error>(3) })
                .await?;
            ctx.step.sleep("pause", Duration::from_secs(3600)).await?;
            let approval = ctx
                .step
                .wait_for_event(
                    "approval",
                    WaitForEvent {
                        event: "t/ok".into(),
                        timeout: Duration::from_secs(60),
                        if_expr: None,
                    },
                )
                .await?;
            let ids = ctx
                .step
                .send_event(
                    "fan-out",
                    vec![
                        Event::new("t/context", json!({"project_id": project, "urgent": true}))?,
                        Event::new("t/context", json!({"project_id": project, "urgent": false}))?,
                    ],
                )
                .await?;
            Ok(json!({"n": n + n2, "approved": approval.is_some(), "ids": ids}))
        });
    let counter = ran.clone();
    let urgent_only = function("urgent", "Urgent context")
        .trigger(Trigger::event("t/context").expression("event.data.urgent == true"))
        .handler(move |ctx: Ctx<Check>| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let doubled: u32 = ctx
                    .step
                    .invoke(
                        "double",
                        Invoke {
                            function_id: "doubler".into(),
                            data: json!({"n": 5}),
                            timeout: None,
                        },
                    )
                    .await?;
                Ok(json!({"project": ctx.event.data.project_id, "doubled": doubled}))
            }
        });
    let complex = function("complex", "Complex filter")
        .trigger(Trigger::event("t/context").expression("event.data.score > 3"))
        .handler(|_ctx: Ctx<Value>| async { Ok(()) });
    let doubler = function("doubler", "Doubler")
        .trigger(Trigger::event("t/double"))
        .handler(|ctx: Ctx<Value>| async move {
            let n = ctx.event.data["n"].as_u64().unwrap_or(0);
            Ok(n * 2)
        });
    vec![monitor, urgent_only, complex, doubler]
}

#[tokio::test]
async fn runs_the_chain_breadth_first_with_steps_recorded() {
    let ran = Arc::new(AtomicU32::new(0));
    let runner = InlineRunner::new(functions(ran.clone()));
    let runs = runner
        .run(Event::new("t/check", json!({"project_id": "p1"})).unwrap())
        .await;
    let order: Vec<&str> = runs.iter().map(|r| r.function_id.as_str()).collect();
    // monitor, then the urgent context run followed by the run it invoked; the non-urgent
    // event matches nothing and the complex expression is not evaluated inline.
    assert_eq!(order, ["monitor", "urgent", "doubler"]);

    let monitor = &runs[0];
    assert_eq!(
        monitor.output.as_ref().unwrap(),
        &json!({"n": 5, "approved": false, "ids": ["inline-0", "inline-1"]})
    );
    let step_ids: Vec<&str> = monitor.steps.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        step_ids,
        ["count", "count:1", "pause", "approval", "fan-out"]
    );
    assert_eq!(monitor.steps[4].1, json!({"ids": ["inline-0", "inline-1"]}));
    assert_eq!(monitor.sent.len(), 2);
    assert_eq!(monitor.sent[0].id.as_deref(), Some("inline-0"));

    assert_eq!(
        runs[1].output.as_ref().unwrap(),
        &json!({"project": "p1", "doubled": 10})
    );
    assert_eq!(runs[2].event.name, inngest::FUNCTION_INVOKED_EVENT);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn cron_event_runs_cron_functions() {
    let runner = InlineRunner::new(functions(Arc::default()));
    let runs = runner
        .run(
            Event::new(
                inngest::SCHEDULED_TIMER_EVENT,
                json!({"cron": "*/10 * * * *"}),
            )
            .unwrap(),
        )
        .await;
    assert_eq!(runs[0].function_id, "monitor");
    assert_eq!(runs[0].output.as_ref().unwrap()["n"], 5);
    let runs = runner
        .run(Event::new(inngest::SCHEDULED_TIMER_EVENT, json!({"cron": "0 0 * * *"})).unwrap())
        .await;
    assert!(runs.is_empty());
}

#[tokio::test]
async fn depth_limit_stops_event_loops() {
    let ping = function("ping", "Ping")
        .trigger(Trigger::event("t/ping"))
        .handler(|ctx: Ctx<Value>| async move {
            ctx.step
                .send_event("again", vec![Event::new("t/ping", json!({}))?])
                .await?;
            Ok(())
        });
    let runs = InlineRunner::new(vec![ping])
        .with_max_depth(3)
        .run(Event::new("t/ping", json!({})).unwrap())
        .await;
    assert_eq!(runs.len(), 4);
}

#[tokio::test]
async fn failures_are_reported_per_run() {
    let bad = function("bad", "Bad")
        .trigger(Trigger::event("t/bad"))
        .handler(|ctx: Ctx<Value>| async move {
            ctx.step
                .run("explode", || async {
                    Err::<u32, _>(Error::retriable("no luck"))
                })
                .await?;
            Ok(())
        });
    #[derive(Deserialize)]
    struct Needs {
        #[allow(dead_code, reason = "only its presence in the event is checked")]
        project_id: String,
    }
    let typed = function("typed", "Typed")
        .trigger(Trigger::event("t/bad"))
        .handler(|_ctx: Ctx<Needs>| async { Ok(()) });
    let runs = InlineRunner::new(vec![bad, typed])
        .run(Event::new("t/bad", json!({})).unwrap())
        .await;
    let err = runs[0].output.as_ref().unwrap_err();
    assert_eq!(err.message(), "no luck");
    assert_eq!(runs[0].steps[0].0, "explode");
    assert_eq!(runs[0].steps[0].1["error"]["message"], "no luck");
    let err = runs[1].output.as_ref().unwrap_err();
    assert!(!err.is_retriable());
    assert!(err.message().contains("project_id"), "{err}");
}
