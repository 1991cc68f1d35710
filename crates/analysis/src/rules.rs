//! The analysis used when no LLM is configured: fixed rules over findings and evidence.
//!
//! Confidences are deliberately modest (at most 0.65): the rules recognise the shape of a
//! problem, not its cause in the code.

use std::collections::BTreeMap;

use detect::{Finding, FindingKind};
use evidence::{ServiceContext, UpstreamHealth};

use crate::prompt::{http_id, is_error_level, log_id, slow_id, upstream_id};
use crate::{Action, Analysis, AnalysisInput, AnalysisSource, RepoAction, RootCause};

/// One rule's conclusion about one finding.
struct Verdict {
    cause: String,
    evidence: Vec<String>,
    action: Action,
    confidence: f64,
    recommendation: String,
    debugging: Vec<String>,
}

const SLOW_QUERY_HINTS: &[&str] = &[
    "slow query",
    "query took",
    "seq scan",
    "sequential scan",
    "full table scan",
    "missing index",
    "statement timeout",
    "n+1",
    "select ",
    "duration: ",
    "timeout acquiring a connection",
    "pool is probably full",
];

/// Slow-statement lines as databases log them (Postgres `log_min_duration_statement`, MySQL slow log).
const DB_SLOW_LOG_HINTS: &[&str] = &["duration: ", "slow query", "query_time"];

const CODE_ERROR_HINTS: &[&str] = &[
    "exception",
    "panic",
    "traceback",
    "typeerror",
    "referenceerror",
    "syntaxerror",
    "cannot find module",
    "module not found",
    "undefined",
    "null pointer",
    "nil pointer",
    "segmentation fault",
    "unhandled",
    "uncaught",
    "stack overflow",
];

const MEMORY_HINTS: &[&str] = &[
    "heap",
    "memory",
    "oom",
    "out of memory",
    "allocation failed",
];

fn matching_patterns(
    ctx: Option<&ServiceContext>,
    hints: &[&str],
    errors_only: bool,
) -> Vec<String> {
    let Some(ctx) = ctx else { return Vec::new() };
    ctx.log_patterns
        .iter()
        .enumerate()
        .filter(|(_, p)| !errors_only || is_error_level(&p.level))
        .filter(|(_, p)| {
            let text = p.pattern.to_ascii_lowercase();
            hints.iter().any(|h| text.contains(h))
        })
        .map(|(i, _)| log_id(&ctx.service, i))
        .take(3)
        .collect()
}

fn error_patterns(ctx: Option<&ServiceContext>) -> Vec<String> {
    let Some(ctx) = ctx else { return Vec::new() };
    ctx.log_patterns
        .iter()
        .enumerate()
        .filter(|(_, p)| is_error_level(&p.level))
        .map(|(i, _)| log_id(&ctx.service, i))
        .take(3)
        .collect()
}

/// What the rules conclude about one finding: one rule per kind of finding, each starting from
/// the finding's own fingerprint as evidence.
fn verdict(f: &Finding, ctx: Option<&ServiceContext>, all: &[ServiceContext]) -> Verdict {
    let evidence = vec![f.fingerprint.clone()];
    match f.kind {
        FindingKind::MemoryTrend => memory_leak(f, ctx, evidence),
        FindingKind::Memory => memory_near_limit(f, evidence),
        FindingKind::Cpu => high_cpu(f, ctx, evidence),
        FindingKind::Latency => slow_requests(f, ctx, all, evidence),
        FindingKind::ErrorRate5xx => server_errors(f, ctx, evidence),
        FindingKind::ErrorRate4xx => client_errors(f, ctx, evidence),
        FindingKind::Scanners => scanners(f, evidence),
        FindingKind::Deployment => broken_deployment(f, ctx, evidence),
    }
}

/// Ids of the service's slowest request groups (at most two).
fn slowest_requests(ctx: Option<&ServiceContext>) -> Vec<String> {
    ctx.map(|c| {
        (0..c.slow_requests.len().min(2))
            .map(|i| slow_id(&c.service, i))
            .collect()
    })
    .unwrap_or_default()
}

/// Ids of the service's largest failed request groups (at most two).
fn failing_requests(ctx: Option<&ServiceContext>) -> Vec<String> {
    ctx.map(|c| {
        (0..c.http_failures.len().min(2))
            .map(|i| http_id(&c.service, i))
            .collect()
    })
    .unwrap_or_default()
}

