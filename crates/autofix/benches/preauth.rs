//! Pre-auth cost of the serve endpoint (issue #10): 16 concurrent 7 MB requests with a
//! well-formed, current, but wrong signature against the worker's real router behind its guarded
//! listener, with the default serve settings. Prints the server's CPU time per request and its
//! peak extra RSS; targets: under 50 ms of CPU each and under 64 MB extra in total.
//!
//! The clients run in a child process (this binary re-executed), so their CPU and memory are not
//! counted. CPU is the sum of every server thread's run time (`/proc/self/task/*/schedstat`, ns);
//! the peak is `VmHWM` after resetting it (`/proc/self/clear_refs` = 5) once the router is up.
//!
//! `cargo bench -p autofix --bench preauth`

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

const REQUESTS: usize = 16;
const BODY_BYTES: usize = 7 * 1024 * 1024;
const SIGNING_KEY: &str = "signkey-prod-00112233445566778899aabbccddeeff";

fn main() {
    // `cargo bench` passes `--bench`; the child gets `--client <addr>`.
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--client") {
        Some(i) => client(args.get(i + 1).expect("client address")),
        None => server(),
    }
}

/// Sends the requests concurrently and prints the status line of each answer.
fn client(addr: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    // Valid JSON, so nothing short of the MAC check can refuse it.
    let mut body = Vec::with_capacity(BODY_BYTES);
    body.extend_from_slice(br#"{"event":{"name":"x","data":{"pad":""#);
    body.resize(BODY_BYTES - 4, b'a');
    body.extend_from_slice(br#""}}}"#);
    let body = std::sync::Arc::new(body);
    let threads: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let body = body.clone();
            let addr = addr.to_owned();
            std::thread::spawn(move || {
                let mut conn = std::net::TcpStream::connect(&addr).expect("connect");
                let head = format!(
                    "POST /api/inngest?fnId=autofix-generate-fix&stepId=step HTTP/1.1\r\n\
                     Host: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     x-inngest-signature: t={now}&s={:064x}\r\nconnection: close\r\n\r\n",
                    body.len(),
                    i + 1
                );
                conn.write_all(head.as_bytes()).expect("head");
                // The server may answer and close before the whole body is sent.
                let _ = conn.write_all(&body);
                let mut answer = Vec::new();
                let _ = conn.read_to_end(&mut answer);
                let text = String::from_utf8_lossy(&answer);
                text.lines().next().unwrap_or("(no answer)").to_owned()
            })
        })
        .collect();
    for t in threads {
        println!("{}", t.join().expect("client thread"));
    }
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time of every thread of this process, in nanoseconds.
fn cpu_ns() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

fn server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr = runtime.block_on(async {
        let args = autofix::serve::ServeArgs::default();
        let mut config = inngest::Config::cloud(
            pipeline::APP_ID,
            url::Url::parse("http://127.0.0.1:9/").expect("url"),
            inngest::SigningKey::new(SIGNING_KEY).expect("key"),
        );
        config.serve_origin = Some("https://autofix.example.com".into());
        let client = inngest::Client::new(config, reqwest::Client::new());
        let router = autofix::serve::router_with(
            client,
            Vec::new(),
            autofix::serve::Health::new(reqwest::Client::new(), None),
            args.step_timeout,
            autofix::serve::serve_options(args.body_timeout),
        );
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let listener =
            autofix::listener::GuardedListener::new(tcp, args.max_connections, args.header_timeout);
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        addr
    });
    // Warm the path once with a tiny request, so one-time setup is not counted.
    let _ = std::net::TcpStream::connect(addr).map(|mut c| {
        let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut s = Vec::new();
        let _ = c.read_to_end(&mut s);
    });
    std::thread::sleep(Duration::from_millis(200));
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before = status_kb("VmRSS:");
    let hwm_before = status_kb("VmHWM:");
    let cpu_before = cpu_ns();
    let started = Instant::now();

    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--client", &addr.to_string()])
        .output()
        .expect("client process");
    let wall = started.elapsed();
    // Let the server finish whatever it still does for those connections.
    std::thread::sleep(Duration::from_millis(300));
    let cpu = cpu_ns() - cpu_before;
    let hwm = status_kb("VmHWM:");
    let answers = String::from_utf8_lossy(&out.stdout);
    let mut statuses: std::collections::BTreeMap<String, usize> = Default::default();
    for line in answers.lines() {
        *statuses.entry(line.trim().to_owned()).or_default() += 1;
    }
    let per_request_ms = cpu as f64 / 1e6 / REQUESTS as f64;
    let base = if reset { rss_before } else { hwm_before };
    let extra_mb = hwm.saturating_sub(base) as f64 / 1024.0;
    println!(
        "preauth: {REQUESTS} concurrent {} MB wrongly signed requests, default serve settings",
        BODY_BYTES / (1024 * 1024)
    );
    for (status, n) in &statuses {
        println!("  answers          : {n} × {status}");
    }
    println!("  wall time        : {:.0} ms", wall.as_secs_f64() * 1e3);
    println!(
        "  server CPU       : {per_request_ms:.1} ms per request ({:.0} ms total; target < 50 ms each)",
        cpu as f64 / 1e6
    );
    println!(
        "  peak extra RSS   : {extra_mb:.1} MB (VmHWM {} kB vs {} kB {}; target < 64 MB)",
        hwm,
        base,
        if reset {
            "RSS at reset"
        } else {
            "peak before (reset unavailable)"
        }
    );
}
