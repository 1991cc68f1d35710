//! Build and deployment log lines shaped like Railway's: RFC 3339 timestamps with nanoseconds,
//! a severity, a `level` attribute, and JSON-logged fields as attributes.

use std::collections::BTreeMap;

use railway::model::{LogLine, Sample, TimeWindow};

use crate::rng::Rng;
use crate::scenario::Role;

pub(crate) struct LogCtx<'a> {
    pub(crate) name: &'a str,
    pub(crate) role: Role,
    pub(crate) window: TimeWindow,
    pub(crate) deployed_at: i64,
    pub(crate) crash_at: Option<i64>,
    pub(crate) memory: &'a [Sample],
    pub(crate) memory_limit_gb: f64,
    pub(crate) cpu: &'a [Sample],
    pub(crate) cpu_limit: f64,
    pub(crate) leaking: bool,
    /// `(method, path, median_ms)` of the ordinary endpoints.
    pub(crate) endpoints: Vec<(&'a str, &'a str, f64)>,
    /// `(method, path, median_ms)`.
    pub(crate) slow_endpoints: Vec<(&'a str, &'a str, f64)>,
    /// Start of the error burst, if any.
    pub(crate) error_burst: Option<i64>,
    /// Slow endpoints of the whole project `(path, median_ms)`: what a database would log.
    pub(crate) slow_statements: &'a [(String, f64)],
    pub(crate) extra: &'a [(String, String)],
}

struct Out<'r> {
    lines: Vec<LogLine>,
    rng: &'r mut Rng,
}

impl Out<'_> {
    fn plain(&mut self, ts: i64, severity: &str, message: impl Into<String>) {
        let nanos = self.rng.int(0, 999_999_999) as u32;
        self.lines.push(LogLine {
            timestamp: crate::rfc3339(ts, nanos),
            message: message.into(),
            severity: Some(severity.to_owned()),
            attributes: BTreeMap::from([("level".to_owned(), severity.to_owned())]),
        });
    }

    /// A structured (JSON) log line: Railway lifts `msg` to the message and keeps the rest as
    /// attributes.
    fn json(&mut self, ts: i64, level: &str, msg: &str, fields: &[(&str, String)]) {
        let nanos = self.rng.int(0, 999_999_999) as u32;
        let mut attributes = BTreeMap::from([("level".to_owned(), level.to_owned())]);
        for (k, v) in fields {
            attributes.insert((*k).to_owned(), v.clone());
        }
        self.lines.push(LogLine {
            timestamp: crate::rfc3339(ts, nanos),
            message: msg.to_owned(),
            severity: Some(level.to_owned()),
            attributes,
        });
    }

    fn finish(mut self) -> Vec<LogLine> {
        self.lines.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
        self.lines
    }
}

/// `(build, deploy)` logs of the service's latest deployment.
pub(crate) fn generate(ctx: &LogCtx<'_>, rng: &mut Rng) -> (Vec<LogLine>, Vec<LogLine>) {
    let mut build = Out {
        lines: Vec::new(),
        rng: &mut *rng,
    };
    if ctx.role != Role::Database {
        build_logs(ctx, &mut build);
    }
    let build = build.finish();

    let mut deploy = Out {
        lines: Vec::new(),
        rng,
    };
    match ctx.role {
        Role::Web => web_logs(ctx, &mut deploy),
        Role::Worker => worker_logs(ctx, &mut deploy),
        Role::Database => postgres_logs(ctx, &mut deploy),
    }
    if !ctx.extra.is_empty() {
        let step = ctx.window.seconds() / (ctx.extra.len() as i64 + 1);
        for (i, (sev, msg)) in ctx.extra.iter().enumerate() {
            deploy.plain(ctx.window.start + step * (i as i64 + 1), sev, msg.clone());
        }
    }
    (build, deploy.finish())
}

fn package_version(name: &str) -> String {
    let mut r = Rng::from_parts(&[name, "version"]);
    format!("1.{}.{}", r.int(2, 19), r.int(0, 9))
}

