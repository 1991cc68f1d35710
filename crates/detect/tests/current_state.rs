//! Current state rather than window average: recoveries, both HTTP data paths, scanners, stable
//! verdicts around thresholds, sampling labels, baselines and the suspect deployment.

mod common;

use std::collections::BTreeMap;

use common::{run, verdict};
use demo::scenario::{ProjectBuilder, ServiceBuilder};
use detect::{Context, FindingKind, Report, Severity, Thresholds, detect, detect_with};
use railway::http::{HttpRow, from_logs};
use railway::model::{HttpReport, ProjectSnapshot, ServiceBaseline};

const NOW: i64 = 1_795_425_000; // 2026-11-23T09:10:00Z

fn builder(id: &str, now: i64, services: Vec<ServiceBuilder>) -> ProjectBuilder {
    services
        .into_iter()
        .fold(ProjectBuilder::new(id, "autofix-test", now, 30), |p, s| {
            p.service(s)
        })
}

/// The burst simulation answers some requests 504 after 15–30 s, so a latency finding rides along
/// with every burst; these tests are about the 5xx one.
fn errors(report: &Report) -> Vec<(String, FindingKind, Severity)> {
    verdict(report)
        .into_iter()
        .filter(|v| v.1 == FindingKind::ErrorRate5xx)
        .collect()
}

fn incidents(report: &Report) -> Vec<(String, FindingKind, Severity)> {
    report
        .incidents()
        .map(|f| (f.service.clone(), f.kind, f.severity))
        .collect()
}

/// The same traffic as the `httpLogs` fallback sees it: every request of the latest deployment.
fn via_logs(p: &ProjectBuilder, snap: &ProjectSnapshot, cap: usize) -> HttpReport {
    let window = p.window();
    let services = p
        .http_log_rows()
        .into_iter()
        .map(|(id, lines)| {
            let rows: Vec<HttpRow> = lines.iter().map(HttpRow::from).collect();
            (id.clone(), from_logs(&id, window, rows, 60, cap))
        })
        .collect();
    assert_eq!(snap.http.window, window);
    HttpReport { window, services }
}

#[test]
fn a_burst_that_ended_is_recovered_not_an_incident() {
    let p = builder(
        "recovered",
        NOW,
        vec![
            ServiceBuilder::new("api")
                .rps(5.0)
                .error_burst_between(25, 12, 0.4),
        ],
    );
    let snap = p.build();
    let report = run(&snap);
    assert_eq!(
        errors(&report),
        vec![("api".into(), FindingKind::ErrorRate5xx, Severity::Recovered)]
    );
    assert_eq!(report.incidents().count(), 0);
    let f = &report.findings[0];
    assert!(!f.is_incident());
    assert_eq!(f.cleared_at, Some(NOW - 12 * 60));
    assert!(
        f.evidence.starts_with("recovered at 08:58 UTC"),
        "{}",
        f.evidence
    );
    assert_eq!(report.services[0].status, detect::HealthStatus::Recovered);
    let md = detect::findings_markdown(&report, &snap.architecture);
    assert!(md.contains("| recovered | api | error_rate_5xx |"), "{md}");
    assert!(
        md.contains("0 incidents on 0 services, 0 observations, 1 recovered."),
        "{md}"
    );

    // Still failing 5 minutes ago: not clean for `recovery_minutes`, so still an incident.
    let snap = builder(
        "recovered",
        NOW,
        vec![
            ServiceBuilder::new("api")
                .rps(5.0)
                .error_burst_between(25, 5, 0.4),
        ],
    )
    .build();
    assert_eq!(
        errors(&run(&snap)),
        vec![("api".into(), FindingKind::ErrorRate5xx, Severity::Critical)]
    );
}

