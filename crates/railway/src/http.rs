//! HTTP statistics from Railway's pre-aggregated metrics or from raw HTTP logs. Pure functions over
//! decoded rows, so every rule is tested without a server.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{
    EndpointStat, HttpBucket, HttpLogLine, HttpStats, HttpStatsSource, LatencyPercentiles,
    LatencySample, PathCount, ProbeStats, StatusCounts, TimeWindow,
};
use crate::timefmt;

/// Endpoints kept in `top_failing` and `slowest`.
pub const TOP_ENDPOINTS: usize = 5;

/// `httpLogs` returns at most this many rows per request.
pub const HTTP_LOG_ROW_CAP: usize = 5000;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct StatusSeries {
    #[serde(rename = "statusCode")]
    pub status_code: i64,
    pub samples: Vec<CountSample>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct CountSample {
    pub ts: i64,
    pub value: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DurationResult {
    pub samples: Vec<DurationSample>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct DurationSample {
    pub ts: i64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
}

/// One `HttpLog` row as our documents select it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRow {
    /// RFC 3339, as Railway sends it.
    pub timestamp: String,
    /// HTTP method.
    pub method: String,
    /// Request path, as logged.
    pub path: String,
    /// HTTP status answered.
    pub http_status: i64,
    /// Total time at Railway's edge, milliseconds.
    pub total_duration: i64,
    /// Time the service itself took, milliseconds.
    #[serde(default)]
    pub upstream_rq_duration: Option<i64>,
    /// Filled when the app failed to respond.
    #[serde(default)]
    pub response_details: Option<String>,
    /// Railway's request id.
    #[serde(default)]
    pub request_id: Option<String>,
}

impl HttpRow {
    /// The domain form: an out-of-range status or total duration becomes 0, a negative upstream
    /// duration and empty strings become `None`.
    pub fn into_line(self) -> HttpLogLine {
        HttpLogLine {
            timestamp: self.timestamp,
            method: self.method,
            path: self.path,
            status: u16::try_from(self.http_status).unwrap_or(0),
            total_duration_ms: u64::try_from(self.total_duration).unwrap_or(0),
            upstream_duration_ms: self
                .upstream_rq_duration
                .and_then(|d| u64::try_from(d).ok()),
            response_details: self.response_details.filter(|d| !d.is_empty()),
            request_id: self.request_id.filter(|r| !r.is_empty()),
        }
    }
}

impl From<&HttpLogLine> for HttpRow {
    fn from(l: &HttpLogLine) -> Self {
        Self {
            timestamp: l.timestamp.clone(),
            method: l.method.clone(),
            path: l.path.clone(),
            http_status: i64::from(l.status),
            total_duration: l.total_duration_ms as i64,
            upstream_rq_duration: l.upstream_duration_ms.map(|d| d as i64),
            response_details: l.response_details.clone(),
            request_id: l.request_id.clone(),
        }
    }
}

/// The documented filter for failed or slow requests.
pub fn error_or_slow_filter(slow_ms: u64) -> String {
    format!("@httpStatus:>=400 OR @totalDuration:>={slow_ms}")
}

/// Whether a request matches [`error_or_slow_filter`].
pub fn is_error_or_slow(status: i64, total_ms: i64, slow_ms: u64) -> bool {
    status >= 400 || total_ms >= slow_ms as i64
}

fn add(counts: &mut StatusCounts, status: i64, n: u64) {
    match status / 100 {
        2 => counts.s2xx += n,
        3 => counts.s3xx += n,
        4 => counts.s4xx += n,
        5 => counts.s5xx += n,
        // 1xx and garbage are not answers a user sees; leave them out of every rate.
        _ => {}
    }
}

fn latency(s: &DurationSample) -> LatencyPercentiles {
    LatencyPercentiles {
        p50: s.p50,
        p90: s.p90,
        p95: s.p95,
        p99: s.p99,
    }
}

/// Stats from `httpMetricsGroupedByStatus` + `httpDurationMetrics` (+ optional filtered logs for
/// the endpoint lists).
pub(crate) fn from_metrics(
    service_id: &str,
    window: TimeWindow,
    by_status: &[StatusSeries],
    latency_timeline: &[DurationSample],
    latency_window: &[DurationSample],
    endpoint_rows: &[HttpRow],
    slow_ms: u64,
) -> HttpStats {
    let mut counts = StatusCounts::default();
    let mut buckets: BTreeMap<i64, StatusCounts> = BTreeMap::new();
    for series in by_status {
        for s in &series.samples {
            // Counts arrive as floats; they are whole numbers of requests.
            let n = s.value.max(0.0).round() as u64;
            add(&mut counts, series.status_code, n);
            add(buckets.entry(s.ts).or_default(), series.status_code, n);
        }
    }
    let mut timeline: Vec<LatencySample> = latency_timeline
        .iter()
        .map(|s| LatencySample {
            ts: s.ts,
            ms: latency(s),
        })
        .collect();
    timeline.sort_by_key(|s| s.ts);
    // Without `stepSeconds` Railway returns one sample for the window; if it ever returns several,
    // the newest covers the most recent behaviour, which is what the CLI reports too.
    let latency_ms = latency_window.iter().max_by_key(|s| s.ts).map(latency);
    let (top_failing, slowest) = endpoints(endpoint_rows, Some(slow_ms));
    let probes = probe_stats(endpoint_rows);
    HttpStats {
        service_id: service_id.to_owned(),
        window,
        counts,
        timeline: buckets
            .into_iter()
            .map(|(ts, counts)| HttpBucket { ts, counts })
            .collect(),
        latency_ms,
        latency_timeline: timeline,
        top_failing,
        slowest,
        source: HttpStatsSource::Metrics,
        probes,
    }
}

/// Stats aggregated from raw HTTP log rows (newest rows, up to `cap`).
///
/// Sampling rule: when Railway returns `cap` rows or more, the rows cover only the newest part of
/// the window. Figures then describe `[oldest row, window end)`; nothing is extrapolated, and
/// `source` says `sampled` with the seconds actually covered.
pub fn from_logs(
    service_id: &str,
    window: TimeWindow,
    mut rows: Vec<HttpRow>,
    step_seconds: i64,
    cap: usize,
) -> HttpStats {
    rows.retain(|r| {
        timefmt::unix(&r.timestamp).is_some_and(|t| t >= window.start && t < window.end)
    });
    rows.sort_by_key(|r| timefmt::unix_nanos(&r.timestamp));
    // Railway may answer `limit + 1` rows; keep the newest `cap`.
    let sampled = rows.len() >= cap;
    if rows.len() > cap {
        rows.drain(..rows.len() - cap);
    }
    let covered_seconds = if sampled {
        rows.first()
            .and_then(|r| timefmt::unix(&r.timestamp))
            .map_or(0, |oldest| window.end - oldest)
    } else {
        window.seconds()
    };
    let step = step_seconds.max(1);
    let mut counts = StatusCounts::default();
    let mut buckets: BTreeMap<i64, (StatusCounts, Vec<f64>)> = BTreeMap::new();
    let mut durations = Vec::with_capacity(rows.len());
    for r in &rows {
        let ts = timefmt::unix(&r.timestamp).unwrap_or(window.start);
        let bucket_ts = window.start + (ts - window.start).div_euclid(step) * step;
        add(&mut counts, r.http_status, 1);
        let b = buckets.entry(bucket_ts).or_default();
        add(&mut b.0, r.http_status, 1);
        b.1.push(r.total_duration as f64);
        durations.push(r.total_duration as f64);
    }
    let latency_timeline = buckets
        .iter_mut()
        .filter_map(|(ts, (_, d))| percentiles(d).map(|ms| LatencySample { ts: *ts, ms }))
        .collect();
    let (top_failing, slowest) = endpoints(&rows, None);
    let probes = probe_stats(&rows);
    HttpStats {
        service_id: service_id.to_owned(),
        window,
        counts,
        timeline: buckets
            .into_iter()
            .map(|(ts, (counts, _))| HttpBucket { ts, counts })
            .collect(),
        latency_ms: percentiles(&mut durations),
        latency_timeline,
        top_failing,
        slowest,
        source: HttpStatsSource::Logs {
            rows: rows.len() as u64,
            sampled,
            covered_seconds,
        },
        probes,
    }
}

/// Path prefixes that vulnerability scanners and bots request on every public host: CMS logins,
/// leaked configuration and VCS files, admin consoles of stacks the service may not even run.
const PROBE_PREFIXES: &[&str] = &[
    "/wp-",
    "/wordpress",
    "/wp/",
    "/xmlrpc",
    "/.env",
    "/.git",
    "/.svn",
    "/.hg",
    "/.aws",
    "/.ssh",
    "/.ds_store",
    "/.htaccess",
    "/.htpasswd",
    "/.vscode",
    "/.idea",
    "/phpmyadmin",
    "/pma",
    "/myadmin",
    "/mysql",
    "/cgi-bin",
    "/boaform",
    "/hnap1",
    "/actuator",
    "/vendor/phpunit",
    "/solr",
    "/owa/",
    "/autodiscover",
    "/server-status",
    "/telescope",
    "/_ignition",
    "/console",
    "/manager/html",
    "/jenkins",
    "/setup.cgi",
    "/shell",
    "/backup",
    "/config.php",
    "/admin.php",
    "/login.action",
    "/remote/login",
    "/geoserver",
    "/druid",
];

/// File extensions probes ask for, answered 404 by applications that do not serve them.
const PROBE_EXTENSIONS: &[&str] = &[
    ".php", ".asp", ".aspx", ".jsp", ".cgi", ".pl", ".env", ".bak", ".old", ".sql", ".swp", ".ini",
    ".cfg", ".conf", ".tar.gz", ".zip", ".rar", ".7z", ".war", ".dll", ".exe",
];

/// Whether a path is a well-known scanner or bot probe. Judged from the path alone, so the
/// aggregated-metrics and the `httpLogs` paths classify the same traffic the same way.
pub fn is_probe_path(path: &str) -> bool {
    let path = path
        .split(['?', '#'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    if PROBE_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return true;
    }
    let last = path.rsplit('/').next().unwrap_or("");
    PROBE_EXTENSIONS.iter().any(|e| last.ends_with(e))
        || path.split('/').any(|seg| seg == ".env" || seg == ".git")
}

/// A 4xx answer to a probe path. Only "not here" answers count: a 401 or 403 on `/admin.php` of a
/// PHP application is that application's own access control.
pub fn is_probe_answer(status: i64, path: &str) -> bool {
    matches!(status, 400 | 404 | 405 | 410 | 444) && is_probe_path(path)
}

/// 4xx rows split into probes and the rest, with the most probed paths.
pub fn probe_stats(rows: &[HttpRow]) -> ProbeStats {
    let mut out = ProbeStats::default();
    let mut by_path: BTreeMap<String, u64> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.http_status / 100 == 4) {
        out.rows_4xx += 1;
        if is_probe_answer(r.http_status, &r.path) {
            out.probe_4xx += 1;
            let path = r.path.split(['?', '#']).next().unwrap_or(&r.path);
            *by_path.entry(path.to_owned()).or_default() += 1;
        }
    }
    let mut top: Vec<PathCount> = by_path
        .into_iter()
        .map(|(path, requests)| PathCount { path, requests })
        .collect();
    top.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.path.cmp(&b.path))
    });
    top.truncate(TOP_ENDPOINTS);
    out.top_paths = top;
    out
}