fn build_logs(ctx: &LogCtx<'_>, out: &mut Out<'_>) {
    let t0 = ctx.deployed_at - 95;
    let version = package_version(ctx.name);
    let steps: [(&str, String); 14] = [
        ("info", "[Region: us-west2]".to_owned()),
        ("info", "Railpack 0.9.2".to_owned()),
        ("info", "↳ Detected Node".to_owned()),
        ("info", "↳ Using npm package manager".to_owned()),
        ("info", "[internal] load build definition from railpack-plan.json".to_owned()),
        ("info", "$ npm ci".to_owned()),
        (
            "info",
            "npm warn deprecated inflight@1.0.6: This module is not supported, and leaks memory. Do not use it."
                .to_owned(),
        ),
        ("info", format!("added {} packages, and audited {} packages in 9s", 400 + ctx.name.len() * 3, 401 + ctx.name.len() * 3)),
        ("info", "$ npm run build".to_owned()),
        ("info", format!("> {}@{version} build", ctx.name)),
        ("info", "> tsc -p tsconfig.build.json".to_owned()),
        ("info", "exporting to docker image format".to_owned()),
        ("info", "containerimage.digest: sha256:".to_owned() + &out.rng.hex(64)),
        ("info", format!("Build time: {:.2} seconds", 40.0 + out.rng.range(0.0, 30.0))),
    ];
    for (i, (sev, msg)) in steps.into_iter().enumerate() {
        out.plain(t0 + i as i64 * 6, sev, msg);
    }
}

fn node_start(ctx: &LogCtx<'_>, out: &mut Out<'_>, at: i64) {
    let version = package_version(ctx.name);
    out.plain(at, "info", "Starting Container");
    out.plain(at + 1, "info", format!("> {}@{version} start", ctx.name));
    out.plain(at + 1, "info", "> node dist/server.js");
    out.json(
        at + 2,
        "info",
        "server listening",
        &[("port", "8080".into()), ("env", "production".into())],
    );
}

fn value_at(samples: &[Sample], ts: i64) -> Option<f64> {
    samples
        .iter()
        .filter(|s| s.ts <= ts)
        .max_by_key(|s| s.ts)
        .or_else(|| samples.first())
        .map(|s| s.value)
}

