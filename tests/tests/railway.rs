//! The Railway client against the fake Railway GraphQL server: architecture, resource usage, HTTP
//! stats, logs, error mapping, token hygiene and the request budget of one health read.

use client_error::ClientError;
use std::collections::BTreeMap;
use std::time::Duration;

use autofix_tests::fake_railway::{FakeAuth, FakeRailway, Fault};
use railway::model::*;
use railway::timefmt::rfc3339;
use railway::{
    ClientConfig, Credentials, LogLimits, LogTarget, NamedServices, RailwayClient, RailwayError,
    Source, Token,
};

const SECRET: &str = "rw-secret-token-0123456789";
/// 2026-11-23T09:00:00Z
const END: i64 = 1_795_424_400;

fn window() -> TimeWindow {
    TimeWindow::last_minutes(END, 30)
}

fn service(
    id: &str,
    name: &str,
    repo: Option<&str>,
    image: Option<&str>,
    deployment: bool,
) -> Service {
    Service {
        id: id.into(),
        instance_id: format!("inst-{id}"),
        name: name.into(),
        source: ServiceSource {
            repo: repo.map(Into::into),
            image: image.map(Into::into),
        },
        builder: Some("RAILPACK".into()),
        root_directory: None,
        start_command: repo.map(|_| "npm start".into()),
        replicas: Some(1),
        region: Some("us-west2".into()),
        latest_deployment: deployment.then(|| Deployment {
            id: format!("dep-{id}"),
            status: DeploymentStatus::Success,
            created_at: rfc3339(END - 86_400),
            commit_hash: repo.map(|_| format!("abc{id}")),
        }),
        is_database: false,
        domains: if repo.is_some() {
            vec![format!("{name}.up.railway.app")]
        } else {
            Vec::new()
        },
    }
}

fn http_line(ts: i64, method: &str, path: &str, status: u16, ms: u64) -> HttpLogLine {
    HttpLogLine {
        timestamp: format!("{}.{:09}Z", rfc3339(ts).trim_end_matches('Z'), 1),
        method: method.into(),
        path: path.into(),
        status,
        total_duration_ms: ms,
        upstream_duration_ms: Some(ms.saturating_sub(2)),
        response_details: (status >= 500).then(|| "upstream connect error".into()),
        request_id: Some(format!("req-{ts}")),
    }
}

fn log_line(ts: i64, message: &str, severity: &str) -> LogLine {
    LogLine {
        timestamp: rfc3339(ts),
        message: message.into(),
        severity: Some(severity.into()),
        attributes: BTreeMap::new(),
    }
}