#[test]
fn a_redeploy_that_fixed_the_errors_is_recovered_on_both_data_paths() {
    let p = builder(
        "redeploy",
        NOW,
        vec![
            ServiceBuilder::new("api")
                .repo("acme/api")
                .rps(5.0)
                .error_burst_between(25, 6, 0.5)
                .redeployed(6),
        ],
    );
    let snap = p.build();
    let report = run(&snap);
    assert_eq!(
        errors(&report),
        vec![("api".into(), FindingKind::ErrorRate5xx, Severity::Recovered)]
    );
    assert_eq!(report.incidents().count(), 0);
    assert_eq!(report.findings[0].cleared_at, Some(NOW - 6 * 60));
    assert!(
        report.findings[0]
            .evidence
            .contains("clean since deployment"),
        "{}",
        report.findings[0].evidence
    );
    assert_eq!(report.services[0].current_since, Some(NOW - 6 * 60));

    // The fallback path reads only the latest deployment: it never saw the errors, and agrees
    // that nothing is an incident.
    let http = via_logs(&p, &snap, 5000);
    let fallback = detect(
        &snap.architecture,
        &snap.resources,
        &http,
        &Thresholds::default(),
    );
    assert_eq!(incidents(&fallback), vec![]);
    assert_eq!(incidents(&report), incidents(&fallback));
}

#[test]
fn both_http_data_paths_give_the_same_verdict_for_the_same_traffic() {
    let cases: Vec<(&str, ServiceBuilder)> = vec![
        ("healthy", ServiceBuilder::new("api").rps(6.0)),
        (
            "burst",
            ServiceBuilder::new("api").rps(6.0).error_burst(8, 0.4),
        ),
        (
            "recovered",
            ServiceBuilder::new("api")
                .rps(6.0)
                .error_burst_between(28, 14, 0.3),
        ),
        (
            "redeployed",
            ServiceBuilder::new("api")
                .rps(6.0)
                .error_burst_between(28, 9, 0.3)
                .redeployed(9),
        ),
        (
            "slow",
            ServiceBuilder::new("api")
                .rps(4.0)
                .slow_endpoint("GET", "/reports", 4800.0),
        ),
        (
            "scanners",
            ServiceBuilder::new("api").rps(6.0).scanners(0.4),
        ),
        (
            "real 4xx",
            ServiceBuilder::new("api").rps(6.0).client_errors(0.5, 401),
        ),
        (
            "regression after deploy",
            ServiceBuilder::new("api")
                .rps(6.0)
                .redeployed(15)
                .slower_since(15, 40.0),
        ),
    ];
    for (name, svc) in cases {
        let p = builder(name, NOW, vec![svc]);
        let snap = p.build();
        let metrics = run(&snap);
        let http = via_logs(&p, &snap, 100_000);
        let logs = detect(
            &snap.architecture,
            &snap.resources,
            &http,
            &Thresholds::default(),
        );
        let strip = |r: &Report| -> Vec<(String, FindingKind, Severity)> {
            // Recoveries the fallback cannot see (errors before the latest deployment) are the
            // one expected difference; every incident and observation must agree.
            verdict(r)
                .into_iter()
                .filter(|v| v.2 != Severity::Recovered || name != "redeployed")
                .collect()
        };
        assert_eq!(strip(&metrics), strip(&logs), "{name}");
        assert_eq!(
            metrics.services[0].status >= detect::HealthStatus::Warning,
            !incidents(&metrics).is_empty(),
            "{name}"
        );
    }
}

