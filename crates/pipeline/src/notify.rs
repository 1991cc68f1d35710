//! Notifications on state changes: `notify-on-transition` turns what the other functions did into
//! transitions, `notify` delivers each one to every configured sink.
//!
//! ```text
//! inngest/function.finished (monitor-project-health, generate-fix)  ┐
//! autofix/incident.resolved, autofix/fix.ineffective (verify-fix)   ┴─ notify-on-transition
//!     └─ autofix/notify.requested, event id = autofix-notify-<transition>:<fingerprint> ─ notify
//!            ├─ step deliver-slack ┐
//!            ├─ step deliver-teams ┤ in parallel, each retried on its own (Retry-After honoured)
//!            └─ …                  ┘
//! ```
//!
//! The functions that do the work never send a notification themselves: Inngest's
//! `function.finished` event carries their output, so a sink that is down can never fail (or
//! even slow down) an incident's run. Deduplication is Inngest's: every cycle of an ongoing
//! incident sends the same event id, and Inngest accepts an id once (24 h window), so ten cycles
//! make one run and one message per sink.

use std::sync::Arc;

use inngest::{Ctx, Event, ServableFunction, Trigger};
use notifications::{Notification, PrLink, Transition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events::{FIX_INEFFECTIVE, FUNCTION_FINISHED, INCIDENT_RESOLVED, NOTIFY_REQUESTED};
use crate::{APP_ID, Deps, FIX_FN, MONITOR_FN, NOTIFY_FN, NOTIFY_ROUTER_FN};

/// The event id that makes one transition of one fingerprint one run.
pub fn notify_event_id(n: &Notification) -> String {
    format!("autofix-notify-{}", n.dedup_key())
}

/// What `notify` returns: which sinks took the message and which gave up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyReport {
    pub dedup_key: String,
    pub delivered: Vec<String>,
    pub failed: Vec<SinkFailure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SinkFailure {
    pub sink: String,
    pub error: String,
}

/// What `notify-on-transition` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionReport {
    pub transitions: Vec<String>,
    pub event_ids: Vec<String>,
}

pub(crate) fn delivery_function(deps: Arc<Deps>) -> ServableFunction {
    let http = reqwest::Client::new();
    inngest::function(NOTIFY_FN, "Notify")
        .trigger(Trigger::event(NOTIFY_REQUESTED))
        .retries(deps.settings.notify_retries)
        // Slack documents one message per second per webhook; a cycle with several new incidents
        // would otherwise post them all at once and collect 429s.
        .throttle(1, "1s", None, None)
        .handler(move |ctx: Ctx<Notification>| {
            let deps = deps.clone();
            let http = http.clone();
            async move {
                let n = &ctx.event.data;
                let steps = deps.settings.notify.sinks.iter().map(|sink| {
                    let http = &http;
                    let now = (deps.now)();
                    let step = ctx
                        .step
                        .run(&format!("deliver-{}", sink.kind.as_str()), move || async move {
                            notifications::deliver(http, sink, n, now)
                                .await
                                .map_err(crate::step_error)
                        });
                    async move { (sink.kind, step.await) }
                });
                let results: Vec<(notifications::SinkKind, Result<(), inngest::Error>)> =
                    futures::future::join_all(steps).await;
                let mut report = NotifyReport {
                    dedup_key: n.dedup_key(),
                    delivered: Vec::new(),
                    failed: Vec::new(),
                };
                for (kind, r) in results {
                    match r {
                        Ok(()) => report.delivered.push(kind.as_str().into()),
                        Err(e) => {
                            tracing::warn!(sink = kind.as_str(), dedup_key = %report.dedup_key, error = %e.message(), "notification not delivered");
                            report.failed.push(SinkFailure {
                                sink: kind.as_str().into(),
                                error: e.message().to_owned(),
                            });
                        }
                    }
                }
                Ok(report)
            }
        })
}

pub(crate) fn router_function(deps: Arc<Deps>) -> ServableFunction {
    let watched = [MONITOR_FN, FIX_FN]
        .iter()
        .map(|f| format!("event.data.function_id == '{APP_ID}-{f}'"))
        .collect::<Vec<_>>()
        .join(" || ");
    inngest::function(NOTIFY_ROUTER_FN, "Notify on transition")
        .trigger(Trigger::event(FUNCTION_FINISHED).expression(&watched))
        .trigger(Trigger::event(INCIDENT_RESOLVED))
        .trigger(Trigger::event(FIX_INEFFECTIVE))
        .retries(deps.settings.notify_retries)
        .handler(move |ctx: Ctx<Value>| {
            let deps = deps.clone();
            async move {
                let now = (deps.now)();
                let found = transitions(&ctx.event.name, &ctx.event.data, &deps.settings, now);
                let mut report = TransitionReport {
                    transitions: found.iter().map(Notification::dedup_key).collect(),
                    event_ids: Vec::new(),
                };
                if found.is_empty() {
                    return Ok(report);
                }
                let events = found
                    .iter()
                    .map(|n| Event::new(NOTIFY_REQUESTED, n).map(|e| e.with_id(notify_event_id(n))))
                    .collect::<Result<Vec<_>, _>>()?;
                report.event_ids = ctx.step.send_event("request-notifications", events).await?;
                Ok(report)
            }
        })
}

