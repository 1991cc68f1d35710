//! Handler overhead of a call that replays K memoized steps, through the axum router
//! in-process (`oneshot`) on a single-threaded runtime (one core).
//!
//! `cargo bench -p inngest --bench replay` prints median / p99 latency in microseconds and
//! requests per second for K = 1, 10, 100. `REPLAY_ITERS` overrides the sample count.
//!
//! Wall-clock percentiles include time the thread spent preempted, which dominates p99 on a
//! loaded machine; the thread-CPU-time columns measure the handler's own cost.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use inngest::{Client, Config, Ctx, Error, Trigger, function, hash_step_id, serve};
use serde_json::{Value, json};
use tower::ServiceExt as _;

fn router() -> axum::Router {
    let f = function("replay", "Replay")
        .trigger(Trigger::event("bench/replay"))
        .handler(|ctx: Ctx<Value>| async move {
            let k = ctx.event.data["k"].as_u64().unwrap_or(0);
            let mut total = 0u64;
            for i in 0..k {
                let v: u64 = ctx
                    .step
                    .run(&format!("step-{i}"), || async move { Ok::<_, Error>(i) })
                    .await?;
                total += v;
            }
            Ok(total)
        });
    let config = Config::dev("bench", url::Url::parse("http://127.0.0.1:9").unwrap());
    serve(Client::new(config, reqwest::Client::new()), vec![f])
}

fn body(k: u64) -> Bytes {
    let steps: serde_json::Map<String, Value> = (0..k)
        .map(|i| (hash_step_id(&format!("step-{i}")), json!({ "data": i })))
        .collect();
    let event = json!({"name": "bench/replay", "data": {"k": k}, "id": "e", "ts": 1, "user": {}});
    Bytes::from(
        serde_json::to_vec(&json!({
            "event": event, "events": [event], "steps": steps,
            "ctx": {"run_id": "r", "attempt": 0, "max_attempts": 5,
                    "disable_immediate_execution": false, "use_api": false,
                    "stack": {"stack": [], "current": k}},
            "version": 2, "use_api": false
        }))
        .unwrap(),
    )
}

/// CPU time consumed by the calling thread (`CLOCK_THREAD_CPUTIME_ID`; std has no per-thread
/// CPU clock, and the workspace forbids `unsafe`, so the `cpu-time` crate reads it).
fn thread_cpu() -> Duration {
    cpu_time::ThreadTime::now().as_duration()
}

async fn once(router: &axum::Router, body: &Bytes) -> (Duration, Duration) {
    let req = Request::post("/api/inngest?fnId=bench-replay&stepId=step")
        .header("content-type", "application/json")
        .body(Body::from(body.clone()))
        .unwrap();
    let cpu_start = thread_cpu();
    let start = Instant::now();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let elapsed = start.elapsed();
    let cpu = thread_cpu() - cpu_start;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    (elapsed, cpu)
}

fn main() {
    let iters: usize = std::env::var("REPLAY_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let router = router();
    println!("replay of K memoized steps, {iters} requests each, single-threaded runtime");
    println!(
        "{:>4} {:>11} {:>11} {:>11} {:>11} {:>10} {:>8}",
        "K", "wall_p50_us", "wall_p99_us", "cpu_p50_us", "cpu_p99_us", "req_per_s", "body_kb"
    );
    for k in [1u64, 10, 100] {
        let body = body(k);
        let (samples, wall) = rt.block_on(async {
            for _ in 0..iters / 10 {
                once(&router, &body).await;
            }
            let mut samples = Vec::with_capacity(iters);
            let start = Instant::now();
            for _ in 0..iters {
                samples.push(once(&router, &body).await);
            }
            (samples, start.elapsed())
        });
        let sorted_us = |pick: fn(&(Duration, Duration)) -> Duration| {
            let mut us: Vec<f64> = samples
                .iter()
                .map(|s| pick(s).as_secs_f64() * 1e6)
                .collect();
            us.sort_by(|a, b| a.total_cmp(b));
            us
        };
        let pct = |us: &[f64], p: f64| us[((us.len() as f64 - 1.0) * p).round() as usize];
        let wall_us = sorted_us(|s| s.0);
        let cpu_us = sorted_us(|s| s.1);
        println!(
            "{:>4} {:>11.1} {:>11.1} {:>11.1} {:>11.1} {:>10.0} {:>8.1}",
            k,
            pct(&wall_us, 0.5),
            pct(&wall_us, 0.99),
            pct(&cpu_us, 0.5),
            pct(&cpu_us, 0.99),
            iters as f64 / wall.as_secs_f64(),
            body.len() as f64 / 1024.0
        );
    }
}
