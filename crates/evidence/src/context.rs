//! Logs of one service folded into a bounded [`ServiceContext`], and its markdown rendering.

use std::collections::HashMap;
use std::fmt::Write as _;

use railway::model::{HttpLogLine, LogLine, Service, ServiceLogs};

use crate::normalize::{self, Level};
use crate::sanitize::{self, quoted_block};
use crate::{HttpGroup, LogPattern, LogSource, ServiceContext, UpstreamHealth};

/// Hard caps on what one service contributes to a prompt. The defaults keep one service's
/// markdown around 6 000 tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Log lines analysed per source (build, deploy); the most recent are kept.
    pub max_input_lines: usize,
    /// HTTP log lines analysed; the most recent are kept.
    pub max_http_lines: usize,
    /// Log patterns kept per service, most important first.
    pub max_patterns: usize,
    /// Verbatim sample lines kept per pattern.
    pub max_samples_per_pattern: usize,
    /// Characters per excerpt line (samples, patterns, routes, details).
    pub max_line_chars: usize,
    /// Bytes of [`context_markdown`] for the log and HTTP part of one service.
    pub max_bytes_per_service: usize,
    /// Groups per HTTP table (failures, slow requests).
    pub max_http_groups: usize,
    /// A request at least this slow counts as slow.
    pub slow_ms: u64,
    /// Caps of the suspect deployment's diff.
    pub change: crate::ChangeLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_lines: 50_000,
            max_http_lines: 20_000,
            max_patterns: 30,
            max_samples_per_pattern: 3,
            max_line_chars: 400,
            max_bytes_per_service: 24_000,
            max_http_groups: 15,
            slow_ms: railway::SLOW_REQUEST_MS,
            change: crate::ChangeLimits::default(),
        }
    }
}

/// Notes coming from Railway's own bounds are kept, but not unboundedly.
const MAX_NOTES: usize = 12;
/// Reserved for the note that says what the byte cap removed.
const BUDGET_NOTE_RESERVE: usize = 400;

/// Folds a service's logs into patterns and HTTP groups, within `limits`. `upstreams` is left
/// empty: [`crate::UpstreamChecker`] fills it.
pub fn build_context(service: &Service, logs: &ServiceLogs, limits: &Limits) -> ServiceContext {
    let mut notes: Vec<String> = logs
        .truncated
        .iter()
        .map(|t| sanitize::clean_line(t, limits.max_line_chars))
        .collect();

    let mut patterns = Vec::new();
    let mut dropped_lines = 0u64;
    let mut dropped_patterns = 0usize;
    for (source, lines) in [
        (LogSource::Build, &logs.build),
        (LogSource::Deploy, &logs.deploy),
    ] {
        let skip = lines.len().saturating_sub(limits.max_input_lines);
        if skip > 0 {
            notes.push(format!(
                "{} log: the {skip} oldest of {} lines were not analysed (cap {})",
                source_name(source),
                lines.len(),
                limits.max_input_lines
            ));
        }
        patterns.extend(aggregate_lines(source, &lines[skip..], limits));
    }
    patterns.sort_by(|a, b| {
        Level::parse(&a.level)
            .cmp(&Level::parse(&b.level))
            .then(b.count.cmp(&a.count))
            .then(a.first_seen.cmp(&b.first_seen))
            .then(a.pattern.cmp(&b.pattern))
    });
    if patterns.len() > limits.max_patterns {
        for p in patterns.drain(limits.max_patterns..) {
            dropped_patterns += 1;
            dropped_lines += p.count;
        }
        notes.push(format!(
            "{dropped_patterns} less frequent log patterns ({dropped_lines} lines) not shown (cap {})",
            limits.max_patterns
        ));
    }

    let http_skip = logs.http.len().saturating_sub(limits.max_http_lines);
    if http_skip > 0 {
        notes.push(format!(
            "HTTP log: the {http_skip} oldest of {} requests were not analysed (cap {})",
            logs.http.len(),
            limits.max_http_lines
        ));
    }
    let http = &logs.http[http_skip..];
    let mut http_failures = group_requests(http.iter().filter(|r| r.status >= 400), limits);
    http_failures.sort_by(|a, b| b.count.cmp(&a.count).then(b.status.cmp(&a.status)));
    cap_groups(
        &mut http_failures,
        limits.max_http_groups,
        "failed-request",
        &mut notes,
    );

    let mut slow_requests = group_requests(
        http.iter()
            .filter(|r| r.total_duration_ms >= limits.slow_ms),
        limits,
    );
    slow_requests.sort_by(|a, b| {
        b.p95_ms
            .unwrap_or(0.0)
            .total_cmp(&a.p95_ms.unwrap_or(0.0))
            .then(b.count.cmp(&a.count))
    });
    cap_groups(
        &mut slow_requests,
        limits.max_http_groups,
        "slow-request",
        &mut notes,
    );

    if notes.len() > MAX_NOTES {
        let extra = notes.len() - MAX_NOTES;
        notes.truncate(MAX_NOTES);
        notes.push(format!("{extra} more notes not shown"));
    }

    let mut ctx = ServiceContext {
        service_id: sanitize::clean_line(&service.id, 80),
        service: sanitize::clean_line(&service.name, 80),
        repo: service
            .source
            .repo
            .as_deref()
            .map(|r| sanitize::clean_line(r, 140)),
        log_patterns: patterns,
        http_failures,
        slow_requests,
        upstreams: Vec::new(),
        notes,
        suspect_change: None,
    };
    enforce_byte_budget(&mut ctx, limits);
    ctx
}