/// Project "shop": api (5xx burst on /orders/:id, slow /report), web (quiet), worker (no
/// traffic), postgres (image + volume).
fn shop() -> ProjectSnapshot {
    let w = window();
    let mut services = vec![
        service("api", "api", Some("acme/api"), None, true),
        service("web", "web", Some("acme/web"), None, true),
        service("worker", "worker", Some("acme/worker"), None, true),
        service(
            "pg",
            "postgres",
            None,
            Some("ghcr.io/railwayapp-templates/postgres-ssl:16"),
            true,
        ),
    ];
    services[3].is_database = true;
    let volumes = vec![Volume {
        id: "vi-1".into(),
        volume_id: "vol-1".into(),
        name: "pg-data".into(),
        service_id: Some("pg".into()),
        mount_path: "/var/lib/postgresql/data".into(),
        current_size_mb: 812.5,
        size_mb: 5000.0,
        state: Some("READY".into()),
    }];
    let architecture = Architecture {
        project: ProjectRef {
            id: "proj-1".into(),
            name: "shop".into(),
        },
        environment: EnvironmentRef {
            id: "env-prod".into(),
            name: "production".into(),
        },
        services,
        volumes,
    };
    let ticks: Vec<i64> = (0..60).map(|i| w.start + i * 30).collect();
    let mut resources = BTreeMap::new();
    for (id, mem_base) in [("api", 0.3), ("web", 0.2), ("worker", 0.1), ("pg", 0.5)] {
        resources.insert(
            id.to_owned(),
            ResourceUsage {
                service_id: id.into(),
                // The API leaks: memory climbs steadily.
                cpu: ticks.iter().map(|&ts| Sample { ts, value: 0.25 }).collect(),
                cpu_limit: Some(2.0),
                memory_gb: ticks
                    .iter()
                    .enumerate()
                    .map(|(i, &ts)| Sample {
                        ts,
                        value: if id == "api" {
                            mem_base + i as f64 * 0.01
                        } else {
                            mem_base
                        },
                    })
                    .collect(),
                memory_limit_gb: Some(1.0),
            },
        );
    }
    let mut http = BTreeMap::new();
    for id in ["api", "web", "worker"] {
        let timeline: Vec<HttpBucket> = if id == "worker" {
            Vec::new()
        } else {
            ticks
                .iter()
                .enumerate()
                .map(|(i, &ts)| HttpBucket {
                    ts,
                    counts: StatusCounts {
                        s2xx: 100,
                        s3xx: 0,
                        s4xx: 2,
                        s5xx: if id == "api" && i >= 50 { 40 } else { 0 },
                    },
                })
                .collect()
        };
        let counts = timeline.iter().fold(StatusCounts::default(), |mut c, b| {
            c.s2xx += b.counts.s2xx;
            c.s4xx += b.counts.s4xx;
            c.s5xx += b.counts.s5xx;
            c
        });
        let p = |x: f64| LatencyPercentiles {
            p50: x,
            p90: 2.0 * x,
            p95: 3.0 * x,
            p99: 5.0 * x,
        };
        http.insert(
            id.to_owned(),
            HttpStats {
                service_id: id.into(),
                window: w,
                counts,
                latency_ms: (id != "worker").then(|| p(40.0)),
                latency_timeline: timeline
                    .iter()
                    .map(|b| LatencySample {
                        ts: b.ts,
                        ms: p(40.0),
                    })
                    .collect(),
                timeline,
                top_failing: Vec::new(),
                slowest: Vec::new(),
                source: HttpStatsSource::Metrics,
                probes: Default::default(),
            },
        );
    }
    let mut logs = BTreeMap::new();
    let mut api_http = Vec::new();
    for i in 0..120 {
        let ts = w.start + i * 15;
        api_http.push(http_line(ts, "GET", "/health", 200, 3));
        if i >= 100 {
            api_http.push(http_line(
                ts + 1,
                "GET",
                &format!("/orders/{}", 1000 + i),
                502,
                30,
            ));
        }
        if i % 20 == 0 {
            api_http.push(http_line(ts + 2, "GET", "/report", 200, 4500));
            api_http.push(http_line(ts + 3, "POST", "/login", 401, 12));
        }
    }
    // Before the window: must not show up.
    api_http.push(http_line(w.start - 600, "GET", "/old", 500, 10));
    logs.insert(
        "api".to_owned(),
        ServiceLogs {
            service_id: "api".into(),
            deployment_id: Some("dep-api".into()),
            build: vec![
                log_line(END - 86_400, "npm ci", "info"),
                log_line(END - 86_390, "Build succeeded", "info"),
            ],
            deploy: (0..30)
                .map(|i| {
                    let ts = w.start + i * 60;
                    if i >= 25 {
                        log_line(ts, "Error: connect ECONNREFUSED 10.0.0.7:5432", "error")
                    } else {
                        log_line(ts, "GET /health 200", "info")
                    }
                })
                .chain([log_line(w.start - 3600, "old line", "info")])
                .collect(),
            http: api_http,
            truncated: Vec::new(),
        },
    );
    logs.insert(
        "web".to_owned(),
        ServiceLogs {
            service_id: "web".into(),
            deployment_id: Some("dep-web".into()),
            build: vec![log_line(END - 86_000, "vite build", "info")],
            deploy: vec![log_line(END - 120, "ready on :3000", "info")],
            http: vec![
                http_line(END - 100, "GET", "/", 200, 20),
                http_line(END - 50, "GET", "/missing", 404, 5),
            ],
            truncated: Vec::new(),
        },
    );
    ProjectSnapshot {
        architecture,
        resources: ResourceReport {
            window: w,
            sample_rate_seconds: 30,
            services: resources,
        },
        http: HttpReport {
            window: w,
            services: http,
        },
        logs,
        deployments: Default::default(),
        baselines: Default::default(),
    }
}

/// Log targets as an event names them: each service's latest deployment.
fn targets<S: AsRef<str>>(arch: &Architecture, ids: &[S]) -> Vec<LogTarget> {
    ids.iter()
        .map(|id| LogTarget {
            service_id: id.as_ref().to_owned(),
            deployment_id: arch
                .service(id.as_ref())
                .and_then(|s| s.latest_deployment.as_ref())
                .map(|d| d.id.clone()),
        })
        .collect()
}

fn client_for(fake: &FakeRailway, token: Token) -> RailwayClient {
    let creds = Credentials {
        token,
        project_id: "proj-1".into(),
        environment_id: "env-prod".into(),
    };
    RailwayClient::new(
        ClientConfig::new(creds)
            .with_endpoint(fake.endpoint())
            .with_timeout(Duration::from_secs(5)),
    )
    .unwrap()
}

async fn start(snapshots: Vec<ProjectSnapshot>) -> (FakeRailway, RailwayClient) {
    let fake = FakeRailway::start(snapshots, FakeAuth::Bearer(SECRET.into())).await;
    let client = client_for(&fake, Token::Account(SECRET.into()));
    (fake, client)
}