fn web_logs(ctx: &LogCtx<'_>, out: &mut Out<'_>) {
    let w = ctx.window;
    if ctx.leaking {
        // The previous container ran out of heap and Railway restarted it; memory in the window
        // is the new container climbing again.
        let start_gb = value_at(ctx.memory, w.start).unwrap_or(0.5);
        let end_gb = value_at(ctx.memory, w.end).unwrap_or(start_gb);
        let per_hour = ((end_gb - start_gb) / (w.seconds() as f64 / 3600.0)).max(0.01);
        let since_restart_h = ((start_gb - 0.3 * ctx.memory_limit_gb) / per_hour).clamp(0.5, 24.0);
        let restart = w.start - (since_restart_h * 3600.0) as i64;
        let deployed = ctx.deployed_at.min(restart - 6 * 3600);
        node_start(ctx, out, deployed);
        oom_crash(ctx, out, restart - 3);
        node_start(ctx, out, restart);
        out.plain(
            restart + 1800,
            "error",
            "(node:1) MaxListenersExceededWarning: Possible EventEmitter memory leak detected. 11 close listeners added to [Socket]. MaxListeners is 10. Use emitter.setMaxListeners() to increase limit",
        );
        out.plain(
            restart + 1800,
            "error",
            "(Use `node --trace-warnings ...` to show where the warning was created)",
        );
        let mut t = w.start + 45;
        while t < w.end {
            let rss = value_at(ctx.memory, t).unwrap_or(start_gb) * 1000.0;
            let heap_used = rss * 0.86;
            let level = if rss / (ctx.memory_limit_gb * 1000.0) > 0.55 {
                "warn"
            } else {
                "info"
            };
            out.json(
                t,
                level,
                "heap usage high",
                &[
                    ("heapUsedMB", format!("{heap_used:.0}")),
                    ("heapTotalMB", format!("{:.0}", heap_used * 1.07)),
                    ("rssMB", format!("{rss:.0}")),
                    ("sessionsCached", format!("{}", (rss * 41.0) as u64)),
                ],
            );
            t += 180;
        }
    } else {
        node_start(ctx, out, ctx.deployed_at);
    }

    // Routine request lines: what a real service prints, mostly noise.
    let mut t = w.start + 20;
    while t < w.end && ctx.crash_at.is_none_or(|c| t < c) {
        let Some(&(method, template, median)) = (!ctx.endpoints.is_empty())
            .then(|| &ctx.endpoints[out.rng.int(0, ctx.endpoints.len() as u64 - 1) as usize])
        else {
            break;
        };
        let path = template.replace("{id}", &out.rng.int(1000, 98_000).to_string());
        let ms = (median * (0.45 * out.rng.normal()).exp()).round().max(1.0) as u64;
        out.json(
            t,
            "info",
            "request completed",
            &[
                ("method", method.into()),
                ("path", path),
                ("status", "200".into()),
                ("durationMs", ms.to_string()),
            ],
        );
        t += 60 + out.rng.int(0, 60) as i64;
    }

    for &(method, path, median) in &ctx.slow_endpoints {
        let mut t = w.start + 30 + out.rng.int(0, 60) as i64;
        while t < w.end {
            let ms = median * (0.45 * out.rng.normal()).exp() * 1.3;
            let concrete = path.replace("{id}", &out.rng.int(1000, 98_000).to_string());
            out.json(
                t,
                "warn",
                "slow request",
                &[
                    ("method", method.into()),
                    ("path", concrete.clone()),
                    ("durationMs", format!("{ms:.0}")),
                    ("dbMs", format!("{:.0}", ms * 0.93)),
                ],
            );
            t += 90 + out.rng.int(0, 60) as i64;
        }
        let db = format!("10.214.{}.{}", out.rng.int(1, 40), out.rng.int(2, 250));
        for k in 0..4 {
            let t = w.start + w.seconds() * (k * 2 + 1) / 8;
            out.plain(t, "error", format!("Error: connect ETIMEDOUT {db}:5432"));
            out.plain(
                t,
                "error",
                "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)",
            );
            out.plain(
                t + 5,
                "error",
                "KnexTimeoutError: Knex: Timeout acquiring a connection. The pool is probably full. Are you missing a .transacting(trx) call?",
            );
            out.plain(
                t + 5,
                "error",
                "    at Client_PG.acquireConnection (/app/node_modules/knex/lib/client.js:312:26)",
            );
        }
        out.plain(
            w.start + w.seconds() / 2,
            "error",
            format!("Error: connect ECONNREFUSED {db}:5432"),
        );
    }

    if let Some(burst) = ctx.error_burst {
        let redis = format!("10.214.{}.{}", out.rng.int(1, 40), out.rng.int(2, 250));
        let mut t = burst + 5;
        while t < w.end {
            out.json(
                t,
                "error",
                "request failed",
                &[
                    ("err", format!("Error: connect ECONNREFUSED {redis}:6379")),
                    ("path", "/api/checkout".into()),
                    ("status", "500".into()),
                ],
            );
            t += 20 + out.rng.int(0, 20) as i64;
        }
    }

    if let Some(crash) = ctx.crash_at {
        for attempt in 0..3 {
            let t = crash + attempt * 45;
            if attempt > 0 {
                node_start(ctx, out, t - 5);
            }
            out.plain(t, "error", "/app/dist/routes/webhooks.js:48");
            out.plain(
                t,
                "error",
                "    const customerId = event.data.object.customer.id;",
            );
            out.plain(
                t,
                "error",
                "TypeError: Cannot read properties of undefined (reading 'id')",
            );
            out.plain(
                t,
                "error",
                "    at handleWebhook (/app/dist/routes/webhooks.js:48:51)",
            );
            out.plain(t, "error", "    at process.processTicksAndRejections (node:internal/process/task_queues:105:5)");
            out.plain(t, "error", "Node.js v20.18.1");
        }
        out.plain(crash + 140, "info", "Stopping Container");
    }
}

