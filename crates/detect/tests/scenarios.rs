//! Detection over simulated Railway projects, one known problem each. Every test asserts exactly
//! which services are flagged, with which kind and severity, and why.

mod common;

use common::{run, verdict};
use demo::scenario::{ProjectBuilder, ServiceBuilder};
use detect::{
    FindingKind, HealthStatus, Report, Severity, Thresholds, architecture_summary_markdown, detect,
    findings_markdown,
};
use railway::model::{ProjectSnapshot, Sample};

const NOW: i64 = 1_795_425_000; // 2026-11-23T09:10:00Z

fn project(services: Vec<ServiceBuilder>) -> ProjectSnapshot {
    project_at(NOW, 30, services)
}

fn project_at(now: i64, minutes: i64, services: Vec<ServiceBuilder>) -> ProjectSnapshot {
    services
        .into_iter()
        .fold(
            ProjectBuilder::new("proj-test", "autofix-test", now, minutes),
            |p, s| p.service(s),
        )
        .build()
}

fn names(report: &Report, snap: &ProjectSnapshot) -> Vec<String> {
    report
        .affected_services()
        .iter()
        .map(|id| snap.architecture.service(id).unwrap().name.clone())
        .collect()
}

#[test]
fn healthy_project_has_no_findings() {
    let snap = project(vec![
        ServiceBuilder::new("api").repo("acme/api").healthy(),
        ServiceBuilder::new("web")
            .repo("acme/web")
            .healthy()
            .rps(10.0),
        ServiceBuilder::new("jobs")
            .repo("acme/jobs")
            .worker()
            .healthy(),
        ServiceBuilder::new("postgres").database("postgres:16"),
    ]);
    let report = run(&snap);
    assert_eq!(verdict(&report), vec![]);
    assert!(
        report
            .services
            .iter()
            .all(|s| s.status == HealthStatus::Healthy)
    );
    assert_eq!(report.services.len(), 4);
    let md = findings_markdown(&report, &snap.architecture);
    assert!(md.contains("All 4 services healthy."), "{md}");
    let api = report.services.iter().find(|s| s.service == "api").unwrap();
    assert!(api.requests.unwrap() > 5000);
    assert!(api.p95_ms.unwrap() < 500.0);
    assert!(api.memory.as_ref().unwrap().median_pct.unwrap() < 40.0);
}

#[test]
fn memory_leak_below_threshold_is_a_trend_finding() {
    let snap = project(vec![
        ServiceBuilder::new("storefront")
            .repo("acme/storefront")
            .memory_leak(45.0, 60.0),
        ServiceBuilder::new("web").healthy(),
    ]);
    let report = run(&snap);
    // 45 % → ~48 % of 1 GB: far below the 80 % threshold, yet ~8.7 h to the limit.
    assert_eq!(
        verdict(&report),
        vec![(
            "storefront".into(),
            FindingKind::MemoryTrend,
            Severity::Warning
        )]
    );
    let f = &report.findings[0];
    assert_eq!(f.unit, "MB/h");
    assert!((f.value - 60.0).abs() < 8.0, "slope {}", f.value);
    assert!(f.value >= f.threshold);
    assert!(
        f.evidence.contains("rising") && f.evidence.contains("full in ~"),
        "{}",
        f.evidence
    );
    let trend = report.services[0].memory_trend.as_ref().unwrap();
    assert!(trend.r2 >= 0.8);
    let hours = trend.hours_to_limit.unwrap();
    assert!((6.0..12.0).contains(&hours), "{hours}");

    // The same growth near the limit is critical: < 6 h left.
    let snap = project(vec![
        ServiceBuilder::new("storefront").memory_leak(75.0, 60.0),
    ]);
    let report = run(&snap);
    assert_eq!(
        verdict(&report),
        vec![(
            "storefront".into(),
            FindingKind::MemoryTrend,
            Severity::Critical
        )]
    );
}