#[tokio::test]
async fn architecture_of_three_services_and_a_database() {
    let (fake, client) = start(vec![shop()]).await;
    let arch = client.architecture().await.unwrap();
    assert_eq!(
        arch.project,
        ProjectRef {
            id: "proj-1".into(),
            name: "shop".into()
        }
    );
    assert_eq!(arch.environment.name, "production");
    assert_eq!(arch.services.len(), 4);
    let dbs: Vec<&str> = arch
        .services
        .iter()
        .filter(|s| s.is_database)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(dbs, ["postgres"]);
    let api = arch.service_by_name("api").unwrap();
    assert_eq!(api.source.repo.as_deref(), Some("acme/api"));
    assert_eq!(api.instance_id, "inst-api");
    assert_eq!(api.builder.as_deref(), Some("RAILPACK"));
    assert_eq!(api.start_command.as_deref(), Some("npm start"));
    assert_eq!(api.domains, ["api.up.railway.app"]);
    let dep = api.latest_deployment.as_ref().unwrap();
    assert_eq!(
        (
            dep.id.as_str(),
            dep.status.clone(),
            dep.commit_hash.as_deref()
        ),
        ("dep-api", DeploymentStatus::Success, Some("abcapi"))
    );
    assert_eq!(arch.volumes_of("pg").count(), 1);
    assert_eq!(arch.volumes[0].size_mb, 5000.0);
    assert_eq!(fake.request_count(), 1);
    assert_eq!(fake.operations(), ["EnvironmentArchitecture"]);
    assert_eq!(
        client.rate_limit_remaining(),
        Some(autofix_tests::fake_railway::RATE_LIMIT_PER_HOUR - 1)
    );
}

#[tokio::test]
async fn a_volume_alone_makes_a_database() {
    let mut snap = shop();
    snap.architecture.services[3].source.image = Some("ghcr.io/acme/custom-store".into());
    let (_fake, client) = start(vec![snap]).await;
    let arch = client.architecture().await.unwrap();
    assert!(arch.service("pg").unwrap().is_database);
}

