//! The builders' output is internally consistent and shaped like Railway's answers.

use demo::scenario::{ProjectBuilder, ServiceBuilder, sample_rate_seconds};
use railway::model::{DeploymentStatus, HttpStats, StatusCounts};

const NOW: i64 = 1_795_425_000;

fn sum(stats: &HttpStats) -> StatusCounts {
    stats
        .timeline
        .iter()
        .fold(StatusCounts::default(), |mut acc, b| {
            acc.s2xx += b.counts.s2xx;
            acc.s3xx += b.counts.s3xx;
            acc.s4xx += b.counts.s4xx;
            acc.s5xx += b.counts.s5xx;
            acc
        })
}

#[test]
fn sample_rates_follow_the_dashboard() {
    assert_eq!(sample_rate_seconds(30), 30);
    assert_eq!(sample_rate_seconds(60), 30);
    assert_eq!(sample_rate_seconds(360), 60);
    assert_eq!(sample_rate_seconds(1440), 240);
    assert_eq!(sample_rate_seconds(7 * 1440), 3600);
    assert_eq!(sample_rate_seconds(30 * 1440), 14_400);
}

#[test]
fn http_figures_agree_with_each_other() {
    let b = ProjectBuilder::new("p", "autofix-test", NOW, 30).service(
        ServiceBuilder::new("api")
            .repo("acme/api")
            .rps(5.0)
            .error_burst(5, 0.3),
    );
    let snap = b.build();
    let id = b.service_id("api");
    let stats = &snap.http.services[&id];
    assert_eq!(sum(stats), stats.counts);
    assert!(
        stats.counts.total() > 7000 && stats.counts.total() < 11_000,
        "{:?}",
        stats.counts
    );
    // Six endpoints, the five slowest listed, slowest first.
    assert_eq!(stats.slowest.len(), 5);
    assert!(stats.slowest.windows(2).all(|w| w[0].p95_ms >= w[1].p95_ms));
    let by_endpoint: u64 = stats.slowest.iter().map(|e| e.requests).sum();
    assert!(by_endpoint < stats.counts.total() && by_endpoint > stats.counts.total() / 2);
    assert!(stats.timeline.windows(2).all(|w| w[1].ts - w[0].ts == 60));
    assert_eq!(stats.latency_timeline.len(), stats.timeline.len());
    let lat = stats.latency_ms.unwrap();
    assert!(lat.p50 <= lat.p90 && lat.p90 <= lat.p95 && lat.p95 <= lat.p99);
    // The burst's failures are the top failing endpoints, and they are in the HTTP logs.
    assert!(stats.top_failing[0].errors_5xx > 0);
    let logs = &snap.logs[&id];
    assert!(
        logs.http
            .iter()
            .all(|h| h.status >= 400 || h.total_duration_ms >= 1000)
    );
    assert!(
        logs.http
            .iter()
            .any(|h| h.status == 502 && h.response_details.is_some())
    );
    assert!(
        logs.http
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp)
    );
    assert!(logs.deploy.iter().any(|l| l.message == "request failed"));
}

#[test]
fn low_traffic_crashed_and_long_windows() {
    let b = ProjectBuilder::new("p", "autofix-test", NOW, 360)
        .service(ServiceBuilder::new("admin").low_traffic_errors())
        .service(ServiceBuilder::new("hooks").crashed().rps(1.0))
        .service(ServiceBuilder::new("db").database("postgres:16"));
    let snap = b.build();
    assert_eq!(snap.resources.sample_rate_seconds, 60);
    let admin = &snap.http.services[&b.service_id("admin")];
    assert_eq!((admin.counts.total(), admin.counts.s5xx), (2, 1));

    let hooks = snap.architecture.service_by_name("hooks").unwrap();
    assert_eq!(
        hooks.latest_deployment.as_ref().unwrap().status,
        DeploymentStatus::Crashed
    );
    let logs = &snap.logs[&hooks.id];
    assert!(logs.http.iter().any(|h| h.status == 502
        && h.response_details.as_deref() == Some("Application failed to respond")));
    assert!(
        logs.deploy
            .iter()
            .any(|l| l.message.starts_with("TypeError: Cannot read properties"))
    );

    let db = b.service_id("db");
    let usage = &snap.resources.services[&db];
    assert_eq!(usage.cpu.len(), 360);
    assert!(
        usage
            .cpu
            .iter()
            .all(|s| s.ts % 60 == 0 && s.ts >= NOW - 360 * 60 && s.ts < NOW)
    );
    assert!(!snap.http.services.contains_key(&db));
}

#[test]
fn custom_logs_are_spread_over_the_window() {
    let b = ProjectBuilder::new("p", "autofix-test", NOW, 30)
        .service(ServiceBuilder::new("api").logs([("error", "boom one"), ("warn", "boom two")]));
    let snap = b.build();
    let deploy = &snap.logs[&b.service_id("api")].deploy;
    let one = deploy.iter().find(|l| l.message == "boom one").unwrap();
    assert_eq!(one.severity.as_deref(), Some("error"));
    assert_eq!(&one.timestamp[..19], "2026-11-23T08:50:00");
    assert!(deploy.iter().any(|l| l.message == "boom two"));
}