#[test]
fn two_consecutive_cycles_over_a_recovered_incident_produce_no_incident_in_the_second() {
    // Cycle 1: failing now.
    let first = builder(
        "cycles",
        NOW,
        vec![ServiceBuilder::new("api").rps(5.0).error_burst(8, 0.5)],
    )
    .build();
    assert_eq!(
        errors(&run(&first)),
        vec![("api".into(), FindingKind::ErrorRate5xx, Severity::Critical)]
    );
    // Cycle 2, ten minutes later: the same burst ended 11 minutes ago without any change.
    let second = builder(
        "cycles",
        NOW + 600,
        vec![
            ServiceBuilder::new("api")
                .rps(5.0)
                .error_burst_between(19, 11, 0.5),
        ],
    )
    .build();
    let report = run(&second);
    assert_eq!(incidents(&report), vec![]);
    assert_eq!(
        errors(&report),
        vec![("api".into(), FindingKind::ErrorRate5xx, Severity::Recovered)]
    );
    assert_eq!(
        report.findings[0].fingerprint,
        run(&first).findings[0].fingerprint
    );

    // Or fixed by a redeploy 2 minutes after cycle 1.
    let second = builder(
        "cycles",
        NOW + 600,
        vec![
            ServiceBuilder::new("api")
                .rps(5.0)
                .error_burst_between(19, 8, 0.5)
                .redeployed(8),
        ],
    )
    .build();
    let report = run(&second);
    assert_eq!(incidents(&report), vec![]);
    assert_eq!(
        errors(&report),
        vec![("api".into(), FindingKind::ErrorRate5xx, Severity::Recovered)]
    );
}

#[test]
fn sustained_cpu_that_stopped_is_recovered() {
    let snap = builder(
        "cpu-recovered",
        NOW,
        vec![
            ServiceBuilder::new("jobs")
                .worker()
                .cpu_sustained_until(97.0, 12),
        ],
    )
    .build();
    let report = run(&snap);
    assert_eq!(
        verdict(&report),
        vec![("jobs".into(), FindingKind::Cpu, Severity::Recovered)]
    );
    let cleared = report.findings[0].cleared_at.unwrap();
    assert!(
        (NOW - 12 * 60..=NOW - 12 * 60 + 30).contains(&cleared),
        "{cleared}"
    );
}

#[test]
fn scanner_404s_are_an_observation_and_real_route_4xx_an_incident() {
    let snap = builder(
        "scan",
        NOW,
        vec![ServiceBuilder::new("site").rps(6.0).scanners(0.45)],
    )
    .build();
    let report = run(&snap);
    assert_eq!(
        verdict(&report),
        vec![("site".into(), FindingKind::Scanners, Severity::Observation)]
    );
    let f = &report.findings[0];
    assert!(f.value > 35.0 && f.value < 55.0, "{}", f.value);
    assert!(f.evidence.contains("/wp-login.php ×"), "{}", f.evidence);
    assert!(f.evidence.contains("not an incident"), "{}", f.evidence);
    // Without the probe separation the same traffic is a critical 4xx incident.
    let mut blind = snap.clone();
    for s in blind.http.services.values_mut() {
        s.probes = Default::default();
    }
    assert_eq!(
        incidents(&run(&blind)),
        vec![("site".into(), FindingKind::ErrorRate4xx, Severity::Critical)]
    );

    // Real routes answering 401 to half the requests: an incident, probes left out of the rate.
    let snap = builder(
        "scan",
        NOW,
        vec![
            ServiceBuilder::new("site")
                .rps(6.0)
                .client_errors(0.5, 401)
                .scanners(0.2),
        ],
    )
    .build();
    let report = run(&snap);
    let four = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::ErrorRate4xx)
        .expect("4xx incident");
    assert!(four.is_incident());
    assert!(
        four.evidence.contains("scanner probes left out"),
        "{}",
        four.evidence
    );
    assert!(!four.evidence.contains("wp-login"), "{}", four.evidence);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::Scanners && !f.is_incident())
    );
}