/// `(key, name)` of the providers whose status page reports an incident or degradation.
fn troubled_upstreams(ctx: Option<&ServiceContext>) -> Vec<(String, String)> {
    ctx.map(|c| {
        c.upstreams
            .iter()
            .filter(|u| {
                matches!(
                    u.health,
                    UpstreamHealth::Incident | UpstreamHealth::Degraded
                )
            })
            .map(|u| (u.provider.clone(), u.name.clone()))
            .collect()
    })
    .unwrap_or_default()
}

fn memory_leak(f: &Finding, ctx: Option<&ServiceContext>, mut evidence: Vec<String>) -> Verdict {
    let svc = &f.service;
    evidence.extend(matching_patterns(ctx, MEMORY_HINTS, false));
    Verdict {
        cause: format!(
            "Memory of {svc} grows steadily over the window ({}); a leak is the likely cause.",
            f.evidence
        ),
        evidence,
        action: Action::Fix,
        confidence: 0.65,
        recommendation: format!(
            "In {svc}, find state that grows per request and is never released (unbounded caches or maps, \
             arrays appended to on every request, listeners or timers never removed) and bound or release it."
        ),
        debugging: vec![
            format!(
                "Compare two heap snapshots of {svc} taken a few minutes apart and look at what is retained."
            ),
            format!("Check the deploy logs of {svc} for out-of-memory kills and restarts."),
        ],
    }
}

fn memory_near_limit(f: &Finding, evidence: Vec<String>) -> Verdict {
    let svc = &f.service;
    Verdict {
        cause: format!(
            "Memory of {svc} is close to its limit without a steady trend ({}).",
            f.evidence
        ),
        evidence,
        action: Action::Investigate,
        confidence: 0.4,
        recommendation: format!(
            "Check whether {svc} needs a larger memory limit or sizes a cache to the limit."
        ),
        debugging: vec![format!(
            "Compare the memory of {svc} with its traffic over a longer window."
        )],
    }
}

fn high_cpu(f: &Finding, ctx: Option<&ServiceContext>, mut evidence: Vec<String>) -> Verdict {
    let svc = &f.service;
    let hot = slowest_requests(ctx);
    // Detection only reports CPU that stayed high over the window, so every CPU finding is
    // sustained; what decides between fix and investigate is whether requests show where.
    if hot.is_empty() {
        evidence.extend(error_patterns(ctx));
        return Verdict {
            cause: format!(
                "CPU of {svc} is high ({}), with no request evidence pointing at a cause.",
                f.evidence
            ),
            evidence,
            action: Action::Investigate,
            confidence: 0.45,
            recommendation: format!(
                "Profile {svc} to find what uses the CPU, including background jobs."
            ),
            debugging: vec![format!(
                "Take a CPU profile of {svc}; check background jobs and cron tasks."
            )],
        };
    }
    evidence.extend(hot);
    Verdict {
        cause: format!(
            "{svc} burns CPU at a sustained high level ({}) and its slowest endpoints point to where.",
            f.evidence
        ),
        evidence,
        action: Action::Fix,
        confidence: 0.6,
        recommendation: format!(
            "Profile the slowest endpoints of {svc} and remove the CPU-heavy work from the request path \
             (tight loops, synchronous hashing or compression, repeated parsing)."
        ),
        debugging: vec![format!(
            "Take a CPU profile of {svc} under load and compare it with the slow endpoints."
        )],
    }
}

/// Slow-query lines in the service's own logs, and slow-statement lines in the other services'
/// (slow statements are often logged by the database, not by the slow service).
fn slow_queries(ctx: Option<&ServiceContext>, all: &[ServiceContext]) -> Vec<String> {
    let mut queries = matching_patterns(ctx, SLOW_QUERY_HINTS, false);
    for other in all
        .iter()
        .filter(|c| ctx.is_none_or(|own| own.service_id != c.service_id))
    {
        queries.extend(matching_patterns(Some(other), DB_SLOW_LOG_HINTS, false));
    }
    queries
}