fn source_name(source: LogSource) -> &'static str {
    match source {
        LogSource::Build => "build",
        LogSource::Deploy => "deploy",
    }
}

struct PatternAgg {
    level: Level,
    count: u64,
    first_seen: String,
    last_seen: String,
    samples: Vec<String>,
    /// Order of first appearance, to keep output deterministic.
    order: usize,
}

fn aggregate_lines(source: LogSource, lines: &[LogLine], limits: &Limits) -> Vec<LogPattern> {
    let mut groups: HashMap<(Level, String), PatternAgg> = HashMap::new();
    // Crash loops repeat the same line verbatim; skip re-normalising those.
    let mut seen: HashMap<String, String> = HashMap::new();
    const SEEN_CAP: usize = 20_000;
    for line in lines {
        let clean = sanitize::clean_line(&line.message, limits.max_line_chars);
        if clean.is_empty() {
            continue;
        }
        let level = normalize::level_of(line.severity.as_deref(), &clean);
        let pattern = match seen.get(&clean) {
            Some(p) => p.clone(),
            None => {
                let p = sanitize::cap_chars(&normalize::normalize(&clean), limits.max_line_chars);
                if seen.len() < SEEN_CAP {
                    seen.insert(clean.clone(), p.clone());
                }
                p
            }
        };
        // Railway writes the timestamp, not the service; it only needs to be kept printable.
        let ts = sanitize::cap_chars(&sanitize::strip_controls(&line.timestamp), 64);
        let next_order = groups.len();
        let agg = groups
            .entry((level, pattern))
            .or_insert_with(|| PatternAgg {
                level,
                count: 0,
                first_seen: ts.clone(),
                last_seen: ts.clone(),
                samples: Vec::new(),
                order: next_order,
            });
        agg.count += 1;
        // RFC 3339 strings of one source share a format, so text order is time order.
        if ts < agg.first_seen {
            agg.first_seen = ts.clone();
        }
        if ts > agg.last_seen {
            agg.last_seen = ts;
        }
        if agg.samples.len() < limits.max_samples_per_pattern && !agg.samples.contains(&clean) {
            agg.samples.push(clean);
        }
    }
    let mut out: Vec<(usize, LogPattern)> = groups
        .into_iter()
        .map(|((_, pattern), a)| {
            (
                a.order,
                LogPattern {
                    source,
                    level: a.level.as_str().to_owned(),
                    pattern,
                    count: a.count,
                    first_seen: a.first_seen,
                    last_seen: a.last_seen,
                    samples: a.samples,
                },
            )
        })
        .collect();
    out.sort_by_key(|(order, _)| *order);
    out.into_iter().map(|(_, p)| p).collect()
}

/// `GET`, `POST`, …: anything else a client sent is folded, it is attacker-chosen text.
fn clean_method(method: &str) -> String {
    let m = method.trim().to_ascii_uppercase();
    if (1..=10).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_uppercase()) {
        m
    } else {
        "OTHER".into()
    }
}

/// The path with query and fragment stripped and ids/numbers/hex folded, sanitised.
pub fn route_of(path: &str, max_chars: usize) -> String {
    const MAX_SEGMENTS: usize = 12;
    let plain = sanitize::strip_controls(path);
    let path = plain.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    // Neutralised per segment before folding, so the placeholders we add stay intact.
    let mut folded: Vec<String> = segments
        .iter()
        .take(MAX_SEGMENTS)
        .map(|s| normalize::fold_segment(&sanitize::neutralise_markdown(s)))
        .collect();
    if segments.len() > MAX_SEGMENTS {
        folded.push("…".into());
    }
    let route = folded.join("/");
    let route = if route.is_empty() {
        "/".to_owned()
    } else {
        route
    };
    sanitize::cap_chars(&route, max_chars)
}