/// `(threshold name, builder at the threshold, expected verdict)`: the verdict of a flat series at
/// each threshold must not depend on its noise.
#[test]
fn flat_series_at_every_threshold_get_one_verdict_for_noise_seeds_1_to_50() {
    let t = Thresholds::default();
    type Make = fn(f64) -> ServiceBuilder;
    let memory: Make = |pct| {
        ServiceBuilder::new("db")
            .database("postgres:16")
            .limits(2.0, 2.0)
            .memory_flat(pct)
    };
    let cpu: Make = |pct| {
        ServiceBuilder::new("jobs")
            .worker()
            .cpu_sustained(pct)
            .memory_flat(30.0)
    };
    let cases: Vec<(&str, Make, f64, Option<Severity>)> = vec![
        (
            "memory warning",
            memory,
            t.memory_warning_pct,
            Some(Severity::Observation),
        ),
        (
            "memory critical",
            memory,
            t.memory_critical_pct,
            Some(Severity::Observation),
        ),
        (
            "memory saturation",
            memory,
            t.memory_saturation_pct,
            Some(Severity::Critical),
        ),
        (
            "cpu warning",
            cpu,
            t.cpu_warning_pct,
            Some(Severity::Observation),
        ),
        (
            "cpu critical",
            cpu,
            t.cpu_critical_pct,
            Some(Severity::Observation),
        ),
        (
            "cpu saturation",
            cpu,
            t.cpu_saturation_pct,
            Some(Severity::Critical),
        ),
        (
            "below memory warning",
            memory,
            t.memory_warning_pct - 3.0,
            None,
        ),
        ("below cpu warning", cpu, t.cpu_warning_pct - 8.0, None),
    ];
    for (name, make, level, expected) in cases {
        let mut seen = BTreeMap::new();
        for seed in 1..=50 {
            let snap = builder(&format!("noise-{seed}"), NOW, vec![make(level)]).build();
            let report = run(&snap);
            let v: Vec<Severity> = report.findings.iter().map(|f| f.severity).collect();
            seen.entry(v).or_insert(seed);
        }
        assert_eq!(seen.len(), 1, "{name} at {level}: verdicts {seen:?}");
        let only: Vec<Severity> = seen.into_keys().next().unwrap();
        assert_eq!(only.first().copied(), expected, "{name}");
    }
}

#[test]
fn fallback_figures_that_do_not_cover_the_window_say_sampled() {
    let p = builder(
        "sampled",
        NOW,
        vec![ServiceBuilder::new("api").rps(6.0).error_burst(10, 0.5)],
    );
    let snap = p.build();
    let http = via_logs(&p, &snap, 3000);
    let report = detect(
        &snap.architecture,
        &snap.resources,
        &http,
        &Thresholds::default(),
    );
    let f = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::ErrorRate5xx)
        .unwrap();
    let s = f.sampled.expect("sampled label");
    assert_eq!(s.rows, 3000);
    assert!(s.covered_seconds < 1800 && s.covered_seconds > 0);
    assert!(
        f.evidence
            .contains("(sampled: newest 3,000 requests, covering"),
        "{}",
        f.evidence
    );
    assert!(report.services[0].http_sampled.is_some());
    let md = detect::findings_markdown(&report, &snap.architecture);
    assert!(md.contains("% (sampled) |"), "{md}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["findings"][0]["sampled"]["rows"], 3000);
    // Covering the whole window: no label.
    let http = via_logs(&p, &snap, 100_000);
    let report = detect(
        &snap.architecture,
        &snap.resources,
        &http,
        &Thresholds::default(),
    );
    assert!(report.findings.iter().all(|f| f.sampled.is_none()));
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("\"sampled\""), "{json}");
}

fn with_baseline(snap: &ProjectSnapshot, name: &str, p95_ms: f64) -> Context {
    let id = snap.architecture.service_by_name(name).unwrap().id.clone();
    Context {
        baselines: BTreeMap::from([(
            id,
            ServiceBaseline {
                period_seconds: 86_400,
                p95_ms: Some(p95_ms),
                cpu: None,
                memory_gb: None,
            },
        )]),
        deployments: snap.deployments.clone(),
    }
}

fn run_with(snap: &ProjectSnapshot, ctx: &Context) -> Report {
    detect_with(
        &snap.architecture,
        &snap.resources,
        &snap.http,
        &Thresholds::default(),
        ctx,
    )
}