fn slow_requests(
    f: &Finding,
    ctx: Option<&ServiceContext>,
    all: &[ServiceContext],
    mut evidence: Vec<String>,
) -> Verdict {
    let svc = &f.service;
    let queries = slow_queries(ctx, all);
    if queries.is_empty() {
        evidence.extend(slowest_requests(ctx));
        return Verdict {
            cause: format!(
                "Requests to {svc} are slow ({}); the logs do not show why.",
                f.evidence
            ),
            evidence,
            action: Action::Investigate,
            confidence: 0.45,
            recommendation: format!(
                "Trace the slowest endpoints of {svc} to see where the time goes."
            ),
            debugging: vec![format!(
                "Add timing around the database and outbound calls of {svc}'s slowest endpoint."
            )],
        };
    }
    evidence.extend(queries);
    evidence.extend(slowest_requests(ctx));
    Verdict {
        cause: format!(
            "Requests to {svc} are slow ({}) and its logs show slow database queries: an N+1 pattern or a missing index is likely.",
            f.evidence
        ),
        evidence,
        action: Action::Fix,
        confidence: 0.65,
        recommendation: format!(
            "In {svc}, batch or join the queries issued per item (N+1) and add an index for the filtered columns of the slow queries."
        ),
        debugging: vec![
            format!("Run EXPLAIN ANALYZE on the slow queries logged by {svc}."),
            format!("Count queries per request on {svc}'s slowest endpoint."),
        ],
    }
}

