//! Plain-data fixtures for tests of the analysis and of the crates that consume it
//! (feature `test-support`).

use detect::{Finding, FindingKind, Severity};
use evidence::{HttpGroup, LogPattern, LogSource, ServiceContext};
use railway::model::TimeWindow;

use crate::{AnalysisInput, ServiceRef};

/// A finding on one service, with fixed numbers and window.
pub fn finding(
    service_id: &str,
    service: &str,
    kind: FindingKind,
    severity: Severity,
    evidence: &str,
) -> Finding {
    Finding {
        service_id: service_id.into(),
        service: service.into(),
        kind,
        severity,
        metric: "m".into(),
        value: 42.0,
        threshold: 10.0,
        unit: "MB/h".into(),
        window: TimeWindow {
            start: 1_700_000_000,
            end: 1_700_001_800,
        },
        evidence: evidence.into(),
        fingerprint: detect::fingerprint(service_id, kind),
        cleared_at: None,
        onset: None,
        sampled: None,
        baseline: None,
        suspect_deployment: None,
    }
}

/// A log pattern seen 120 times in deploy logs.
pub fn pattern(level: &str, text: &str, samples: &[&str]) -> LogPattern {
    LogPattern {
        source: LogSource::Deploy,
        level: level.into(),
        pattern: text.into(),
        count: 120,
        first_seen: "2026-11-23T09:00:00Z".into(),
        last_seen: "2026-11-23T09:30:00Z".into(),
        samples: samples.iter().map(|s| s.to_string()).collect(),
    }
}

/// An empty context for one service.
pub fn context(service_id: &str, service: &str, repo: Option<&str>) -> ServiceContext {
    ServiceContext {
        service_id: service_id.into(),
        service: service.into(),
        repo: repo.map(Into::into),
        log_patterns: Vec::new(),
        http_failures: Vec::new(),
        slow_requests: Vec::new(),
        upstreams: Vec::new(),
        notes: Vec::new(),
        suspect_change: None,
    }
}

/// A memory leak on `api` (acme/api) plus a healthy-looking `postgres` without a repository.
pub fn leak_input() -> AnalysisInput {
    let mut api = context("svc-api", "api", Some("acme/api"));
    api.log_patterns = vec![
        pattern(
            "error",
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
            &["<--- Last few GCs --->", "FATAL ERROR: Reached heap limit"],
        ),
        pattern(
            "warn",
            "request cache size <n> entries",
            &["request cache size 120000 entries"],
        ),
        pattern(
            "info",
            "GET /users/<id> <n>ms",
            &[
                "GET /users/17 12ms",
                "GET /users/99 14ms",
                "GET /users/3 11ms",
            ],
        ),
    ];
    api.http_failures = vec![HttpGroup {
        method: "GET".into(),
        route: "/users/<id>".into(),
        status: 502,
        count: 37,
        p95_ms: Some(2400.0),
        max_ms: Some(5000.0),
        details: vec!["upstream connection reset".into()],
    }];
    api.notes = vec!["12 info lines dropped by the log cap".into()];
    AnalysisInput {
        findings: vec![
            finding(
                "svc-api",
                "api",
                FindingKind::MemoryTrend,
                Severity::Critical,
                "memory +310 MB/h over 30 min",
            ),
            finding(
                "svc-pg",
                "postgres",
                FindingKind::Memory,
                Severity::Observation,
                "memory flat at 85%",
            ),
        ],
        contexts: vec![api],
        architecture_summary: "api (node, acme/api) -> postgres (image postgres:16, volume 5 GB)"
            .into(),
        services: vec![
            ServiceRef {
                id: "svc-api".into(),
                name: "api".into(),
                repo: Some("acme/api".into()),
            },
            ServiceRef {
                id: "svc-pg".into(),
                name: "postgres".into(),
                repo: None,
            },
        ],
        charts: Vec::new(),
    }
}