/// Nearest-rank percentiles; `None` without data.
pub fn percentiles(values: &mut [f64]) -> Option<LatencyPercentiles> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = (q * values.len() as f64).ceil() as usize;
        values[rank.clamp(1, values.len()) - 1]
    };
    Some(LatencyPercentiles {
        p50: at(0.50),
        p90: at(0.90),
        p95: at(0.95),
        p99: at(0.99),
    })
}

/// Groups requests per `METHOD path` with ids collapsed, so `/users/17` and `/users/42` are one
/// endpoint.
pub fn normalize_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let segments: Vec<&str> = path
        .split('/')
        .map(|seg| if looks_like_id(seg) { ":id" } else { seg })
        .collect();
    let joined = segments.join("/");
    if joined.is_empty() {
        "/".to_owned()
    } else {
        joined
    }
}

fn looks_like_id(seg: &str) -> bool {
    if seg.is_empty() {
        return false;
    }
    let digits = seg.bytes().all(|b| b.is_ascii_digit());
    let uuid = seg.len() == 36 && seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let long_hex = seg.len() >= 16 && seg.bytes().all(|b| b.is_ascii_hexdigit());
    digits || uuid || long_hex
}

/// Top failing and slowest endpoints. With `slow_ms`, only rows at or above it count for
/// `slowest` (rows came from the error-or-slow filter and fast failures say nothing about speed).
pub fn endpoints(rows: &[HttpRow], slow_ms: Option<u64>) -> (Vec<EndpointStat>, Vec<EndpointStat>) {
    #[derive(Default)]
    struct Acc {
        requests: u64,
        e4: u64,
        e5: u64,
        durations: Vec<f64>,
    }
    let mut by_endpoint: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for r in rows {
        let acc = by_endpoint
            .entry((r.method.to_ascii_uppercase(), normalize_path(&r.path)))
            .or_default();
        acc.requests += 1;
        match r.http_status / 100 {
            4 => acc.e4 += 1,
            5 => acc.e5 += 1,
            _ => {}
        }
        if slow_ms.is_none_or(|slow| r.total_duration >= slow as i64) {
            acc.durations.push(r.total_duration as f64);
        }
    }
    let mut stats: Vec<EndpointStat> = by_endpoint
        .into_iter()
        .map(|((method, path), mut acc)| {
            let p = percentiles(&mut acc.durations);
            EndpointStat {
                method,
                path,
                requests: acc.requests,
                errors_5xx: acc.e5,
                errors_4xx: acc.e4,
                p95_ms: p.map(|p| p.p95),
                max_ms: acc.durations.last().copied(),
            }
        })
        .collect();
    let mut failing: Vec<EndpointStat> = stats
        .iter()
        .filter(|e| e.errors_4xx + e.errors_5xx > 0)
        .cloned()
        .collect();
    failing.sort_by(|a, b| {
        (b.errors_5xx, b.errors_4xx + b.errors_5xx)
            .cmp(&(a.errors_5xx, a.errors_4xx + a.errors_5xx))
    });
    failing.truncate(TOP_ENDPOINTS);
    stats.retain(|e| e.p95_ms.is_some());
    stats.sort_by(|a, b| b.p95_ms.unwrap_or(0.0).total_cmp(&a.p95_ms.unwrap_or(0.0)));
    stats.truncate(TOP_ENDPOINTS);
    (failing, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: i64, method: &str, path: &str, status: i64, ms: i64) -> HttpRow {
        HttpRow {
            timestamp: timefmt::rfc3339(ts),
            method: method.into(),
            path: path.into(),
            http_status: status,
            total_duration: ms,
            upstream_rq_duration: None,
            response_details: None,
            request_id: None,
        }
    }

    #[test]
    fn metrics_are_classified_and_bucketed() {
        let w = TimeWindow { start: 0, end: 120 };
        let by_status = vec![
            StatusSeries {
                status_code: 200,
                samples: vec![
                    CountSample { ts: 0, value: 90.0 },
                    CountSample {
                        ts: 60,
                        value: 80.0,
                    },
                ],
            },
            StatusSeries {
                status_code: 503,
                samples: vec![CountSample {
                    ts: 60,
                    value: 20.0,
                }],
            },
            StatusSeries {
                status_code: 404,
                samples: vec![CountSample { ts: 0, value: 10.0 }],
            },
        ];
        let lat = [
            DurationSample {
                ts: 60,
                p50: 10.0,
                p90: 20.0,
                p95: 30.0,
                p99: 40.0,
            },
            DurationSample {
                ts: 0,
                p50: 1.0,
                p90: 2.0,
                p95: 3.0,
                p99: 4.0,
            },
        ];
        let whole = [DurationSample {
            ts: 0,
            p50: 5.0,
            p90: 9.0,
            p95: 12.0,
            p99: 33.0,
        }];
        let s = from_metrics("svc", w, &by_status, &lat, &whole, &[], 1000);
        assert_eq!(
            s.counts,
            StatusCounts {
                s2xx: 170,
                s3xx: 0,
                s4xx: 10,
                s5xx: 20
            }
        );
        assert!((s.rate_5xx() - 0.1).abs() < 1e-9);
        assert_eq!(s.timeline.len(), 2);
        assert_eq!(s.timeline[1].counts.s5xx, 20);
        assert_eq!(s.latency_timeline[0].ts, 0);
        assert_eq!(s.latency_ms.unwrap().p99, 33.0);
        assert_eq!(s.source, HttpStatsSource::Metrics);
    }

    #[test]
    fn endpoints_rank_failures_and_slowness() {
        let rows = vec![
            row(1, "get", "/users/17?x=1", 500, 20),
            row(2, "GET", "/users/42", 502, 30),
            row(3, "POST", "/login", 401, 5),
            row(4, "GET", "/report", 200, 4000),
            row(5, "GET", "/report", 200, 6000),
            row(6, "GET", "/search", 200, 1500),
        ];
        let (failing, slowest) = endpoints(&rows, Some(1000));
        assert_eq!(failing[0].path, "/users/:id");
        assert_eq!(failing[0].errors_5xx, 2);
        assert_eq!(failing[1].path, "/login");
        assert_eq!(slowest[0].path, "/report");
        assert_eq!(slowest[0].max_ms, Some(6000.0));
        assert_eq!(slowest[1].path, "/search");
        assert_eq!(slowest.len(), 2, "fast failures are not slow endpoints");
    }

    #[test]
    fn logs_cover_window_or_are_marked_sampled() {
        let w = TimeWindow {
            start: 1000,
            end: 1600,
        };
        let rows: Vec<HttpRow> = (0..600)
            .map(|i| row(1000 + i, "GET", "/", if i % 10 == 0 { 500 } else { 200 }, i))
            .collect();
        let full = from_logs("s", w, rows.clone(), 60, 5000);
        assert_eq!(full.counts.s5xx, 60);
        assert_eq!(
            full.source,
            HttpStatsSource::Logs {
                rows: 600,
                sampled: false,
                covered_seconds: 600
            }
        );
        assert_eq!(full.timeline.len(), 10);
        assert_eq!(full.latency_ms.unwrap().p50, 299.0);
        let capped = from_logs("s", w, rows, 60, 100);
        assert_eq!(
            capped.source,
            HttpStatsSource::Logs {
                rows: 100,
                sampled: true,
                covered_seconds: 100
            }
        );
        assert_eq!(capped.counts.total(), 100);
    }

    #[test]
    fn rows_outside_window_are_ignored() {
        let w = TimeWindow {
            start: 100,
            end: 200,
        };
        let s = from_logs(
            "s",
            w,
            vec![
                row(50, "GET", "/", 500, 1),
                row(150, "GET", "/", 200, 1),
                row(200, "GET", "/", 500, 1),
            ],
            10,
            5000,
        );
        assert_eq!(
            s.counts,
            StatusCounts {
                s2xx: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn probes_are_told_apart_from_real_route_errors() {
        for p in [
            "/wp-login.php",
            "/.env",
            "/api/.env",
            "/phpmyadmin/index.php",
            "/xmlrpc.php",
            "/.git/config",
            "/cgi-bin/luci",
            "/backup.sql?x=1",
        ] {
            assert!(is_probe_path(p), "{p}");
        }
        for p in [
            "/api/products/123",
            "/login",
            "/health",
            "/",
            "/environment",
        ] {
            assert!(!is_probe_path(p), "{p}");
        }
        assert!(is_probe_answer(404, "/wp-login.php"));
        assert!(!is_probe_answer(403, "/admin.php"));
        let rows = vec![
            row(0, "GET", "/wp-login.php", 404, 3),
            row(1, "GET", "/wp-login.php", 404, 3),
            row(2, "GET", "/.env", 404, 2),
            row(3, "POST", "/api/orders", 422, 20),
            row(4, "GET", "/api/orders/1", 200, 20),
        ];
        let p = probe_stats(&rows);
        assert_eq!((p.rows_4xx, p.probe_4xx), (4, 3));
        assert_eq!(p.top_paths[0].path, "/wp-login.php");
        assert_eq!(p.top_paths[0].requests, 2);
        assert_eq!(p.top_paths.len(), 2);
    }

    #[test]
    fn percentile_ranks() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = percentiles(&mut v).unwrap();
        assert_eq!((p.p50, p.p90, p.p95, p.p99), (50.0, 90.0, 95.0, 99.0));
        assert!(percentiles(&mut []).is_none());
    }
}