/// The transitions one event stands for (pure). Unknown shapes yield none: a notification is
/// never worth failing over.
pub fn transitions(
    event_name: &str,
    data: &Value,
    settings: &crate::Settings,
    now: i64,
) -> Vec<Notification> {
    match event_name {
        FUNCTION_FINISHED => {
            let function = data["function_id"].as_str().unwrap_or_default();
            let run_url = data["run_id"]
                .as_str()
                .and_then(|id| run_url(settings.run_url_template.as_deref(), id));
            let trigger = &data["event"]["data"];
            if function == format!("{APP_ID}-{MONITOR_FN}") {
                return monitor_transitions(&data["result"], run_url, now);
            }
            if function == format!("{APP_ID}-{FIX_FN}") {
                return fix_transitions(
                    &data["result"],
                    &data["error"],
                    trigger,
                    run_url,
                    settings,
                    now,
                )
                .into_iter()
                .collect();
            }
            Vec::new()
        }
        INCIDENT_RESOLVED | FIX_INEFFECTIVE => verify_transition(event_name, data, now)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// `{run_id}` replaced in the configured template.
fn run_url(template: Option<&str>, run_id: &str) -> Option<String> {
    let safe: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    template.map(|t| t.replace("{run_id}", &safe))
}

fn s(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// New incidents (warning/critical findings) and recoveries (`recovered` findings) of a cycle.
fn monitor_transitions(report: &Value, run_url: Option<String>, now: i64) -> Vec<Notification> {
    let Some(findings) = report["findings"].as_array() else {
        return Vec::new();
    };
    let sparks: std::collections::BTreeMap<String, String> = report["charts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| serde_json::from_value::<charts::Chart>(c.clone()).ok())
        .map(|c| {
            let line = charts::sparkline(&c.values(), c.threshold, 40);
            (c.fingerprint.clone(), format!("{line} {}", c.signal))
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    findings
        .iter()
        .filter_map(|f| {
            let transition = match f["severity"].as_str()? {
                "warning" | "critical" => Transition::IncidentOpened,
                "recovered" => Transition::IncidentRecovered,
                _ => return None,
            };
            let fingerprint = s(&f["fingerprint"])?;
            if !seen.insert((transition, fingerprint.clone())) {
                return None;
            }
            let suspect = &f["suspect_deployment"];
            let suspect_deployment = s(&suspect["id"]).map(|id| match s(&suspect["commit_hash"]) {
                Some(c) => format!("{id} (commit {})", c.chars().take(7).collect::<String>()),
                None => id,
            });
            Some(Notification {
                transition,
                sparkline: sparks.get(&fingerprint).cloned(),
                fingerprint,
                project: s(&report["project"]).unwrap_or_default(),
                environment: s(&report["environment"]).unwrap_or_default(),
                services: s(&f["service"]).into_iter().collect(),
                repo: None,
                severity: (transition == Transition::IncidentOpened)
                    .then(|| s(&f["severity"]))
                    .flatten(),
                kind: s(&f["kind"]),
                summary: s(&f["evidence"]).unwrap_or_default(),
                details: Vec::new(),
                suspect_deployment,
                pull_request: None,
                run_url: run_url.clone(),
                issue_url: None,
                demo: report["demo"].as_bool().unwrap_or(false),
                at: now,
            })
        })
        .collect()
}

/// What a `generate-fix` run ended in, when a person should hear about it.
fn fix_transitions(
    outcome: &Value,
    error: &Value,
    trigger: &Value,
    run_url: Option<String>,
    settings: &crate::Settings,
    now: i64,
) -> Option<Notification> {
    let services: Vec<String> = trigger["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|svc| svc["is_database"] != true)
        .filter_map(|svc| s(&svc["name"]))
        .collect();
    let base =
        |transition, fingerprint: String, repo: Option<String>, summary: String| Notification {
            transition,
            fingerprint,
            project: s(&trigger["project"]["name"]).unwrap_or_default(),
            environment: s(&trigger["environment"]["name"]).unwrap_or_default(),
            services: services.clone(),
            repo,
            severity: None,
            kind: None,
            summary,
            details: Vec::new(),
            suspect_deployment: None,
            pull_request: None,
            run_url: run_url.clone(),
            issue_url: None,
            sparkline: None,
            demo: trigger["demo"].as_bool().unwrap_or(false),
            at: now,
        };
    if outcome.is_null() {
        // The run itself failed (retries exhausted): the agent never got to a verdict.
        let fingerprint = s(&trigger["fingerprint"])?;
        let message = s(&error["message"]).unwrap_or_else(|| "the run failed".into());
        return Some(base(
            Transition::AgentFailed,
            fingerprint,
            s(&trigger["repo"]),
            format!("generate-fix failed: {message}"),
        ));
    }
    let outcome: crate::FixOutcome = serde_json::from_value(outcome.clone()).ok()?;
    // No analysis: the run stopped on an open or rejected PR before the LLM, already announced.
    let summary = outcome
        .analysis
        .as_ref()
        .map(|a| a.summary.trim().to_owned())
        .unwrap_or_default();
    let mut n = base(
        Transition::AgentFailed,
        outcome.fingerprint.clone(),
        outcome.repo.clone(),
        summary.clone(),
    );
    match outcome.status {
        crate::FixStatus::PrOpened => {
            let pr = outcome.pull_request.as_ref()?;
            n.transition = Transition::PrOpened;
            n.summary = pr.title.clone();
            n.details.push(summary);
            n.pull_request = Some(PrLink {
                url: pr.url.clone(),
                number: pr.number,
                state: if pr.merged {
                    "merged".into()
                } else {
                    pr.state.clone()
                },
                ci: None,
            });
        }
        crate::FixStatus::Failed => {
            n.transition = Transition::AgentFailed;
            n.summary = outcome
                .reason
                .clone()
                .unwrap_or_else(|| "the agent failed".into());
            n.details.extend(outcome.agent_last_message.iter().map(|m| {
                let m: String = m.chars().take(500).collect();
                format!("agent's last message: {m}")
            }));
        }
        crate::FixStatus::Skipped => {
            let a = outcome.analysis.as_ref()?;
            let action = match &outcome.repo {
                Some(repo) => a.action_for(repo).map(|x| x.action),
                None => a.actions.first().map(|x| x.action),
            };
            let low_confidence = a.confidence < settings.guard.min_confidence;
            n.transition = match action {
                Some(analysis::Action::Wait) => Transition::Wait,
                Some(analysis::Action::Investigate) => Transition::Investigate,
                // Not safe to fix automatically is what `investigate` means.
                Some(analysis::Action::Fix) if low_confidence => Transition::Investigate,
                None if outcome.repo.is_none() => Transition::Investigate,
                _ => return None,
            };
            if let Some(reason) = &outcome.reason {
                n.details.push(format!("why: {reason}"));
            }
            n.details.extend(
                a.debugging_steps
                    .iter()
                    .take(5)
                    .map(|d| format!("look at: {d}")),
            );
            n.pull_request = outcome.pull_request.as_ref().map(|pr| PrLink {
                url: pr.url.clone(),
                number: pr.number,
                state: pr.state.clone(),
                ci: None,
            });
        }
        crate::FixStatus::DryRun | crate::FixStatus::ApprovalTimedOut => return None,
    }
    Some(n)
}

/// `verify-fix`'s verdict on a merged PR.
fn verify_transition(event_name: &str, data: &Value, now: i64) -> Option<Notification> {
    let fingerprint = s(&data["fingerprint"])?;
    let transition = if event_name == INCIDENT_RESOLVED {
        Transition::FixVerified
    } else {
        Transition::FixIneffective
    };
    let verdict = match &data["verdict"] {
        Value::String(v) => Some(v.clone()),
        Value::Object(o) => o.get("kind").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let summary = match (transition, &verdict) {
        (Transition::FixVerified, _) => "the merged fix made the incident go away".to_owned(),
        (_, Some(v)) => format!("the merged fix did not make the incident go away (verdict: {v})"),
        _ => "the merged fix did not make the incident go away".to_owned(),
    };
    let pr = s(&data["pr_url"]).map(|url| PrLink {
        url,
        number: data["pr_number"].as_u64().unwrap_or_default(),
        state: "merged".into(),
        ci: None,
    });
    Some(Notification {
        transition,
        fingerprint,
        project: s(&data["project"]["name"]).unwrap_or_default(),
        environment: s(&data["environment"]["name"]).unwrap_or_default(),
        services: Vec::new(),
        repo: s(&data["repo"]),
        severity: None,
        kind: None,
        summary,
        details: s(&data["comment_url"])
            .map(|c| format!("verification: {c}"))
            .into_iter()
            .collect(),
        suspect_deployment: None,
        pull_request: pr,
        run_url: None,
        issue_url: None,
        sparkline: None,
        demo: data["demo"].as_bool().unwrap_or(false),
        at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn monitor_finished(findings: Value) -> Value {
        json!({"function_id": "autofix-monitor-project-health", "run_id": "01RUN",
            "result": {"project": "shop", "environment": "production", "demo": false, "findings": findings}})
    }

    fn settings() -> crate::Settings {
        crate::Settings {
            run_url_template: Some("http://localhost:8288/run?runID={run_id}".into()),
            ..crate::Settings::default()
        }
    }

    #[test]
    fn a_cycle_gives_one_opening_per_incident_and_one_recovery_per_cleared_one() {
        let data = monitor_finished(json!([
            {"service": "api", "kind": "latency", "severity": "critical", "fingerprint": "af-1", "evidence": "p95 3.4 s",
             "suspect_deployment": {"id": "dep-9", "commit_hash": "abcdef123456", "created_at": 1}},
            {"service": "api", "kind": "latency", "severity": "critical", "fingerprint": "af-1", "evidence": "dup"},
            {"service": "db", "kind": "memory", "severity": "observation", "fingerprint": "af-2", "evidence": "flat"},
            {"service": "web", "kind": "cpu", "severity": "recovered", "fingerprint": "af-3", "evidence": "cleared"},
        ]));
        let got = transitions(FUNCTION_FINISHED, &data, &settings(), 5);
        let keys: Vec<String> = got.iter().map(Notification::dedup_key).collect();
        assert_eq!(keys, ["incident_opened:af-1", "incident_recovered:af-3"]);
        assert_eq!(
            got[0].suspect_deployment.as_deref(),
            Some("dep-9 (commit abcdef1)")
        );
        assert_eq!(
            got[0].run_url.as_deref(),
            Some("http://localhost:8288/run?runID=01RUN")
        );
        assert_eq!(got[0].severity.as_deref(), Some("critical"));
        assert_eq!(got[1].severity, None);
    }

    #[test]
    fn other_functions_and_failed_cycles_give_nothing() {
        let mut data = monitor_finished(json!([]));
        data["function_id"] = json!("autofix-pull-service-context");
        assert!(transitions(FUNCTION_FINISHED, &data, &settings(), 0).is_empty());
        let failed = json!({"function_id": "autofix-monitor-project-health", "error": {"message": "railway down"}});
        assert!(transitions(FUNCTION_FINISHED, &failed, &settings(), 0).is_empty());
        assert!(transitions("autofix/other", &json!({}), &settings(), 0).is_empty());
    }

    #[test]
    fn a_failed_fix_run_is_an_agent_failure_of_its_fingerprint() {
        let data = json!({"function_id": "autofix-generate-fix", "run_id": "01R", "error": {"message": "OpenCode unreachable"},
            "event": {"name": "autofix/fix.requested", "data": {"fingerprint": "af-repo", "repo": "acme/api",
              "project": {"id": "p", "name": "shop"}, "environment": {"id": "e", "name": "production"},
              "services": [{"name": "api", "is_database": false}, {"name": "pg", "is_database": true}]}}});
        let got = transitions(FUNCTION_FINISHED, &data, &settings(), 0);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].dedup_key(), "agent_failed:af-repo");
        assert_eq!(got[0].services, ["api"]);
        assert_eq!(got[0].summary, "generate-fix failed: OpenCode unreachable");
    }

    #[test]
    fn verify_fix_events_become_verified_or_ineffective() {
        let data = json!({"fingerprint": "af-r", "repo": "acme/api", "pr_url": "https://github.com/acme/api/pull/3",
            "pr_number": 3, "verdict": "not_fixed", "project": {"name": "shop"}, "environment": {"name": "prod"}});
        let ok = transitions(INCIDENT_RESOLVED, &data, &settings(), 0);
        assert_eq!(ok[0].dedup_key(), "fix_verified:af-r");
        let bad = transitions(FIX_INEFFECTIVE, &data, &settings(), 0);
        assert_eq!(bad[0].dedup_key(), "fix_ineffective:af-r");
        assert!(bad[0].summary.contains("not_fixed"));
        assert_eq!(bad[0].pull_request.as_ref().unwrap().number, 3);
    }

    #[test]
    fn run_ids_cannot_inject_into_the_link() {
        assert_eq!(
            run_url(Some("https://x/run?runID={run_id}"), "01A\"><b>&x"),
            Some("https://x/run?runID=01Abx".into())
        );
    }
}