#[test]
fn sustained_cpu_is_an_incident() {
    let snap = project(vec![
        ServiceBuilder::new("image-worker")
            .worker()
            .cpu_sustained(96.0),
        ServiceBuilder::new("thumbnailer")
            .worker()
            .cpu_sustained(78.0)
            .memory_flat(30.0),
    ]);
    let report = run(&snap);
    assert_eq!(
        verdict(&report),
        vec![
            ("image-worker".into(), FindingKind::Cpu, Severity::Critical),
            // Flat at 78 %: below critical, no other signal: capacity observation only.
            (
                "thumbnailer".into(),
                FindingKind::Cpu,
                Severity::Observation
            ),
        ]
    );
    assert_eq!(names(&report, &snap), vec!["image-worker"]);
    let f = &report.findings[0];
    assert_eq!(f.metric, "cpu_share_of_limit");
    assert_eq!(f.threshold, 90.0);
    assert!(f.value > 90.0 && f.value < 100.0);
    assert!(f.evidence.contains("of 2 vCPU limit"), "{}", f.evidence);
}

#[test]
fn sustained_in_the_last_minutes_counts_even_if_the_window_was_quiet() {
    let mut snap = project(vec![ServiceBuilder::new("api").healthy()]);
    let usage = snap.resources.services.values_mut().next().unwrap();
    let limit = usage.cpu_limit.unwrap();
    let n = usage.cpu.len();
    // Last 5 minutes (10 samples of 60) at 95 %: only 17 % of the window, but all of the tail.
    for s in &mut usage.cpu[n - 10..] {
        s.value = 0.95 * limit;
    }
    let report = run(&snap);
    assert_eq!(
        verdict(&report),
        vec![("api".into(), FindingKind::Cpu, Severity::Critical)]
    );
    assert!(
        report.findings[0].evidence.contains("last 5 min"),
        "{}",
        report.findings[0].evidence
    );

    // A single hot sample at the very end is not "the last 5 minutes".
    let mut snap = project(vec![ServiceBuilder::new("api").healthy()]);
    let usage = snap.resources.services.values_mut().next().unwrap();
    let last = usage.cpu.last_mut().unwrap();
    *last = Sample {
        ts: last.ts,
        value: 2.0,
    };
    assert_eq!(verdict(&run(&snap)), vec![]);
}

#[test]
fn spiky_cpu_on_a_healthy_service_is_not_verdict() {
    let snap = project(vec![
        ServiceBuilder::new("edge-gateway").cpu_spiky().rps(12.0),
    ]);
    let report = run(&snap);
    assert_eq!(verdict(&report), vec![]);
    let cpu = report.services[0].cpu.as_ref().unwrap();
    // The reference worker's "max over the window" would have fired here.
    assert!(cpu.peak_pct.unwrap() > 85.0, "{cpu:?}");
    assert!(cpu.median_pct.unwrap() < 30.0, "{cpu:?}");
}

#[test]
fn slow_database_queries_flag_latency_only_and_name_the_endpoints() {
    let snap = project(vec![
        ServiceBuilder::new("reports-api")
            .repo("acme/reports")
            .slow_endpoint("GET", "/reports", 2200.0),
    ]);
    let report = run(&snap);
    assert_eq!(
        verdict(&report),
        vec![(
            "reports-api".into(),
            FindingKind::Latency,
            Severity::Warning
        )]
    );
    let f = &report.findings[0];
    assert_eq!(
        (f.metric.as_str(), f.unit.as_str(), f.threshold),
        ("p95_ms", "ms", 1000.0)
    );
    assert!(f.value >= 1000.0 && f.value < 3000.0, "{}", f.value);
    assert!(
        f.evidence.contains("slowest: GET /reports p95 2."),
        "{}",
        f.evidence
    );
}

#[test]
fn a_5xx_burst_in_the_last_minutes_fires_although_the_window_rate_is_diluted() {
    let snap = project_at(
        NOW,
        60,
        vec![
            ServiceBuilder::new("checkout")
                .rps(4.0)
                .error_burst(5, 0.15),
        ],
    );
    let report = run(&snap);
    let stats = snap.http.services.values().next().unwrap();
    assert!(
        stats.rate_5xx() * 100.0 < 2.0,
        "window rate {}",
        stats.rate_5xx()
    );
    assert_eq!(
        verdict(&report),
        vec![(
            "checkout".into(),
            FindingKind::ErrorRate5xx,
            Severity::Warning
        )]
    );
    let f = &report.findings[0];
    assert_eq!(f.metric, "rate_5xx_recent");
    assert_eq!(f.window.seconds(), 300);
    assert_eq!(f.window.end, NOW);
    assert!(f.value >= 10.0 && f.value < 25.0, "{}", f.value);
    assert!(f.evidence.starts_with("5xx burst:"), "{}", f.evidence);

    // A strong burst over a short window: critical, and the whole-window rate agrees.
    let snap = project(vec![
        ServiceBuilder::new("checkout").rps(4.0).error_burst(5, 0.6),
    ]);
    let report = run(&snap);
    assert_eq!(
        verdict(&report),
        vec![(
            "checkout".into(),
            FindingKind::ErrorRate5xx,
            Severity::Critical
        )]
    );
}