struct HttpAgg {
    method: String,
    route: String,
    status: u16,
    durations: Vec<u64>,
    details: Vec<String>,
    order: usize,
}

fn group_requests<'a>(
    requests: impl Iterator<Item = &'a HttpLogLine>,
    limits: &Limits,
) -> Vec<HttpGroup> {
    let mut groups: HashMap<(String, String, u16), HttpAgg> = HashMap::new();
    for r in requests {
        let method = clean_method(&r.method);
        let route = route_of(&r.path, limits.max_line_chars);
        let next_order = groups.len();
        let agg = groups
            .entry((method.clone(), route.clone(), r.status))
            .or_insert_with(|| HttpAgg {
                method,
                route,
                status: r.status,
                durations: Vec::new(),
                details: Vec::new(),
                order: next_order,
            });
        agg.durations.push(r.total_duration_ms);
        if let Some(d) = r.response_details.as_deref() {
            let d = sanitize::clean_line(d, limits.max_line_chars);
            if !d.is_empty()
                && agg.details.len() < limits.max_samples_per_pattern
                && !agg.details.contains(&d)
            {
                agg.details.push(d);
            }
        }
    }
    let mut aggs: Vec<HttpAgg> = groups.into_values().collect();
    aggs.sort_by_key(|a| a.order);
    aggs.into_iter()
        .map(|mut a| {
            a.durations.sort_unstable();
            HttpGroup {
                method: a.method,
                route: a.route,
                status: a.status,
                count: a.durations.len() as u64,
                p95_ms: percentile(&a.durations, 0.95),
                max_ms: a.durations.last().map(|&d| d as f64),
                details: a.details,
            }
        })
        .collect()
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1] as f64)
}

fn cap_groups(groups: &mut Vec<HttpGroup>, cap: usize, what: &str, notes: &mut Vec<String>) {
    if groups.len() > cap {
        let dropped: Vec<HttpGroup> = groups.drain(cap..).collect();
        let requests: u64 = dropped.iter().map(|g| g.count).sum();
        notes.push(format!(
            "{} more {what} groups ({requests} requests) not shown (cap {cap})",
            dropped.len()
        ));
    }
}

/// Trims samples, then the least important items, until the rendering fits the byte cap.
fn enforce_byte_budget(ctx: &mut ServiceContext, limits: &Limits) {
    let budget = limits
        .max_bytes_per_service
        .saturating_sub(BUDGET_NOTE_RESERVE);
    if context_markdown(ctx).len() <= budget {
        return;
    }
    let mut trimmed_samples = 0usize;
    let mut dropped_patterns = 0usize;
    let mut dropped_groups = 0usize;
    // First: one sample per item is enough to recognise a pattern.
    for p in &mut ctx.log_patterns {
        trimmed_samples += p.samples.len().saturating_sub(1);
        p.samples.truncate(1);
    }
    for g in ctx
        .http_failures
        .iter_mut()
        .chain(ctx.slow_requests.iter_mut())
    {
        trimmed_samples += g.details.len().saturating_sub(1);
        g.details.truncate(1);
    }
    // Then whole items, least important first: info/debug patterns, slow groups, failure groups,
    // and only then warnings and errors (they are what the analysis needs most).
    while context_markdown(ctx).len() > budget {
        let low_level = ctx
            .log_patterns
            .last()
            .is_some_and(|p| Level::parse(&p.level) > Level::Warn);
        if low_level {
            ctx.log_patterns.pop();
            dropped_patterns += 1;
        } else if ctx.slow_requests.pop().is_some() || ctx.http_failures.pop().is_some() {
            dropped_groups += 1;
        } else if ctx.log_patterns.pop().is_some() {
            dropped_patterns += 1;
        } else {
            // Only notes are left; they are already capped.
            break;
        }
    }
    ctx.notes.push(format!(
        "byte cap {} reached: {trimmed_samples} samples, {dropped_patterns} log patterns and {dropped_groups} HTTP groups cut",
        limits.max_bytes_per_service
    ));
}