fn oom_crash(ctx: &LogCtx<'_>, out: &mut Out<'_>, at: i64) {
    let limit_mb = ctx.memory_limit_gb * 1000.0;
    let pid_addr = format!("[1:0x{}]", out.rng.hex(7));
    let uptime_ms = out.rng.int(20_000_000, 90_000_000);
    let lines: Vec<(&str, String)> = vec![
        ("error", String::new()),
        ("error", "<--- Last few GCs --->".to_owned()),
        ("error", String::new()),
        (
            "error",
            format!(
                "{pid_addr} {uptime_ms:>8} ms: Mark-Compact {:.1} ({:.1}) -> {:.1} ({:.1}) MB, {:.2} / 0.00 ms  (average mu = 0.118, current mu = 0.027) allocation failure; scavenge might not succeed",
                limit_mb * 0.978,
                limit_mb * 1.009,
                limit_mb * 0.975,
                limit_mb * 1.010,
                out.rng.range(1200.0, 1700.0)
            ),
        ),
        (
            "error",
            format!(
                "{pid_addr} {:>8} ms: Mark-Compact {:.1} ({:.1}) -> {:.1} ({:.1}) MB, {:.2} / 0.00 ms  (average mu = 0.071, current mu = 0.040) allocation failure; GC in old space requested",
                uptime_ms + 1677,
                limit_mb * 0.981,
                limit_mb * 1.011,
                limit_mb * 0.980,
                limit_mb * 1.012,
                out.rng.range(1200.0, 1700.0)
            ),
        ),
        ("error", String::new()),
        ("error", "<--- JS stacktrace --->".to_owned()),
        ("error", String::new()),
        ("error", "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory".to_owned()),
        ("error", "----- Native stack trace -----".to_owned()),
        ("error", String::new()),
        ("error", " 1: 0xb8ced1 node::OOMErrorHandler(char const*, v8::OOMDetails const&) [node]".to_owned()),
        ("error", " 2: 0xf06460 v8::Utils::ReportOOMFailure(v8::internal::Isolate*, char const*, v8::OOMDetails const&) [node]".to_owned()),
        ("error", " 3: 0xf06747 v8::internal::V8::FatalProcessOutOfMemory(v8::internal::Isolate*, char const*, v8::OOMDetails const&) [node]".to_owned()),
        ("error", " 4: 0x1118385  [node]".to_owned()),
        ("error", " 5: 0x1130208 v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace, v8::internal::GarbageCollectionReason, v8::GCCallbackFlags) [node]".to_owned()),
        ("info", "Stopping Container".to_owned()),
    ];
    for (sev, msg) in lines {
        out.plain(at, sev, msg);
    }
}

fn worker_logs(ctx: &LogCtx<'_>, out: &mut Out<'_>) {
    let w = ctx.window;
    node_start(ctx, out, ctx.deployed_at);
    out.json(
        ctx.deployed_at + 3,
        "info",
        "worker started",
        &[("queue", "images".into()), ("concurrency", "4".into())],
    );
    let mut depth: u64 = 180 + out.rng.int(0, 40);
    let mut t = w.start + 10;
    let mut since_warn = 0;
    while t < w.end {
        let busy = value_at(ctx.cpu, t).unwrap_or(0.1) / ctx.cpu_limit;
        // A saturated CPU stretches every job: duration grows sharply past ~80 %.
        let ms = (1800.0 / (1.02 - busy.min(1.0)).max(0.05)) * (0.25 * out.rng.normal()).exp();
        if busy > 0.8 {
            depth += out.rng.int(2, 9);
        } else {
            depth = depth.saturating_sub(out.rng.int(2, 9));
        }
        let id = out.rng.uuid();
        out.json(
            t,
            "info",
            "job completed",
            &[
                ("job", "resize-image".into()),
                ("jobId", id),
                ("durationMs", format!("{ms:.0}")),
                ("variants", "4".into()),
                ("queueDepth", depth.to_string()),
            ],
        );
        since_warn += 1;
        if busy > 0.8 && since_warn >= 8 {
            since_warn = 0;
            let waiting = depth * 2 + out.rng.int(0, 30);
            out.json(
                t + 1,
                "warn",
                "queue backlog growing",
                &[
                    ("pending", depth.to_string()),
                    ("oldestWaitingSec", waiting.to_string()),
                ],
            );
        }
        t += 30 + out.rng.int(0, 20) as i64;
    }
}

