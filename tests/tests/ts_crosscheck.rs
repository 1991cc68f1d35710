//! Cross-check of our Inngest SDK against the official TypeScript SDK (npm `inngest@4.24.0`).
//!
//! `tests/inngest-ts-ref/app.mjs` defines nine functions with the official SDK; `functions()` below
//! mirrors each of them with `crates/inngest` (same ids, step ids, events and return values; see
//! `tests/inngest-ts-ref/README.md`). Both apps are driven through the same events by two
//! instances of the test executor, and the wire shapes they produce (op codes, hashed step ids,
//! names, status codes, required headers, registered function configs) must be identical.
//! Skipped with a note when `tests/inngest-ts-ref/node_modules` is missing, except in CI
//! (`tests/run.sh` installs it).

use inngest::{
    Client, Config, Ctx, Error, Event, Invoke, ServableFunction, Trigger, WaitForEvent, function,
    serve,
};
use inngest_testkit::node::{TsRefApp, ts_ref_ready};
use inngest_testkit::{Options, TestInngest};
use serde_json::{Value, json};
use std::time::Duration;

fn functions() -> Vec<ServableFunction> {
    let monitor = function("monitor-project-health", "Monitor project health")
        .trigger(Trigger::cron("*/10 * * * *").unwrap())
        .trigger(Trigger::event("autofix/project.health.check.requested"))
        .handler(|ctx: Ctx<Value>| async move {
            let pid = ctx.event.data.get("projectId").and_then(|v| v.as_str()).unwrap_or("proj-42").to_string();
            let s = &ctx.step;
            let project: Value = s
                .run("load-project", || async move { Ok::<_, Error>(json!({"projectId": pid, "services": ["api", "worker"]})) })
                .await?;
            let (ci, errors, deps) = futures::join!(
                s.run("check-ci-status", || async { Ok::<_, Error>(json!({"pipeline":"main","state":"failing","failedJobs":1})) }),
                s.run("check-error-rate", || async { Ok::<_, Error>(json!({"service":"api","errorsPerMin":12.5})) }),
                s.run("check-dependencies", || async { Ok::<_, Error>(json!({"outdated":3,"vulnerable":1})) }),
            );
            let (ci, errors, deps): (Value, Value, Value) = (ci?, errors?, deps?);
            let p2 = project.clone();
            let summary: Value = s
                .run("summarize-health", || async move {
                    Ok::<_, Error>(json!({"projectId": p2["projectId"], "unhealthy": true, "signals": {"ci": ci, "errors": errors, "deps": deps}}))
                })
                .await?;
            s.send_event(
                "request-service-context",
                vec![Event::new(
                    "autofix/service.context.requested",
                    json!({"projectId": project["projectId"], "services": project["services"], "reason": "unhealthy"}),
                )?],
            )
            .await?;
            Ok(json!({"projectId": summary["projectId"], "unhealthy": summary["unhealthy"]}))
        });
    let pull = function("pull-service-context", "Pull service context")
        .trigger(Trigger::event("autofix/service.context.requested"))
        .handler(|ctx: Ctx<Value>| async move {
            let s = &ctx.step;
            let names: Vec<String> = ctx.event.data["services"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
            let services: Vec<Value> = futures::future::join_all(names.into_iter().map(|n| {
                s.run("fetch-service", move || async move { Ok::<_, Error>(json!({"service": n, "recentDeploys": 2, "logLines": 40})) })
            }))
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
            let (repo, logs) = futures::join!(
                s.run("fetch-repo-metadata", || async { Ok::<_, Error>(json!({"repo":"acme/app","defaultBranch":"main"})) }),
                s.run("fetch-recent-logs", || async { Ok::<_, Error>(json!({"lines":["TypeError: x is undefined"],"count":1})) }),
            );
            let (repo, logs): (Value, Value) = (repo?, logs?);
            let pid = ctx.event.data["projectId"].clone();
            let n = services.len();
            let r2 = repo.clone();
            let context: Value = s
                .run("assemble-context", || async move {
                    Ok::<_, Error>(json!({"projectId": pid, "services": services, "repo": r2, "topError": logs["lines"][0]}))
                })
                .await?;
            s.send_event(
                "request-fix",
                vec![Event::new(
                    "autofix/fix.requested",
                    json!({"projectId": context["projectId"], "repo": context["repo"]["repo"], "topError": context["topError"]}),
                )?],
            )
            .await?;
            Ok(json!({"services": n, "repo": repo["repo"]}))
        });
    let fix = function("generate-fix", "Generate fix")
        .trigger(Trigger::event("autofix/fix.requested"))
        .retries(2)
        .handler(|ctx: Ctx<Value>| async move {
            let attempt = ctx.attempt;
            let patch: Value = ctx
                .step
                .run("draft-patch", || async move {
                    if attempt == 0 {
                        return Err(Error::retriable("model temporarily unavailable (simulated first-attempt failure)"));
                    }
                    Ok(json!({"file":"src/app.ts","diff":"- x.y\n+ x?.y","attempt": attempt}))
                })
                .await?;
            let validation: Value = ctx.step.run("validate-patch", || async { Ok::<_, Error>(json!({"ok":true,"checks":["lint","unit"]})) }).await?;
            Ok(json!({"projectId": ctx.event.data["projectId"], "patch": patch, "validation": validation, "status": "fix-ready"}))
        });
    let fan = function("fan-out", "Fan out")
        .trigger(Trigger::event("autofix/ref.fan-out.requested"))
        .handler(|ctx: Ctx<Value>| async move {
            let s = &ctx.step;
            let (a, b, c) = futures::join!(
                s.run("fetch-shard", || async { Ok::<_, Error>(json!({"shard":0,"rows":10})) }),
                s.run("fetch-shard", || async { Ok::<_, Error>(json!({"shard":1,"rows":20})) }),
                s.run("build-index", || async { Ok::<_, Error>(json!({"keys":2})) }),
            );
            let (a, b, c): (Value, Value, Value) = (a?, b?, c?);
            Ok(json!({"rows": a["rows"].as_i64().unwrap() + b["rows"].as_i64().unwrap(), "keys": c["keys"]}))
        });
    let reject = function("reject-input", "Reject input")
        .trigger(Trigger::event("autofix/ref.reject.requested"))
        .handler(|ctx: Ctx<Value>| async move {
            ctx.step
                .run("validate-input", || async {
                    Err::<Value, _>(
                        Error::non_retriable("input rejected: projectId is required")
                            .with_name("NonRetriableError"),
                    )
                })
                .await?;
            Ok(json!({"unreachable": true}))
        });
    let exhaust = function("exhaust-retries", "Exhaust retries")
        .trigger(Trigger::event("autofix/ref.exhaust.requested"))
        .retries(1)
        .handler(|ctx: Ctx<Value>| async move {
            ctx.step
                .run("always-fails", || async {
                    Err::<Value, _>(Error::retriable(
                        "upstream down (simulated permanent failure)",
                    ))
                })
                .await?;
            Ok(json!({"unreachable": true}))
        });
    let nap = function("nap-and-wait", "Nap and wait")
        .trigger(Trigger::event("autofix/ref.approval.requested"))
        .handler(|ctx: Ctx<Value>| async move {
            ctx.step.sleep("nap", Duration::from_secs(7200)).await?;
            let approval = ctx
                .step
                .wait_for_event(
                    "wait-approval",
                    WaitForEvent {
                        event: "autofix/ref.approved".into(),
                        timeout: Duration::from_secs(3600),
                        if_expr: Some("async.data.ticket == event.data.ticket".into()),
                    },
                )
                .await?;
            let ticket = ctx.event.data["ticket"].clone();
            let out: Value = ctx
                .step
                .run("record-decision", || async move {
                    Ok::<_, Error>(json!({"ticket": ticket, "approved": approval.is_some(),
                        "approver": approval.map(|e| e.data["approver"].clone()).unwrap_or(Value::Null)}))
                })
                .await?;
            Ok(out)
        });
    let child = function("invoke-child", "Invoke child")
        .trigger(Trigger::event("autofix/ref.child.requested"))
        .handler(|ctx: Ctx<Value>| async move {
            let n = ctx.event.data["n"].as_i64().unwrap_or(0);
            let out: Value = ctx
                .step
                .run("double", || async move {
                    Ok::<_, Error>(json!({"doubled": n * 2}))
                })
                .await?;
            Ok(out)
        });
    let parent = function("invoke-parent", "Invoke parent")
        .trigger(Trigger::event("autofix/ref.invoke.requested"))
        .handler(|ctx: Ctx<Value>| async move {
            let child: Value = ctx
                .step
                .invoke(
                    "call-child",
                    Invoke {
                        function_id: "invoke-child".into(),
                        data: json!({"n": ctx.event.data["n"]}),
                        timeout: Some(Duration::from_secs(3600)),
                    },
                )
                .await?;
            Ok(json!({"child": child}))
        });
    vec![monitor, pull, fix, fan, reject, exhaust, nap, child, parent]
}

async fn scenario(inngest: &TestInngest) {
    for ev in [
        json!({"name": "autofix/project.health.check.requested", "data": {"projectId": "proj-42"}}),
        json!({"name": "autofix/ref.fan-out.requested", "data": {}}),
        json!({"name": "autofix/ref.reject.requested", "data": {}}),
        json!({"name": "autofix/ref.exhaust.requested", "data": {}}),
        json!({"name": "autofix/ref.approval.requested", "data": {"ticket": "T-1"}}),
        json!({"name": "autofix/ref.approval.requested", "data": {"ticket": "T-2"}}),
        json!({"name": "autofix/ref.approved", "data": {"ticket": "T-1", "approver": "sam"}}),
        json!({"name": "autofix/ref.invoke.requested", "data": {"n": 21}}),
    ] {
        inngest.send(ev).await;
    }
    inngest.run_until_idle().await.unwrap();
}

#[tokio::test]
async fn our_sdk_produces_the_same_wire_shape_as_the_official_typescript_sdk() {
    if !ts_ref_ready() {
        return;
    }
    let ts = TestInngest::start(Options::dev()).await;
    let app = TsRefApp::start(&ts)
        .await
        .expect("start the TypeScript reference app");
    ts.sync(app.serve_url())
        .await
        .expect("sync the TypeScript app");
    scenario(&ts).await;

    let rs = TestInngest::start(Options::dev()).await;
    let router = serve(
        Client::new(
            Config::dev("autofix-ref", rs.base_url()),
            reqwest::Client::new(),
        ),
        functions(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    rs.sync(&url::Url::parse(&format!("http://{addr}/api/inngest")).unwrap())
        .await
        .unwrap();
    scenario(&rs).await;

    // Same runs, same outcomes.
    let outcomes = |runs: Vec<inngest_testkit::RunRecord>| {
        let mut v: Vec<(String, bool)> = runs
            .into_iter()
            .map(|r| (r.fn_id.clone(), r.output().is_some()))
            .collect();
        v.sort();
        v
    };
    let (ts_runs, rs_runs) = (outcomes(ts.runs()), outcomes(rs.runs()));
    assert_eq!(rs_runs, ts_runs);
    assert!(
        ts_runs.len() >= 10,
        "the scenario exercises every function: {ts_runs:?}"
    );
    assert!(
        ts_runs.iter().any(|(_, ok)| !ok),
        "the scenario includes failing runs"
    );

    // Same wire: registration, ops, step ids, status codes, headers.
    rs.wire_shape().assert_same_as(&ts.wire_shape());
}