fn server_errors(f: &Finding, ctx: Option<&ServiceContext>, mut evidence: Vec<String>) -> Verdict {
    let svc = &f.service;
    let troubled = troubled_upstreams(ctx);
    evidence.extend(failing_requests(ctx));
    if troubled.is_empty() {
        evidence.extend(error_patterns(ctx));
        return Verdict {
            cause: format!(
                "{svc} answers 5xx ({}); the cause is not clear from the evidence alone.",
                f.evidence
            ),
            evidence,
            action: Action::Investigate,
            confidence: 0.45,
            recommendation: format!("Read the error logs of {svc} around the failing requests."),
            debugging: vec![format!(
                "Reproduce the failing routes of {svc} and read the matching error logs."
            )],
        };
    }
    evidence.extend(troubled.iter().map(|(p, _)| upstream_id(p)));
    let names = troubled
        .iter()
        .map(|(_, n)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Verdict {
        cause: format!(
            "{svc} answers 5xx ({}) while its upstream provider {names} reports an incident.",
            f.evidence
        ),
        evidence,
        action: Action::Wait,
        confidence: 0.6,
        recommendation: format!(
            "Wait for {names} to recover; consider retries with backoff and a clear error for users while it is down."
        ),
        debugging: vec![format!(
            "Confirm the failing requests of {svc} are the ones calling {names}."
        )],
    }
}

fn client_errors(f: &Finding, ctx: Option<&ServiceContext>, mut evidence: Vec<String>) -> Verdict {
    let svc = &f.service;
    evidence.extend(failing_requests(ctx));
    Verdict {
        cause: format!(
            "{svc} answers many 4xx ({}): clients, routing or auth may be misconfigured.",
            f.evidence
        ),
        evidence,
        action: Action::Investigate,
        confidence: 0.35,
        recommendation: format!(
            "Check which clients call the failing routes of {svc} and why they are rejected."
        ),
        debugging: vec![format!("Group the 4xx of {svc} by route and client.")],
    }
}

/// Never an incident, so no analysis is asked for it; kept so every kind has a verdict.
fn scanners(f: &Finding, evidence: Vec<String>) -> Verdict {
    let svc = &f.service;
    Verdict {
        cause: format!("{svc} is probed by scanners ({}).", f.evidence),
        evidence,
        action: Action::Investigate,
        confidence: 0.2,
        recommendation: format!(
            "Nothing to fix in {svc}'s code; rate-limit or block the probing clients at the edge if they cost capacity."
        ),
        debugging: vec![format!("Group the probes of {svc} by client address.")],
    }
}

fn broken_deployment(
    f: &Finding,
    ctx: Option<&ServiceContext>,
    mut evidence: Vec<String>,
) -> Verdict {
    let svc = &f.service;
    let code_errors = matching_patterns(ctx, CODE_ERROR_HINTS, true);
    if code_errors.is_empty() {
        evidence.extend(error_patterns(ctx));
        return Verdict {
            cause: format!(
                "The latest deployment of {svc} is broken ({}); the logs do not show a code error.",
                f.evidence
            ),
            evidence,
            action: Action::Investigate,
            confidence: 0.45,
            recommendation: format!(
                "Check the build and deploy logs and the configuration of {svc}."
            ),
            debugging: vec![format!(
                "Redeploy {svc} and watch the deploy logs from the start."
            )],
        };
    }
    evidence.extend(code_errors);
    Verdict {
        cause: format!(
            "The latest deployment of {svc} is broken ({}) and its logs show an error in the code.",
            f.evidence
        ),
        evidence,
        action: Action::Fix,
        confidence: 0.6,
        recommendation: format!("Fix the error {svc} logs at start-up or build time."),
        debugging: vec![format!(
            "Run {svc}'s start command locally with the same configuration."
        )],
    }
}

/// Combines the actions of a repository's findings: a clear code problem is worth fixing even
/// while another symptom waits on a provider, and investigating beats waiting.
fn merge(a: Action, b: Action) -> Action {
    let rank = |x: Action| match x {
        Action::Fix => 2,
        Action::Investigate => 1,
        Action::Wait => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// A deterministic analysis from the findings and their context.
pub fn rule_based(input: &AnalysisInput) -> Analysis {
    let mut findings: Vec<&Finding> = input.findings.iter().filter(|f| f.is_incident()).collect();
    // Worst first; the sort is stable so equal findings keep their input order.
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));

    let mut root_causes = Vec::new();
    let mut affected: Vec<String> = Vec::new();
    let mut recommendations: Vec<String> = Vec::new();
    let mut debugging: Vec<String> = Vec::new();
    let mut per_repo: BTreeMap<String, Vec<(Action, f64, String)>> = BTreeMap::new();
    let mut fix_confidences = Vec::new();
    let mut all_confidences = Vec::new();

    for f in &findings {
        let ctx = input.contexts.iter().find(|c| c.service_id == f.service_id);
        let v = verdict(f, ctx, &input.contexts);
        let name = input
            .service(&f.service_id)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| f.service.clone());
        if !affected.contains(&name) {
            affected.push(name.clone());
        }
        all_confidences.push(v.confidence);
        if let Some(repo) = input.service(&f.service_id).and_then(|s| s.repo.clone()) {
            if v.action == Action::Fix {
                fix_confidences.push(v.confidence);
            }
            per_repo.entry(repo).or_default().push((
                v.action,
                v.confidence,
                v.recommendation.clone(),
            ));
        }
        if !recommendations.contains(&v.recommendation) {
            recommendations.push(v.recommendation);
        }
        for d in v.debugging {
            if !debugging.contains(&d) {
                debugging.push(d);
            }
        }
        root_causes.push(RootCause {
            cause: v.cause,
            evidence: v.evidence,
            services: vec![name],
        });
    }

    let actions: Vec<RepoAction> = per_repo
        .into_iter()
        .map(|(repo, verdicts)| {
            let action = verdicts
                .iter()
                .map(|v| v.0)
                .reduce(merge)
                .unwrap_or(Action::Investigate);
            let rationale: Vec<&str> = verdicts
                .iter()
                .filter(|v| v.0 == action)
                .map(|v| v.2.as_str())
                .collect();
            RepoAction {
                repo,
                action,
                rationale: rationale.join(" "),
            }
        })
        .collect();

    // The confidence guards a code change, so it is the weakest of the causes that ask for one;
    // with nothing to fix it is the strongest cause's.
    let confidence = if let Some(min) = fix_confidences.iter().copied().reduce(f64::min) {
        min
    } else {
        all_confidences
            .iter()
            .copied()
            .reduce(f64::max)
            .unwrap_or(0.0)
    };

    let summary = if root_causes.is_empty() {
        "Rule-based analysis (no LLM configured): no incident findings, nothing to do.".to_owned()
    } else {
        let lines: Vec<&str> = root_causes.iter().map(|r| r.cause.as_str()).collect();
        format!(
            "Rule-based analysis (no LLM configured) of {} incident finding(s) on {}. {}",
            root_causes.len(),
            affected.join(", "),
            lines.join(" ")
        )
    };

    Analysis {
        source: AnalysisSource::RuleBased,
        summary,
        root_causes,
        affected_services: affected,
        actions,
        recommendations,
        debugging_steps: debugging,
        confidence,
        prompt_tokens_estimate: 0,
        dropped_context: Vec::new(),
    }
}
