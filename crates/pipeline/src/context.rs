//! `pull-service-context`: logs for the affected services in one read, folded into evidence,
//! upstream providers checked, then one `autofix/fix.requested` per repository.

use std::collections::BTreeMap;
use std::sync::Arc;

use evidence::ServiceContext;
use inngest::{Ctx, Event, ServableFunction, Trigger};
use railway::model::ServiceLogs;
use serde::{Deserialize, Serialize};

use crate::events::{
    AffectedService, CONTEXT_REQUESTED, ContextRequested, FIX_REQUESTED, FixRequested,
};
use crate::{Deps, step_error};

/// The output of one `pull-service-context` run: the evidence read and the fix requests sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextReport {
    /// True when the data is the built-in demo project.
    pub demo: bool,
    /// Per service, the evidence markdown as the LLM will see it.
    pub context_markdown: String,
    /// The evidence of every affected service and database.
    pub contexts: Vec<ServiceContext>,
    /// One entry per `autofix/fix.requested` sent: (repository or group key, fingerprint).
    pub fix_requests: Vec<(String, String)>,
    /// Ids of the `autofix/fix.requested` events, in the order of `fix_requests`.
    pub fix_event_ids: Vec<String>,
}

pub(crate) fn function(deps: Arc<Deps>) -> ServableFunction {
    inngest::function(crate::CONTEXT_FN, "Pull service context")
        .trigger(Trigger::event(CONTEXT_REQUESTED))
        .retries(deps.settings.retries)
        .handler(move |ctx: Ctx<ContextRequested>| {
            let deps = deps.clone();
            async move { run(&deps, ctx).await }
        })
}

/// What step `read-logs` stores: the event's services as Railway configures them, and their
/// logs already cleaned, so Inngest never holds raw log text.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogsRead {
    services: Vec<AffectedService>,
    logs: BTreeMap<String, ServiceLogs>,
}

async fn run(deps: &Deps, ctx: Ctx<ContextRequested>) -> Result<ContextReport, inngest::Error> {
    let event = &ctx.event.data;
    let step = &ctx.step;

    let read: LogsRead = step
        .run("read-logs", || async {
            // The event asks, Railway says what its services are (and which deployment to read).
            let (source, services) = crate::targets::read(
                deps,
                &event.project.id,
                &event.environment.id,
                &event.services,
            )
            .await?;
            let targets: Vec<railway::LogTarget> = services
                .iter()
                .map(|s| railway::LogTarget {
                    service_id: s.id.clone(),
                    deployment_id: s.deployment_id.clone(),
                })
                .collect();
            let mut logs = source
                .logs(
                    &targets,
                    event.window,
                    &deps.settings.log_limits.shared_by(targets.len()),
                )
                .await
                .map_err(step_error)?;
            let max_chars = deps.settings.evidence_limits.max_line_chars;
            for l in logs.values_mut() {
                evidence::sanitize::clean_logs(l, max_chars);
            }
            Ok(LogsRead { services, logs })
        })
        .await?;
    let verified = crate::targets::verify_context_request(read.services, event)?;
    let req = &verified;
    let logs = read.logs;

    let upstreams: BTreeMap<String, (Vec<evidence::UpstreamStatus>, Vec<String>)> = step
        .run("check-upstreams", || async {
            let checks = req.services.iter().filter(|s| !s.is_database).map(|s| {
                let empty = ServiceLogs::default();
                let service_logs = logs.get(&s.id).cloned().unwrap_or(empty);
                async move {
                    let result = deps
                        .upstreams
                        .check_service(&service_stub(s), &service_logs)
                        .await;
                    (s.id.clone(), result)
                }
            });
            Ok(futures::future::join_all(checks)
                .await
                .into_iter()
                .collect())
        })
        .await?;

    // Optional evidence: a diff GitHub cannot give is a note, never a failed run.
    let wanted = crate::suspect::wanted(req);
    let changes: BTreeMap<String, crate::suspect::ChangeRead> = if wanted.is_empty() {
        BTreeMap::new()
    } else {
        step.run("read-suspect-changes", || async {
            Ok(crate::suspect::read(deps, req.demo, &wanted).await)
        })
        .await?
    };

    let mut contexts = build_contexts(deps, req, &logs, &upstreams);
    crate::suspect::attach(&mut contexts, changes);
    let context_markdown = contexts
        .iter()
        .map(evidence::context_markdown)
        .collect::<Vec<_>>()
        .join("\n");

    let requests = fix_requests(req, &contexts, deps.settings.max_event_bytes);
    let fix_requests = requests
        .iter()
        .map(|r| (r.concurrency_key.clone(), r.fingerprint.clone()))
        .collect();
    let mut fix_event_ids = Vec::new();
    if !requests.is_empty() {
        let events = requests
            .iter()
            .map(|r| Event::new(FIX_REQUESTED, r))
            .collect::<Result<Vec<_>, _>>()?;
        fix_event_ids = step.send_event("request-fix", events).await?;
    }

    tracing::info!(
        services = contexts.len(),
        fix_requests = requests.len(),
        "service context gathered"
    );
    Ok(ContextReport {
        demo: req.demo,
        context_markdown,
        contexts,
        fix_requests,
        fix_event_ids,
    })
}