#[test]
fn two_requests_with_one_failure_is_not_an_incident() {
    let snap = project(vec![ServiceBuilder::new("admin").low_traffic_errors()]);
    let report = run(&snap);
    let stats = snap.http.services.values().next().unwrap();
    assert_eq!((stats.counts.total(), stats.counts.s5xx), (2, 1));
    assert_eq!(verdict(&report), vec![]);
    assert_eq!(report.services[0].rate_5xx_pct, Some(50.0));
    assert!(
        report.services[0]
            .notes
            .iter()
            .any(|n| n.contains("2 requests") && n.contains("not judged")),
        "{:?}",
        report.services[0].notes
    );
}

#[test]
fn crashed_deployment_is_critical() {
    let snap = project(vec![
        ServiceBuilder::new("webhooks")
            .repo("acme/webhooks")
            .crashed(),
    ]);
    let report = run(&snap);
    // Since the crash every request gets Railway's 502: the 5xx rule agrees.
    assert_eq!(
        verdict(&report),
        vec![
            (
                "webhooks".into(),
                FindingKind::ErrorRate5xx,
                Severity::Critical
            ),
            (
                "webhooks".into(),
                FindingKind::Deployment,
                Severity::Critical
            ),
        ]
    );
    let dep = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Deployment)
        .unwrap();
    assert!(dep.evidence.contains("CRASHED"), "{}", dep.evidence);
    assert_eq!(report.services[0].status, HealthStatus::Critical);
}

#[test]
fn flat_high_database_memory_is_an_observation_unless_corroborated() {
    let snap = project(vec![
        ServiceBuilder::new("postgres")
            .database("postgres:16")
            .limits(2.0, 2.0)
            .memory_flat(85.0),
        ServiceBuilder::new("api").healthy(),
    ]);
    let report = run(&snap);
    assert_eq!(
        verdict(&report),
        vec![(
            "postgres".into(),
            FindingKind::Memory,
            Severity::Observation
        )]
    );
    assert!(report.affected_services().is_empty());
    assert_eq!(report.incidents().count(), 0);
    assert!(
        report.findings[0].evidence.contains("flat"),
        "{}",
        report.findings[0].evidence
    );

    // The same flat memory on a service that is also failing requests is part of the incident.
    let snap = project(vec![
        ServiceBuilder::new("api")
            .memory_flat(85.0)
            .error_burst(10, 0.5),
    ]);
    let report = run(&snap);
    assert_eq!(
        verdict(&report),
        vec![
            ("api".into(), FindingKind::ErrorRate5xx, Severity::Critical),
            ("api".into(), FindingKind::Memory, Severity::Warning),
        ]
    );
}

#[test]
fn the_same_ongoing_incident_keeps_its_fingerprint_across_windows() {
    let first = project_at(
        NOW,
        30,
        vec![ServiceBuilder::new("storefront").memory_leak(61.0, 38.0)],
    );
    let second = project_at(
        NOW + 600,
        30,
        vec![ServiceBuilder::new("storefront").memory_leak(61.6, 38.0)],
    );
    let (a, b) = (run(&first), run(&second));
    assert_eq!(a.findings.len(), 1);
    assert_eq!(b.findings.len(), 1);
    assert_ne!(a.findings[0].value, b.findings[0].value);
    assert_ne!(a.findings[0].evidence, b.findings[0].evidence);
    assert_eq!(a.findings[0].fingerprint, b.findings[0].fingerprint);
    assert_eq!(
        a.findings[0].fingerprint,
        detect::fingerprint(&first.architecture.services[0].id, FindingKind::MemoryTrend)
    );
}

