//! The demo project must show exactly the problems it advertises under default thresholds.

use demo::{DEMO_PROJECT_NAME, demo_project, names};
use detect::{FindingKind, HealthStatus, Severity, Thresholds, detect, findings_markdown};

const NOW: i64 = 1_795_425_000; // 2026-11-23T09:10:00Z

fn id_of(snap: &railway::model::ProjectSnapshot, name: &str) -> String {
    snap.architecture
        .service_by_name(name)
        .expect(name)
        .id
        .clone()
}

#[test]
fn default_thresholds_flag_exactly_the_three_broken_services() {
    let snap = demo_project(NOW);
    let report = detect(
        &snap.architecture,
        &snap.resources,
        &snap.http,
        &Thresholds::default(),
    );
    println!("{}", findings_markdown(&report, &snap.architecture));

    let mut affected = report.affected_services();
    affected.sort();
    let mut expected: Vec<String> = [
        names::STOREFRONT_API,
        names::IMAGE_WORKER,
        names::REPORTS_API,
    ]
    .iter()
    .map(|n| id_of(&snap, n))
    .collect();
    expected.sort();
    assert_eq!(affected, expected);

    let kinds = |name: &str| -> Vec<(FindingKind, Severity)> {
        let id = id_of(&snap, name);
        report
            .findings
            .iter()
            .filter(|f| f.service_id == id)
            .map(|f| (f.kind, f.severity))
            .collect()
    };
    assert_eq!(
        kinds(names::STOREFRONT_API),
        vec![(FindingKind::MemoryTrend, Severity::Warning)]
    );
    assert_eq!(
        kinds(names::IMAGE_WORKER),
        vec![(FindingKind::Cpu, Severity::Critical)]
    );
    assert_eq!(
        kinds(names::REPORTS_API),
        vec![(FindingKind::Latency, Severity::Critical)]
    );
    assert_eq!(kinds(names::EDGE_GATEWAY), vec![]);
    assert_eq!(
        kinds(names::POSTGRES),
        vec![(FindingKind::Memory, Severity::Observation)]
    );

    let health = |name: &str| report.service(&id_of(&snap, name)).unwrap().status;
    assert_eq!(health(names::EDGE_GATEWAY), HealthStatus::Healthy);
    assert_eq!(health(names::POSTGRES), HealthStatus::Observation);
}

#[test]
fn demo_is_deterministic_labelled_and_shaped_like_railway() {
    let a = demo_project(NOW);
    assert_eq!(a, demo_project(NOW));
    assert_eq!(a.architecture.project.name, DEMO_PROJECT_NAME);
    assert_eq!(a.architecture.services.len(), 5);
    assert_eq!(a.resources.sample_rate_seconds, 30);
    for usage in a.resources.services.values() {
        assert_eq!(usage.cpu.len(), 60);
        assert_eq!(usage.memory_gb.len(), 60);
    }
    let pg = a.architecture.service_by_name(names::POSTGRES).unwrap();
    assert!(pg.is_database);
    assert_eq!(
        pg.source.image.as_deref(),
        Some("ghcr.io/railwayapp-templates/postgres-ssl:16")
    );
    assert_eq!(a.architecture.volumes_of(&pg.id).count(), 1);
    assert!(!a.http.services.contains_key(&pg.id));

    let storefront = a
        .architecture
        .service_by_name(names::STOREFRONT_API)
        .unwrap();
    assert_eq!(
        storefront.source.repo.as_deref(),
        Some("acme-demo/storefront-api")
    );
    let logs = &a.logs[&storefront.id];
    let text: Vec<&str> = logs.deploy.iter().map(|l| l.message.as_str()).collect();
    assert!(text.contains(
        &"FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"
    ));
    assert!(text.contains(&"<--- Last few GCs --->"));
    assert!(!logs.build.is_empty());
    // RFC 3339 with nanoseconds, sorted.
    for l in logs.deploy.iter().chain(&logs.build) {
        assert_eq!(l.timestamp.len(), 30, "{}", l.timestamp);
        assert!(l.timestamp.ends_with('Z'));
    }
    assert!(
        logs.deploy
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp)
    );

    let pg_logs: Vec<&str> = a.logs[&pg.id]
        .deploy
        .iter()
        .map(|l| l.message.as_str())
        .collect();
    assert!(
        pg_logs
            .iter()
            .any(|m| m.contains("LOG:  duration: ") && m.contains(" ms  statement: SELECT"))
    );

    let reports = a.architecture.service_by_name(names::REPORTS_API).unwrap();
    let r_logs = &a.logs[&reports.id];
    assert!(
        r_logs
            .deploy
            .iter()
            .any(|l| l.message.starts_with("Error: connect ETIMEDOUT "))
    );
    assert!(
        r_logs
            .deploy
            .iter()
            .any(|l| l.message.starts_with("Error: connect ECONNREFUSED "))
    );
    assert!(
        r_logs
            .http
            .iter()
            .all(|h| h.status >= 400 || h.total_duration_ms >= 1000)
    );
    assert!(
        r_logs
            .http
            .iter()
            .any(|h| h.path.starts_with("/reports/monthly"))
    );

    // A later window: same ids, different numbers.
    let b = demo_project(NOW + 600);
    let ids = |s: &railway::model::ProjectSnapshot| -> Vec<String> {
        s.architecture
            .services
            .iter()
            .map(|x| x.id.clone())
            .collect()
    };
    assert_eq!(ids(&a), ids(&b));
    assert_ne!(a.resources, b.resources);
}

#[test]
fn verdict_holds_for_any_window_not_just_one_seed() {
    for k in 0..12 {
        let now = NOW + k * 3_607;
        let snap = demo_project(now);
        let report = detect(
            &snap.architecture,
            &snap.resources,
            &snap.http,
            &Thresholds::default(),
        );
        let mut flagged: Vec<(String, FindingKind, bool)> = report
            .findings
            .iter()
            .map(|f| (f.service.clone(), f.kind, f.is_incident()))
            .collect();
        flagged.sort();
        assert_eq!(
            flagged,
            vec![
                (names::IMAGE_WORKER.into(), FindingKind::Cpu, true),
                (names::POSTGRES.into(), FindingKind::Memory, false),
                (names::REPORTS_API.into(), FindingKind::Latency, true),
                (names::STOREFRONT_API.into(), FindingKind::MemoryTrend, true),
            ],
            "now = {now}"
        );
    }
}