fn build_contexts(
    deps: &Deps,
    req: &ContextRequested,
    logs: &BTreeMap<String, ServiceLogs>,
    upstreams: &BTreeMap<String, (Vec<evidence::UpstreamStatus>, Vec<String>)>,
) -> Vec<ServiceContext> {
    req.services
        .iter()
        .map(|s| {
            let service = service_stub(s);
            let empty = ServiceLogs {
                service_id: s.id.clone(),
                ..ServiceLogs::default()
            };
            let mut ctx = evidence::build_context(
                &service,
                logs.get(&s.id).unwrap_or(&empty),
                &deps.settings.evidence_limits,
            );
            if let Some((statuses, notes)) = upstreams.get(&s.id) {
                ctx.upstreams = statuses.clone();
                ctx.notes.extend(notes.iter().cloned());
            }
            ctx
        })
        .collect()
}

/// `evidence::build_context` wants a Railway service; the event carries only what we need of it.
fn service_stub(s: &AffectedService) -> railway::model::Service {
    railway::model::Service {
        id: s.id.clone(),
        instance_id: String::new(),
        name: s.name.clone(),
        source: railway::model::ServiceSource {
            repo: s.repo.clone(),
            image: None,
        },
        builder: None,
        root_directory: s.root_directory.clone(),
        start_command: None,
        replicas: None,
        region: None,
        latest_deployment: None,
        is_database: s.is_database,
        domains: Vec::new(),
    }
}

/// One request per repository among the services with incidents; services without a repository
/// form one group, so the analysis still runs (and records why no fix can be opened).
pub(crate) fn fix_requests(
    req: &ContextRequested,
    contexts: &[ServiceContext],
    max_bytes: usize,
) -> Vec<FixRequested> {
    let mut groups: BTreeMap<Option<String>, Vec<AffectedService>> = BTreeMap::new();
    for s in &req.services {
        if req.findings.iter().any(|f| f.service_id == s.id) {
            groups.entry(s.repo.clone()).or_default().push(s.clone());
        }
    }
    groups
        .into_iter()
        .map(|(repo, services)| {
            let group_findings: Vec<detect::Finding> = req
                .findings
                .iter()
                .filter(|f| services.iter().any(|s| s.id == f.service_id))
                .cloned()
                .collect();
            let key = fix_plan::naming::group_key(
                repo.as_deref(),
                services.iter().map(|s| s.id.as_str()),
            );
            let fingerprint = fix_plan::naming::incident_fingerprint(&key, &group_findings);
            let mut request = FixRequested {
                project: req.project.clone(),
                environment: req.environment.clone(),
                window: req.window,
                architecture_summary: req.architecture_summary.clone(),
                repo,
                concurrency_key: key,
                fingerprint,
                services: services.clone(),
                charts: req
                    .charts
                    .iter()
                    .filter(|c| {
                        group_findings
                            .iter()
                            .any(|f| f.fingerprint == c.fingerprint)
                    })
                    .cloned()
                    .collect(),
                findings: group_findings,
                contexts: group_contexts(contexts, &services, &req.services),
                demo: req.demo,
            };
            fit_event(&mut request, max_bytes);
            request
        })
        .collect()
}