/// Compact markdown for a prompt or a PR body. Every piece of text that came from logs or HTTP
/// paths sits inside a fenced block under an "untrusted … treat as data" header; headings and
/// figures outside the blocks come from Railway or from us.
pub fn context_markdown(ctx: &ServiceContext) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Service {} (id {})",
        inline_code(&ctx.service),
        inline_code(&ctx.service_id)
    );
    match &ctx.repo {
        Some(repo) => {
            let _ = writeln!(out, "Repository: {}", inline_code(repo));
        }
        None => out.push_str("Repository: unknown\n"),
    }

    if !ctx.notes.is_empty() {
        out.push_str("\n### Notes\n");
        for n in &ctx.notes {
            let _ = writeln!(out, "- {}", sanitize::neutralise_markdown(n));
        }
    }

    if !ctx.upstreams.is_empty() {
        render_upstreams(ctx, &mut out);
    }

    if !ctx.log_patterns.is_empty() {
        out.push_str("\n### Log patterns (errors and warnings first)\n");
        for (i, p) in ctx.log_patterns.iter().enumerate() {
            let _ = writeln!(
                out,
                "\n#### {}. {} ×{} ({} log, first {}, last {})",
                i + 1,
                p.level,
                p.count,
                source_name(p.source),
                p.first_seen,
                p.last_seen
            );
            let mut lines = vec![format!("pattern: {}", p.pattern)];
            lines.extend(p.samples.iter().map(|s| format!("sample: {s}")));
            out.push_str(&quoted_block(&lines));
        }
    }

    render_http(
        &mut out,
        "Failed HTTP requests (most frequent first)",
        &ctx.http_failures,
    );
    render_http(
        &mut out,
        "Slow HTTP requests (slowest first)",
        &ctx.slow_requests,
    );
    if let Some(change) = &ctx.suspect_change {
        let _ = writeln!(
            out,
            "\n### Suspect change: {}",
            sanitize::neutralise_markdown(&crate::change::change_title(change))
        );
        out.push_str(&quoted_block(&crate::change::change_lines(change)));
    }
    out
}

fn render_http(out: &mut String, title: &str, groups: &[HttpGroup]) {
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### {title}");
    for (i, g) in groups.iter().enumerate() {
        let _ = write!(out, "\n#### {}. status {} ×{}", i + 1, g.status, g.count);
        if let (Some(p95), Some(max)) = (g.p95_ms, g.max_ms) {
            let _ = write!(out, ", p95 {p95:.0} ms, max {max:.0} ms");
        }
        out.push('\n');
        let mut lines = vec![format!("request: {} {}", g.method, g.route)];
        lines.extend(g.details.iter().map(|d| format!("detail: {d}")));
        out.push_str(&quoted_block(&lines));
    }
}

fn render_upstreams(ctx: &ServiceContext, out: &mut String) {
    out.push_str("\n### Upstream providers\n");
    let mut operational = Vec::new();
    for u in &ctx.upstreams {
        let evidence = u.evidence.join(", ");
        match u.health {
            UpstreamHealth::Operational => operational.push(u.name.clone()),
            UpstreamHealth::Incident | UpstreamHealth::Degraded => {
                let what = if u.health == UpstreamHealth::Incident {
                    "ACTIVE INCIDENT"
                } else {
                    "DEGRADED"
                };
                let _ = writeln!(
                    out,
                    "- {} ({}): {what}; depends on it because: {evidence}",
                    u.name, u.provider
                );
                if !u.incidents.is_empty() {
                    let lines: Vec<String> = u
                        .incidents
                        .iter()
                        .map(|t| format!("incident: {t}"))
                        .collect();
                    out.push_str(&quoted_block(&lines));
                }
            }
            UpstreamHealth::Unknown => {
                let _ = writeln!(
                    out,
                    "- {} ({}): status unknown; depends on it because: {evidence}",
                    u.name, u.provider
                );
            }
        }
    }
    if !operational.is_empty() {
        let _ = writeln!(out, "- operational: {}", operational.join(", "));
    }
}

/// Railway names are chosen by the project owner, not by the public, but still never allowed to
/// break out of inline code.
fn inline_code(s: &str) -> String {
    let s: String = s.chars().filter(|&c| c != '`').collect();
    format!("`{}`", sanitize::strip_controls(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        assert_eq!(percentile(&[], 0.95), None);
        assert_eq!(percentile(&[7], 0.95), Some(7.0));
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.95), Some(95.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
    }

    #[test]
    fn routes_fold_ids_and_drop_queries() {
        assert_eq!(
            route_of("/users/123/orders?page=2", 200),
            "/users/<n>/orders"
        );
        assert_eq!(
            route_of(
                "/o/3f2b1c9e-8a7d-4e6f-9b0a-1c2d3e4f5a6b/items/a94a8fe5ccb1#x",
                200
            ),
            "/o/<uuid>/items/<hex>"
        );
        assert_eq!(route_of("", 200), "/");
        assert_eq!(route_of("/[x](http://e)", 200), "/[x] (http://e)");
        assert!(route_of(&"/a".repeat(40), 200).ends_with("/…"));
    }

    #[test]
    fn methods_are_plain_words() {
        assert_eq!(clean_method("get"), "GET");
        assert_eq!(clean_method("GET /x HTTP/1.1\r\n"), "OTHER");
    }
}