#[test]
fn baselines_catch_regressions_below_thresholds_and_stop_flagging_slow_by_nature_services() {
    // p95 ~0.9 s: below the 1 s threshold, 20× its normal of 45 ms.
    let snap = builder(
        "baseline",
        NOW,
        vec![
            ServiceBuilder::new("api")
                .rps(6.0)
                .endpoint("GET", "/items", 1.0, 430.0),
        ],
    )
    .build();
    assert_eq!(incidents(&run(&snap)), vec![]);
    let report = run_with(&snap, &with_baseline(&snap, "api", 45.0));
    assert_eq!(
        incidents(&report),
        vec![("api".into(), FindingKind::Latency, Severity::Warning)]
    );
    let f = &report.findings[0];
    let b = f.baseline.unwrap();
    assert!(b.ratio > 15.0 && b.ratio < 25.0, "{}", b.ratio);
    assert!(
        f.evidence.contains("× its 24 h median (45 ms)"),
        "{}",
        f.evidence
    );

    // Normal p95 2.5 s: at 2.6 s it is reported against its baseline, not flagged forever.
    let slow = builder(
        "baseline",
        NOW,
        vec![
            ServiceBuilder::new("reports")
                .rps(4.0)
                .endpoint("GET", "/reports", 1.0, 1250.0),
        ],
    )
    .build();
    assert_eq!(
        incidents(&run(&slow)),
        vec![("reports".into(), FindingKind::Latency, Severity::Warning)]
    );
    let report = run_with(&slow, &with_baseline(&slow, "reports", 2500.0));
    assert_eq!(
        verdict(&report),
        vec![(
            "reports".into(),
            FindingKind::Latency,
            Severity::Observation
        )]
    );
    assert!(report.findings[0].evidence.contains("judged against it"));
    // … and three times its normal is an incident again.
    let report = run_with(&slow, &with_baseline(&slow, "reports", 700.0));
    assert_eq!(
        incidents(&report),
        vec![("reports".into(), FindingKind::Latency, Severity::Warning)]
    );
}

#[test]
fn a_latency_regression_after_a_deploy_names_the_suspect_deployment() {
    let snap = builder(
        "suspect",
        NOW,
        vec![
            ServiceBuilder::new("api")
                .repo("acme/api")
                .rps(6.0)
                .redeployed(16)
                .commit_message("Add response cache for /process")
                .slower_since(12, 30.0),
        ],
    )
    .build();
    let report = run_with(&snap, &with_baseline(&snap, "api", 60.0));
    let f = report
        .incidents()
        .find(|f| f.kind == FindingKind::Latency)
        .expect("latency incident");
    let s = f.suspect_deployment.as_ref().expect("suspect");
    let latest = snap.architecture.services[0]
        .latest_deployment
        .clone()
        .unwrap();
    assert_eq!(s.id, latest.id);
    assert_eq!(s.commit_hash, latest.commit_hash);
    assert_eq!(
        s.commit_message.as_deref(),
        Some("Add response cache for /process")
    );
    assert_eq!(f.onset, Some(NOW - 12 * 60));
    assert!(
        (s.minutes_before_onset - 4.0).abs() < 0.01,
        "{}",
        s.minutes_before_onset
    );
    assert!(s.previous_commit_hash.is_some());
    assert_ne!(s.previous_commit_hash, s.commit_hash);
    assert!(
        f.evidence.contains("began 4 min after deployment"),
        "{}",
        f.evidence
    );
    // A problem that was there from the window's first minute began before it: no suspect.
    let snap = builder(
        "suspect",
        NOW,
        vec![
            ServiceBuilder::new("api")
                .repo("acme/api")
                .rps(4.0)
                .slow_endpoint("GET", "/reports", 4800.0),
        ],
    )
    .build();
    let report = run_with(&snap, &Context::default());
    assert!(report.incidents().all(|f| f.suspect_deployment.is_none()));
}