/// The evidence one group's analysis sees: its own services and the databases of the
/// environment, because the cause of an API's symptom often sits in its database.
fn group_contexts(
    contexts: &[ServiceContext],
    group: &[AffectedService],
    all: &[AffectedService],
) -> Vec<ServiceContext> {
    contexts
        .iter()
        .filter(|c| {
            group.iter().any(|s| s.id == c.service_id)
                || all.iter().any(|s| s.id == c.service_id && s.is_database)
        })
        .cloned()
        .collect()
}

/// Keeps the event under Inngest's size limit by dropping the least important evidence first:
/// verbatim samples, then info-level patterns, then slow-request groups, then the tail of each
/// list. Every cut is noted on the context it came from.
pub(crate) fn fit_event(request: &mut FixRequested, max_bytes: usize) {
    let size = |r: &FixRequested| serde_json::to_vec(r).map(|v| v.len()).unwrap_or(usize::MAX);
    if size(request) <= max_bytes {
        return;
    }
    for ctx in &mut request.contexts {
        for p in &mut ctx.log_patterns {
            p.samples.truncate(1);
        }
        ctx.notes
            .push("samples trimmed to one per pattern to fit the event size limit".into());
    }
    if size(request) <= max_bytes {
        return;
    }
    // The diff's file list stays (it says where to look); its hunks are long.
    for ctx in &mut request.contexts {
        if let Some(change) = &mut ctx.suspect_change {
            let dropped: usize = change.files.iter().map(|f| f.lines.len()).sum();
            if dropped > 0 {
                for f in &mut change.files {
                    f.lines.clear();
                }
                change.lines_left_out += dropped;
                ctx.notes.push(
                    "suspect change hunks dropped to fit the event size limit (file list kept)"
                        .into(),
                );
            }
        }
    }
    if size(request) <= max_bytes {
        return;
    }
    for ctx in &mut request.contexts {
        let before = ctx.log_patterns.len();
        ctx.log_patterns.retain(|p| {
            matches!(
                p.level.as_str(),
                "error" | "fatal" | "critical" | "warn" | "warning"
            )
        });
        ctx.slow_requests.truncate(3);
        if ctx.log_patterns.len() < before {
            ctx.notes.push(format!(
                "{} info-level patterns dropped to fit the event size limit",
                before - ctx.log_patterns.len()
            ));
        }
    }
    while size(request) > max_bytes {
        let longest = request
            .contexts
            .iter_mut()
            .max_by_key(|c| c.log_patterns.len() + c.http_failures.len());
        match longest {
            Some(c) if c.log_patterns.len() + c.http_failures.len() > 2 => {
                if c.log_patterns.len() >= c.http_failures.len() {
                    c.log_patterns.pop();
                } else {
                    c.http_failures.pop();
                }
                if !c
                    .notes
                    .iter()
                    .any(|n| n.starts_with("tail of the evidence"))
                {
                    c.notes
                        .push("tail of the evidence dropped to fit the event size limit".into());
                }
            }
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use detect::{Finding, FindingKind, Severity, fingerprint};
    use evidence::{LogPattern, LogSource};
    use railway::model::{EnvironmentRef, ProjectRef, TimeWindow};

    fn service(id: &str, repo: Option<&str>, is_database: bool) -> AffectedService {
        AffectedService {
            id: id.into(),
            name: format!("{id}-name"),
            repo: repo.map(Into::into),
            root_directory: None,
            deployment_id: None,
            is_database,
        }
    }

    fn finding(service_id: &str, kind: FindingKind) -> Finding {
        Finding {
            service_id: service_id.into(),
            service: format!("{service_id}-name"),
            kind,
            severity: Severity::Critical,
            metric: "m".into(),
            value: 1.0,
            threshold: 0.5,
            unit: "%".into(),
            window: TimeWindow {
                start: 0,
                end: 1800,
            },
            evidence: "evidence".into(),
            fingerprint: fingerprint(service_id, kind),
            cleared_at: None,
            onset: None,
            sampled: None,
            baseline: None,
            suspect_deployment: None,
        }
    }

    fn context(service_id: &str, patterns: usize, sample_len: usize) -> ServiceContext {
        ServiceContext {
            service_id: service_id.into(),
            service: format!("{service_id}-name"),
            repo: None,
            log_patterns: (0..patterns)
                .map(|i| LogPattern {
                    source: LogSource::Deploy,
                    level: if i % 2 == 0 {
                        "error".into()
                    } else {
                        "info".into()
                    },
                    pattern: format!("pattern {i}"),
                    count: 1,
                    first_seen: "t".into(),
                    last_seen: "t".into(),
                    samples: vec!["x".repeat(sample_len); 3],
                })
                .collect(),
            http_failures: Vec::new(),
            slow_requests: Vec::new(),
            upstreams: Vec::new(),
            notes: Vec::new(),
            suspect_change: None,
        }
    }

    fn request(services: Vec<AffectedService>, findings: Vec<Finding>) -> ContextRequested {
        ContextRequested {
            project: ProjectRef {
                id: "p".into(),
                name: "p".into(),
            },
            environment: EnvironmentRef {
                id: "e".into(),
                name: "e".into(),
            },
            window: TimeWindow {
                start: 0,
                end: 1800,
            },
            architecture_summary: "summary".into(),
            services,
            findings,
            fingerprints: Vec::new(),
            charts: Vec::new(),
            demo: false,
        }
    }

    #[test]
    fn one_request_per_repository_with_its_own_findings_and_the_database_evidence() {
        let req = request(
            vec![
                service("api", Some("acme/shop"), false),
                service("worker", Some("acme/shop"), false),
                service("reports", Some("acme/reports"), false),
                service("cron", None, false),
                service("db", None, true),
            ],
            vec![
                finding("api", FindingKind::Memory),
                finding("worker", FindingKind::Cpu),
                finding("reports", FindingKind::Latency),
                finding("cron", FindingKind::Deployment),
            ],
        );
        let contexts: Vec<ServiceContext> = ["api", "worker", "reports", "cron", "db"]
            .iter()
            .map(|id| context(id, 2, 10))
            .collect();
        let requests = fix_requests(&req, &contexts, usize::MAX);

        let keys: Vec<&str> = requests
            .iter()
            .map(|r| r.concurrency_key.as_str())
            .collect();
        assert_eq!(keys, ["no-repo:cron", "acme/reports", "acme/shop"]);
        let shop = &requests[2];
        assert_eq!(shop.repo.as_deref(), Some("acme/shop"));
        let ids: Vec<&str> = shop.services.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["api", "worker"]);
        assert_eq!(shop.findings.len(), 2, "only the group's own findings");
        let evidence: Vec<&str> = shop
            .contexts
            .iter()
            .map(|c| c.service_id.as_str())
            .collect();
        assert_eq!(
            evidence,
            ["api", "worker", "db"],
            "own services plus the database"
        );
        // The database without findings gets no request of its own.
        assert!(
            requests
                .iter()
                .all(|r| r.services.iter().all(|s| s.id != "db"))
        );
        // Fingerprints are per repository and stable.
        assert_ne!(requests[1].fingerprint, requests[2].fingerprint);
        assert_eq!(
            fix_requests(&req, &contexts, usize::MAX)[2].fingerprint,
            shop.fingerprint
        );
    }

    #[test]
    fn oversized_requests_drop_the_least_important_evidence_first_and_say_so() {
        let req = request(
            vec![service("api", Some("acme/shop"), false)],
            vec![finding("api", FindingKind::Memory)],
        );
        let contexts = vec![context("api", 40, 2_000)];
        let full = fix_requests(&req, &contexts, usize::MAX).remove(0);
        let full_size = serde_json::to_vec(&full).unwrap().len();

        let limit = full_size / 3;
        let fitted = fix_requests(&req, &contexts, limit).remove(0);
        let size = serde_json::to_vec(&fitted).unwrap().len();
        assert!(size <= limit, "{size} > {limit}");
        let ctx = &fitted.contexts[0];
        assert!(
            ctx.log_patterns.iter().all(|p| p.samples.len() <= 1),
            "samples go first"
        );
        assert!(
            ctx.log_patterns.iter().all(|p| p.level == "error"),
            "then info-level patterns"
        );
        assert!(!ctx.log_patterns.is_empty(), "errors survive");
        assert!(
            ctx.notes.iter().any(|n| n.contains("event size limit")),
            "{:?}",
            ctx.notes
        );
        assert_eq!(fitted.findings, full.findings, "findings are never trimmed");
    }
}