#[tokio::test]
async fn architecture_pages_beyond_one_hundred_instances() {
    let mut snap = shop();
    snap.architecture.services = (0..130)
        .map(|i| {
            service(
                &format!("s{i}"),
                &format!("svc{i}"),
                Some("acme/x"),
                None,
                i % 2 == 0,
            )
        })
        .collect();
    let (fake, client) = start(vec![snap]).await;
    let arch = client.architecture().await.unwrap();
    assert_eq!(arch.services.len(), 130);
    assert_eq!(arch.services[129].id, "s129");
    assert_eq!(arch.volumes.len(), 1);
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn environment_resolves_by_name() {
    let mut staging = shop();
    staging.architecture.environment = EnvironmentRef {
        id: "env-stg".into(),
        name: "staging".into(),
    };
    let (_fake, client) = start(vec![shop(), staging]).await;
    let client = client.resolve_environment("Staging").await.unwrap();
    assert_eq!(client.credentials().environment_id, "env-stg");
    assert_eq!(
        client.architecture().await.unwrap().environment.name,
        "staging"
    );
    match client.resolve_environment("qa").await {
        Err(RailwayError::EnvironmentNotFound { name, .. }) => assert_eq!(name, "qa"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn resource_usage_and_http_stats_for_every_service() {
    let (fake, client) = start(vec![shop()]).await;
    let source = Source::Live(client);
    let arch = source.architecture().await.unwrap();
    let usage = source
        .resource_usage(arch.services.len(), window())
        .await
        .unwrap();
    assert_eq!(usage.sample_rate_seconds, 30);
    assert_eq!(usage.services.len(), 4);
    let api = &usage.services["api"];
    assert_eq!(api.cpu.len(), 60);
    assert_eq!(api.cpu_limit, Some(2.0));
    assert_eq!(api.memory_limit_gb, Some(1.0));
    assert!(
        api.memory_gb.last().unwrap().value > api.memory_gb[0].value + 0.5,
        "leak visible"
    );

    let http = source.http_stats(&arch, window()).await.unwrap();
    assert_eq!(
        http.services.keys().collect::<Vec<_>>(),
        ["api", "web", "worker"],
        "databases skipped"
    );
    let api = &http.services["api"];
    assert_eq!(
        api.counts,
        StatusCounts {
            s2xx: 6000,
            s3xx: 0,
            s4xx: 120,
            s5xx: 400
        }
    );
    assert!((api.rate_5xx() - 400.0 / 6520.0).abs() < 1e-9);
    assert_eq!(api.timeline.len(), 60);
    assert_eq!(api.timeline[55].counts.s5xx, 40);
    assert_eq!(api.latency_ms.unwrap().p95, 120.0);
    assert_eq!(api.latency_timeline.len(), 60);
    assert_eq!(api.source, HttpStatsSource::Metrics);
    let failing = &api.top_failing[0];
    assert_eq!(
        (
            failing.method.as_str(),
            failing.path.as_str(),
            failing.errors_5xx
        ),
        ("GET", "/orders/:id", 20)
    );
    assert_eq!(api.top_failing[1].path, "/login");
    assert_eq!(api.slowest[0].path, "/report");
    assert_eq!(
        api.slowest.len(),
        1,
        "only requests over the slow threshold rank"
    );
    let worker = &http.services["worker"];
    assert_eq!(worker.counts.total(), 0);
    assert!(worker.latency_ms.is_none());
    // Limits once as scalars, then usage: two `metrics` requests.
    assert_eq!(source.request_count(), 4);
    assert_eq!(
        fake.operations(),
        [
            "EnvironmentArchitecture",
            "EnvironmentResourceMetrics",
            "EnvironmentResourceMetrics",
            "ServiceHttpMetricsBatch"
        ]
    );
}

#[tokio::test]
async fn logs_for_two_services_in_one_request() {
    let (fake, client) = start(vec![shop()]).await;
    let arch = client.architecture().await.unwrap();
    let before = fake.request_count();
    let limits = LogLimits {
        max_lines: 25,
        ..LogLimits::default()
    };
    let logs = client
        .logs(&targets(&arch, &["api", "web"]), window(), &limits)
        .await
        .unwrap();
    assert_eq!(fake.request_count() - before, 1);
    assert_eq!(fake.operations().last().unwrap(), "ServiceLogsBatch");
    let api = &logs["api"];
    assert_eq!(api.deployment_id.as_deref(), Some("dep-api"));
    assert_eq!(
        api.build.len(),
        2,
        "build logs predate the window and are kept"
    );
    assert_eq!(api.deploy.len(), 25);
    assert_eq!(
        api.deploy.last().unwrap().severity.as_deref(),
        Some("error")
    );
    assert!(
        api.deploy
            .iter()
            .all(|l| railway::timefmt::unix(&l.timestamp).unwrap() >= window().start)
    );
    assert!(
        api.http
            .iter()
            .all(|l| l.status >= 400 || l.total_duration_ms >= limits.slow_request_ms)
    );
    assert_eq!(api.http.len(), 25);
    assert!(
        api.http
            .windows(2)
            .all(|p| p[0].timestamp <= p[1].timestamp),
        "sorted by time"
    );
    assert!(api.http.iter().any(|l| l.response_details.is_some()));
    let web = &logs["web"];
    assert_eq!(web.http.len(), 1);
    assert_eq!(web.http[0].path, "/missing");
    assert_eq!(web.deploy.len(), 1);

    let tight = LogLimits {
        max_lines: 1000,
        max_bytes: 800,
        ..LogLimits::default()
    };
    let logs = client
        .logs(&targets(&arch, &["api"]), window(), &tight)
        .await
        .unwrap();
    assert!(
        logs["api"]
            .truncated
            .iter()
            .any(|t| t.contains("under 800 bytes")),
        "{:?}",
        logs["api"].truncated
    );
}

#[tokio::test]
async fn http_stats_fall_back_to_http_logs() {
    let mut snap = shop();
    // Give web full request logs: 6 000 requests in the last 10 minutes, more than one read covers.
    let w = window();
    let web_logs = snap.logs.get_mut("web").unwrap();
    web_logs.http = (0..6000)
        .map(|i| {
            http_line(
                END - 600 + i / 10,
                "GET",
                "/",
                if i % 100 == 0 { 500 } else { 200 },
                10 + (i % 50) as u64,
            )
        })
        .collect();
    let (fake, client) = start(vec![snap]).await;
    fake.set_http_metrics_unavailable(true);
    let arch = client.architecture().await.unwrap();
    let before = fake.request_count();
    let http = client.http_stats(&arch, w).await.unwrap();
    assert_eq!(
        fake.request_count() - before,
        2,
        "one rejected metrics request, one logs request"
    );
    let web = &http.services["web"];
    match web.source {
        HttpStatsSource::Logs {
            rows,
            sampled,
            covered_seconds,
        } => {
            assert_eq!(rows, 5000);
            assert!(sampled);
            assert_eq!(covered_seconds, 500);
        }
        ref other => panic!("{other:?}"),
    }
    assert_eq!(web.counts.total(), 5000);
    assert_eq!(web.counts.s5xx, 50);
    assert!(web.latency_ms.is_some());
    let api = &http.services["api"];
    assert!(matches!(
        api.source,
        HttpStatsSource::Logs { sampled: false, .. }
    ));
    assert_eq!(api.counts.s5xx, 20);
    assert_eq!(api.top_failing[0].path, "/orders/:id");

    let before = fake.request_count();
    client.http_stats(&arch, w).await.unwrap();
    assert_eq!(
        fake.request_count() - before,
        1,
        "the unavailable fields are not asked for again"
    );
}

fn assert_secret_free(e: &RailwayError) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(SECRET), "token leaked: {shown}");
}

#[tokio::test]
async fn each_error_class_maps_to_its_kind() {
    let (fake, client) = start(vec![shop()]).await;

    fake.fail_next(Fault::Unauthorized);
    let e = client.architecture().await.unwrap_err();
    assert!(
        matches!(
            e,
            RailwayError::Unauthorized {
                variable: "RAILWAY_API_TOKEN",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_retriable());
    assert_secret_free(&e);

    fake.fail_next(Fault::RateLimited {
        retry_after_secs: 7,
    });
    let e = client.architecture().await.unwrap_err();
    assert!(matches!(e, RailwayError::RateLimited { .. }), "{e:?}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    assert!(e.is_retriable());

    fake.fail_next(Fault::ServerError);
    let e = client.architecture().await.unwrap_err();
    assert!(
        matches!(e, RailwayError::Server { status: 500, .. }),
        "{e:?}"
    );
    assert!(e.is_retriable());
    assert_eq!(e.retry_after(), None);

    fake.fail_next(Fault::Html { status: 200 });
    let e = client.architecture().await.unwrap_err();
    assert!(matches!(e, RailwayError::NotJson { .. }), "{e:?}");
    assert!(e.to_string().contains("Access denied"));
    assert!(e.is_retriable());

    fake.fail_next(Fault::Html { status: 403 });
    let e = client.architecture().await.unwrap_err();
    assert!(
        matches!(e, RailwayError::NotJson { status: 403, .. }),
        "a Cloudflare block is not a token problem: {e:?}"
    );

    fake.fail_next(Fault::Html { status: 502 });
    assert!(matches!(
        client.architecture().await.unwrap_err(),
        RailwayError::Server { status: 502, .. }
    ));

    fake.fail_next(Fault::GraphQlError("Problem processing request".into()));
    let e = client.architecture().await.unwrap_err();
    match &e {
        RailwayError::GraphQl {
            operation,
            messages,
        } => {
            assert_eq!(operation, "EnvironmentArchitecture");
            assert_eq!(messages, &["Problem processing request"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.is_retriable());

    fake.fail_next(Fault::GraphQlError("Not Authorized".into()));
    assert!(matches!(
        client.architecture().await.unwrap_err(),
        RailwayError::Unauthorized { .. }
    ));

    // Wrong token: Railway answers 200 with a GraphQL error.
    let wrong = client_for(&fake, Token::Account("another-token".into()));
    let e = wrong.architecture().await.unwrap_err();
    assert!(
        matches!(
            e,
            RailwayError::Unauthorized {
                variable: "RAILWAY_API_TOKEN",
                ..
            }
        ),
        "{e:?}"
    );

    let slow = RailwayClient::new(
        ClientConfig::new(client.credentials().clone())
            .with_endpoint(fake.endpoint())
            .with_timeout(Duration::from_millis(150)),
    )
    .unwrap();
    fake.fail_next(Fault::Delay(Duration::from_millis(800)));
    let e = slow.architecture().await.unwrap_err();
    assert!(matches!(e, RailwayError::Timeout { .. }), "{e:?}");
    assert!(e.is_retriable());

    assert!(client.architecture().await.is_ok(), "faults were one-shot");
}

#[tokio::test]
async fn project_tokens_use_their_own_header() {
    let fake = FakeRailway::start(vec![shop()], FakeAuth::Project(SECRET.into())).await;
    let ok = client_for(&fake, Token::Project(SECRET.into()));
    assert_eq!(ok.architecture().await.unwrap().services.len(), 4);
    // The same secret sent as Bearer is not a project token.
    let bearer = client_for(&fake, Token::Account(SECRET.into()));
    assert!(matches!(
        bearer.architecture().await,
        Err(RailwayError::Unauthorized { .. })
    ));
    let wrong = client_for(&fake, Token::Project("nope".into()));
    let e = wrong.architecture().await.unwrap_err();
    assert!(
        matches!(
            e,
            RailwayError::Unauthorized {
                variable: "RAILWAY_TOKEN",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("RAILWAY_TOKEN"));
}

#[tokio::test]
async fn connection_failures_are_retriable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let creds = Credentials {
        token: Token::Account(SECRET.into()),
        project_id: "p".into(),
        environment_id: "e".into(),
    };
    let client = RailwayClient::new(
        ClientConfig::new(creds).with_endpoint(format!("http://{addr}/graphql/v2")),
    )
    .unwrap();
    let e = client.architecture().await.unwrap_err();
    assert!(matches!(e, RailwayError::Connect { .. }), "{e:?}");
    assert!(
        e.to_string().to_lowercase().contains("refused"),
        "the cause is named: {e}"
    );
    assert!(e.is_retriable());
    assert_secret_free(&e);
    assert_eq!(client.request_count(), 1);
}

#[tokio::test]
async fn the_token_never_shows() {
    let (fake, client) = start(vec![shop()]).await;
    let shown = format!(
        "{client:?} {:?} {}",
        client.credentials(),
        client.credentials().token
    );
    assert!(!shown.contains(SECRET), "{shown}");
    for fault in [
        Fault::Unauthorized,
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        Fault::ServerError,
        Fault::Html { status: 200 },
        Fault::GraphQlError(format!("Problem processing request for {SECRET}")),
        Fault::GraphQlError(format!("Not Authorized: {SECRET}")),
    ] {
        fake.fail_next(fault);
        assert_secret_free(&client.architecture().await.unwrap_err());
    }
}

/// A project of `n` application services (plus one database) with traffic on each.
fn project_of(n: usize) -> ProjectSnapshot {
    let mut snap = shop();
    let mut services: Vec<Service> = (0..n)
        .map(|i| {
            service(
                &format!("svc{i}"),
                &format!("svc{i}"),
                Some("acme/app"),
                None,
                true,
            )
        })
        .collect();
    services.push(snap.architecture.services[3].clone());
    snap.architecture.services = services;
    let template = snap.http.services["api"].clone();
    snap.http.services = (0..n)
        .map(|i| {
            (
                format!("svc{i}"),
                HttpStats {
                    service_id: format!("svc{i}"),
                    ..template.clone()
                },
            )
        })
        .collect();
    snap
}

async fn health_read_requests(n: usize) -> (u64, HttpReport) {
    let (fake, client) = start(vec![project_of(n)]).await;
    let source = Source::Live(client);
    let arch = source.architecture().await.unwrap();
    source
        .resource_usage(arch.services.len(), window())
        .await
        .unwrap();
    let http = source.http_stats(&arch, window()).await.unwrap();
    assert_eq!(source.request_count(), fake.request_count());
    (source.request_count(), http)
}

#[tokio::test]
async fn request_budget_of_one_health_read() {
    for s in [3usize, 40] {
        let (requests, http) = health_read_requests(s).await;
        // Architecture, limits, usage, and 5 services (4 aliases each) per HTTP request.
        let budget = 3 + s.div_ceil(5) as u64;
        let reference = 1 + 2 * s as u64 + 2 + s as u64; // 1 + 2S + 2D + S_dep with D = 1, all deployed
        println!(
            "railway requests per health read: S = {s}: {requests} (budget {budget}; reference worker {reference})"
        );
        assert!(requests <= budget, "S={s}: {requests} > {budget}");
        assert_eq!(http.services.len(), s);
        assert!(
            http.services.values().all(|h| h.counts.s5xx == 400),
            "every service decoded"
        );
    }
}

#[tokio::test]
async fn a_failing_deployment_does_not_sink_the_batch() {
    let (fake, client) = start(vec![shop()]).await;
    let arch = client.architecture().await.unwrap();
    fake.set_failing_deployment(Some("dep-api"));

    let before = fake.request_count();
    let http = client.http_stats(&arch, window()).await.unwrap();
    assert_eq!(
        fake.request_count() - before,
        2,
        "one retry without endpoint logs"
    );
    let api = &http.services["api"];
    assert_eq!(api.counts.s5xx, 400, "figures survive");
    assert!(
        api.top_failing.is_empty(),
        "endpoint lists are the part given up"
    );

    let before = fake.request_count();
    let logs = client
        .logs(
            &targets(&arch, &["api", "web"]),
            window(),
            &LogLimits::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.request_count() - before,
        3,
        "batch, then one request per service"
    );
    assert_eq!(logs["web"].http.len(), 1);
    assert_eq!(
        logs["api"].truncated,
        ["logs unavailable: Problem processing request"]
    );
    assert!(logs["api"].deploy.is_empty());
}

#[tokio::test]
async fn deployment_history_is_one_request_for_every_service() {
    let mut snap = shop();
    let record =
        |id: &str, at: i64, commit: &str, message: &str| railway::model::DeploymentRecord {
            id: id.into(),
            status: DeploymentStatus::Success,
            created_at: at,
            commit_hash: Some(commit.into()),
            commit_message: Some(message.into()),
        };
    snap.deployments = std::collections::BTreeMap::from([
        (
            "api".to_owned(),
            vec![
                record("dep-api", END - 600, "bbb222", "Add response cache"),
                record("dep-api-0", END - 90_000, "aaa111", "Previous release"),
            ],
        ),
        (
            "web".to_owned(),
            vec![record("dep-web", END - 86_400, "ccc333", "Landing page")],
        ),
    ]);
    let (fake, client) = start(vec![snap]).await;
    let history = client.deployments().await.unwrap();
    assert_eq!(fake.request_count(), 1);
    assert_eq!(history.len(), 2);
    let api = &history["api"];
    assert_eq!(api[0].id, "dep-api");
    assert_eq!(api[0].created_at, END - 600);
    assert_eq!(api[0].commit_hash.as_deref(), Some("bbb222"));
    assert_eq!(api[0].commit_message.as_deref(), Some("Add response cache"));
    assert_eq!(api[1].commit_hash.as_deref(), Some("aaa111"));
}

/// `shop` under another project and environment, with its own service ids.
fn other_project() -> ProjectSnapshot {
    let mut other = shop();
    other.architecture.project.id = "proj-2".into();
    other.architecture.environment.id = "env-other".into();
    for s in &mut other.architecture.services {
        s.id = format!("{}-other", s.id);
    }
    other
}

/// The ids of the services read, in their order.
fn ids_of(named: &NamedServices) -> Vec<&str> {
    named.services.iter().map(|s| s.id.as_str()).collect()
}

#[tokio::test]
async fn named_services_are_read_alone_and_match_the_architecture() {
    let mut snap = shop();
    // A volume makes `worker` a database although its image says nothing.
    snap.architecture.volumes.push(Volume {
        service_id: Some("worker".into()),
        id: "vi-2".into(),
        ..snap.architecture.volumes[0].clone()
    });
    let (fake, client) = start(vec![snap, other_project()]).await;
    let ids: Vec<String> = ["pg", "api", "worker", "api"].map(String::from).to_vec();
    let named = client.named_services(&ids).await.unwrap();
    assert_eq!(
        fake.operations(),
        ["ServiceTargetsBatch"],
        "one request, no architecture read"
    );
    let arch = client.architecture().await.unwrap();
    assert_eq!(named, NamedServices::from_architecture(&arch, &ids));
    assert_eq!(ids_of(&named), ["pg", "api", "worker"]);
    assert!(named.service("worker").unwrap().is_database);
    let api = named.service("api").unwrap();
    assert_eq!(api.repo.as_deref(), Some("acme/api"));
    assert_eq!(
        api.latest_deployment.as_ref().map(|d| d.id.as_str()),
        Some("dep-api")
    );
    let t = &named.target;
    assert_eq!(
        (
            t.project.id.as_str(),
            t.project.name.as_str(),
            t.environment.id.as_str(),
            t.environment.name.as_str()
        ),
        (
            "proj-1",
            arch.project.name.as_str(),
            "env-prod",
            arch.environment.name.as_str()
        ),
        "Railway's ids and names, which AUTOFIX_PROJECTS selects by"
    );
}

#[tokio::test]
async fn an_unknown_or_foreign_service_id_is_left_out_by_name() {
    let (fake, client) = start(vec![shop(), other_project()]).await;
    let ids: Vec<String> = ["api", "svc-forged", "web-other", "web"]
        .map(String::from)
        .to_vec();
    let named = client.named_services(&ids).await.unwrap();
    assert_eq!(ids_of(&named), ["api", "web"]);
    // The refused batch, the environment alone, then each service alone.
    assert_eq!(fake.request_count(), 6);
}

#[tokio::test]
async fn a_bad_token_is_reported_as_such_not_as_missing_services() {
    let (fake, _) = start(vec![shop()]).await;
    let client = client_for(&fake, Token::Account("wrong-token".into()));
    let e = client
        .named_services(&["api".to_owned()])
        .await
        .unwrap_err();
    assert!(matches!(e, RailwayError::Unauthorized { .. }), "{e:?}");
}

#[tokio::test]
async fn named_services_cost_one_request_per_twenty_aliases_with_the_project_and_environment() {
    let (fake, client) = start(vec![project_of(39)]).await;
    let ids: Vec<String> = (0..38).map(|i| format!("svc{i}")).collect();
    let named = client.named_services(&ids).await.unwrap();
    assert_eq!(named.services.len(), 38);
    assert_eq!(fake.request_count(), 2, "ceil((38 + 2) / 20)");
    let ids: Vec<String> = (0..39).map(|i| format!("svc{i}")).collect();
    client.named_services(&ids).await.unwrap();
    assert_eq!(fake.request_count(), 2 + 3, "ceil((39 + 2) / 20)");
    for s in fake.request_stats() {
        assert!(s.root_fields <= railway::batch::MAX_ALIASES_PER_REQUEST);
    }
}

/// What every rate assertion rests on: the fake counts a request when it reaches it, not when it
/// gets round to it. Its answers are built under one lock; built on the server's runtime thread,
/// a large one kept the requests arriving meanwhile unread, so they were stamped late and bunched
/// with later ones (the scale benchmark counted 11 in a second while the client wrote at most 10
/// to the socket). Here the fake has one runtime thread, and a probe sent while it builds a large
/// answer must still be stamped when it was sent.
#[tokio::test(flavor = "current_thread")]
async fn the_fake_stamps_a_request_on_arrival_even_while_it_builds_a_large_answer() {
    // What a probe's stamp may trail its sending by (an idle loopback takes well under 1 ms).
    const TOLERANCE: Duration = Duration::from_millis(100);
    let snap = autofix_tests::scale::project(0, 2000, END, 60);
    let environment = snap.architecture.environment.id.clone();
    let project = snap.architecture.project.id.clone();
    let fake = FakeRailway::start(vec![snap], FakeAuth::Bearer(SECRET.into())).await;
    let endpoint = fake.endpoint().to_owned();
    // Each alias asks for all 2 000 service instances: one slow answer.
    let aliases: String = (0..2)
        .map(|i| {
            format!(
                "e{i}: environment(id: \"{environment}\") {{ serviceInstances {{ edges {{ node {{ serviceId serviceName }} }} }} }} "
            )
        })
        .collect();
    let heavy = format!("query Heavy {{ {aliases}}}");
    let probe = format!("query Probe {{ project(id: \"{project}\") {{ id name }} }}");
    // Sent from a thread and runtime of their own, so when they leave does not depend on the
    // fake's thread.
    let (heavy_took, probes_sent) = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let http = reqwest::Client::new();
                let post = |operation: &str, query: &str| {
                    http.post(&endpoint)
                        .bearer_auth(SECRET)
                        .json(&serde_json::json!({ "query": query, "operationName": operation }))
                        .send()
                };
                let started = std::time::Instant::now();
                let heavy = tokio::spawn(post("Heavy", &heavy));
                tokio::time::sleep(Duration::from_millis(50)).await;
                let mut sent = Vec::new();
                while !heavy.is_finished() {
                    sent.push(std::time::Instant::now());
                    let answer = post("Probe", &probe).await.unwrap();
                    assert_eq!(answer.status(), 200);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let answer = heavy.await.unwrap().unwrap();
                assert_eq!(answer.status(), 200);
                answer.bytes().await.unwrap();
                (started.elapsed(), sent)
            })
    })
    .await
    .unwrap();
    assert!(
        heavy_took > TOLERANCE * 4,
        "the large answer took only {heavy_took:?}: too fast to show a late stamp"
    );
    let stamped: Vec<_> = fake
        .request_stats()
        .into_iter()
        .filter(|s| s.operation == "Probe")
        .map(|s| s.at)
        .collect();
    assert_eq!(stamped.len(), probes_sent.len());
    for (sent, at) in probes_sent.iter().zip(&stamped) {
        let late = at.saturating_duration_since(*sent);
        assert!(
            late < TOLERANCE,
            "a probe was stamped {late:?} after it was sent (the large answer took {heavy_took:?})"
        );
    }
}

/// `autofix doctor`'s estimate of a health read is what the client sends: the same reads as
/// the monitor's (architecture, usage, HTTP, deployments), counted by the fake, at sizes that
/// cross every paging and batching boundary (architecture pages of 100, usage slices, HTTP
/// batches), with a 60- and a 30-minute window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planned_health_read_cost_is_what_the_client_sends() {
    let now = pipeline::system_now();
    for (services, minutes) in [(3, 60), (40, 30), (130, 60), (260, 60), (450, 30)] {
        let snap = autofix_tests::scale::project(7, services, now, minutes);
        let fake = FakeRailway::start(vec![snap.clone()], FakeAuth::Bearer(SECRET.into())).await;
        let client = RailwayClient::new(
            ClientConfig::new(Credentials {
                token: Token::Account(SECRET.into()),
                project_id: snap.architecture.project.id.clone(),
                environment_id: snap.architecture.environment.id.clone(),
            })
            .with_endpoint(fake.endpoint()),
        )
        .unwrap();
        let window = railway::model::TimeWindow {
            start: now - minutes * 60,
            end: now,
        };
        let arch = client.architecture().await.unwrap();
        // Leave some services out, as AUTOFIX_IGNORE_SERVICES does: the pages still cover them.
        let mut monitored = arch.clone();
        monitored.services.truncate(arch.services.len() * 9 / 10);
        let (resources, http, _) = futures::try_join!(
            client.resource_usage(arch.services.len(), window),
            client.http_stats(&monitored, window),
            client.deployments(),
        )
        .unwrap();
        assert_eq!(resources.services.len(), arch.services.len());
        assert!(!http.services.is_empty());
        let cost = client.health_read_cost(&arch, &monitored, minutes * 60);
        assert_eq!(
            fake.request_count() as usize,
            cost.quiet(),
            "S = {services}, {minutes} min: {cost:?}, sent {:?}",
            fake.operations()
        );
        assert_eq!(cost.at_most(), cost.quiet() + 1);
    }
}