const SLOW_STATEMENTS: [&str; 3] = [
    "SELECT o.account_id, date_trunc('day', o.created_at) AS day, count(*), sum(oi.quantity * oi.unit_price_cents) FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.created_at >= $1 AND o.created_at < $2 GROUP BY 1, 2 ORDER BY 2",
    "SELECT oi.*, p.name, p.sku FROM order_items oi JOIN products p ON p.id = oi.product_id JOIN orders o ON o.id = oi.order_id WHERE o.account_id = $1 ORDER BY o.created_at DESC",
    "SELECT c.id, c.email, sum(o.total_cents) AS lifetime_value FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id ORDER BY lifetime_value DESC LIMIT 500",
];

fn pg_prefix(ts: i64, rng: &mut Rng, pid: u64) -> String {
    let stamp = crate::rfc3339(ts, 0);
    format!(
        "{} {}.{:03} UTC [{pid}]",
        &stamp[..10],
        &stamp[11..19],
        rng.int(0, 999)
    )
}

fn postgres_logs(ctx: &LogCtx<'_>, out: &mut Out<'_>) {
    let w = ctx.window;
    let t0 = ctx.deployed_at;
    out.plain(t0, "info", "Starting Container");
    out.plain(
        t0 + 1,
        "info",
        "PostgreSQL Database directory appears to contain a database; Skipping initialization",
    );
    let p = pg_prefix(t0 + 2, out.rng, 1);
    out.plain(t0 + 2, "info", format!("{p} LOG:  starting PostgreSQL 16.4 (Debian 16.4-1.pgdg120+2) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit"));
    let p = pg_prefix(t0 + 2, out.rng, 1);
    out.plain(
        t0 + 2,
        "info",
        format!("{p} LOG:  listening on IPv4 address \"0.0.0.0\", port 5432"),
    );
    let p = pg_prefix(t0 + 3, out.rng, 1);
    out.plain(
        t0 + 3,
        "info",
        format!("{p} LOG:  database system is ready to accept connections"),
    );

    let mut t = w.start - (w.start % 300) + 300;
    while t < w.end {
        let p = pg_prefix(t, out.rng, 27);
        out.plain(t, "info", format!("{p} LOG:  checkpoint starting: time"));
        let buffers = out.rng.int(300, 2400);
        let p = pg_prefix(t + 180, out.rng, 27);
        let (write_ms, sync_ms, total_ms) =
            (out.rng.int(0, 999), out.rng.int(1, 40), out.rng.int(0, 999));
        out.plain(
            t + 180,
            "info",
            format!(
                "{p} LOG:  checkpoint complete: wrote {buffers} buffers ({:.1}%); 0 WAL file(s) added, 0 removed, 1 recycled; write=179.{:03} s, sync=0.0{:02} s, total=179.{:03} s; sync files=52, longest=0.004 s, average=0.001 s; distance={} kB, estimate={} kB",
                buffers as f64 / 163.84,
                write_ms,
                sync_ms,
                total_ms,
                buffers * 8,
                buffers * 8 + 400
            ),
        );
        t += 300;
    }

    for (i, (_path, median)) in ctx.slow_statements.iter().enumerate() {
        let statement = SLOW_STATEMENTS[i % SLOW_STATEMENTS.len()];
        let mut t = w.start + 15 + out.rng.int(0, 45) as i64;
        while t < w.end {
            let ms = median * (0.45 * out.rng.normal()).exp() * 0.93;
            let pid = out.rng.int(3000, 9000);
            let p = pg_prefix(t, out.rng, pid);
            out.plain(
                t,
                "info",
                format!("{p} LOG:  duration: {ms:.3} ms  statement: {statement}"),
            );
            t += 70 + out.rng.int(0, 50) as i64;
        }
    }
    if !ctx.slow_statements.is_empty() {
        // The slow queries hold connections long enough for the slots to run out now and then.
        let t = w.start + w.seconds() / 2;
        let pid = out.rng.int(3000, 9000);
        let p = pg_prefix(t, out.rng, pid);
        out.plain(t, "error", format!("{p} FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute"));
    }
}