#[test]
fn without_limits_share_checks_are_skipped_and_said_so() {
    let snap = project(vec![
        ServiceBuilder::new("api").no_limits().cpu_sustained(99.0),
    ]);
    let report = run(&snap);
    assert_eq!(verdict(&report), vec![]);
    let notes = &report.services[0].notes;
    assert!(
        notes
            .iter()
            .any(|n| n == "no CPU limit reported: share-of-limit checks skipped"),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n == "no memory limit reported: share-of-limit checks skipped"),
        "{notes:?}"
    );
    let md = findings_markdown(&report, &snap.architecture);
    assert!(md.contains("no CPU limit reported"), "{md}");
}

#[test]
fn thresholds_change_the_verdict() {
    let snap = project(vec![
        ServiceBuilder::new("thumbnailer")
            .worker()
            .cpu_sustained(60.0),
    ]);
    assert_eq!(verdict(&run(&snap)), vec![]);
    let strict = Thresholds {
        cpu_warning_pct: 50.0,
        flat_band_pct: 0.0,
        ..Thresholds::default()
    };
    let report = detect(&snap.architecture, &snap.resources, &snap.http, &strict);
    assert_eq!(
        verdict(&report),
        vec![("thumbnailer".into(), FindingKind::Cpu, Severity::Warning)]
    );
}

#[test]
fn findings_are_sorted_and_rendered_compactly() {
    let snap = project(vec![
        ServiceBuilder::new("b-api").slow_endpoint("GET", "/slow", 2000.0),
        ServiceBuilder::new("a-worker").worker().cpu_sustained(97.0),
        ServiceBuilder::new("c-api").crashed(),
        ServiceBuilder::new("pg")
            .database("postgres:16")
            .memory_flat(88.0),
    ]);
    let report = run(&snap);
    let sev: Vec<Severity> = report.findings.iter().map(|f| f.severity).collect();
    assert!(sev.windows(2).all(|w| w[0] >= w[1]), "{sev:?}");
    assert_eq!(names(&report, &snap), vec!["a-worker", "c-api", "b-api"]);

    let md = findings_markdown(&report, &snap.architecture);
    assert!(
        md.starts_with("Window 2026-11-23 08:40–09:10 UTC (30 min)\n"),
        "{md}"
    );
    assert!(
        md.contains("4 incidents on 3 services, 1 observation."),
        "{md}"
    );
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ")).count(),
        1 + report.findings.len()
    );

    let arch = architecture_summary_markdown(&snap.architecture, Some(&snap.resources));
    assert_eq!(
        arch.lines().count(),
        1 + snap.architecture.services.len(),
        "{arch}"
    );
    assert!(
        arch.contains("**pg** (database) · image postgres:16"),
        "{arch}"
    );
    assert!(
        arch.contains("volume pg-volume at /var/lib/postgresql/data"),
        "{arch}"
    );
    assert!(arch.contains("deploy CRASHED"), "{arch}");
    assert!(arch.contains("cpu 97% of 2 vCPU"), "{arch}");
    assert!(arch.len() < 1200, "{} chars:\n{arch}", arch.len());
}

#[test]
fn client_errors_need_volume_and_a_high_rate() {
    let mut snap = project(vec![ServiceBuilder::new("api").healthy()]);
    let stats = snap.http.services.values_mut().next().unwrap();
    let total = stats.counts.total();
    // 30 % of requests answered 4xx (a broken client release, say).
    let moved = total * 30 / 100 - stats.counts.s4xx;
    stats.counts.s2xx -= moved;
    stats.counts.s4xx += moved;
    let report = run(&snap);
    assert_eq!(
        verdict(&report),
        vec![("api".into(), FindingKind::ErrorRate4xx, Severity::Warning)]
    );
    assert_eq!(report.findings[0].metric, "rate_4xx");
    assert!(
        (report.findings[0].value - 30.0).abs() < 0.1,
        "{}",
        report.findings[0].value
    );

    // The same share on a handful of requests is not judged.
    let stats = snap.http.services.values_mut().next().unwrap();
    stats.counts = railway::model::StatusCounts {
        s2xx: 7,
        s3xx: 0,
        s4xx: 3,
        s5xx: 0,
    };
    assert_eq!(verdict(&run(&snap)), vec![]);
}
