//! `incident-issue` (with `AUTOFIX_OPEN_ISSUES=true`): one GitHub issue per incident Autofix will
//! not fix by itself, in the service's repository.
//!
//! ```text
//! inngest/function.finished (generate-fix ended in wait / investigate)
//!   └─ upsert-issue: find by the incident's marker → create, or update title/body (reopen if it
//!      was closed as completed; leave it if a person closed it as not planned)
//! inngest/function.finished (monitor-project-health with `recovered` findings)
//!   └─ find-recovered-issues → comment-recovered-<repo>#<n> → close-issue-<repo>#<n>
//! ```
//!
//! Like notifications, the issue follows the run's `function.finished` event, so GitHub being
//! down never fails (or slows) an incident's run. Each write is its own durable step; the upsert
//! looks before it creates, so a retried step finds what its first attempt made.

use std::collections::BTreeSet;
use std::sync::Arc;

use fix_plan::issue::{IssueReason, Place, findings_in, issue_body, issue_title};
use inngest::{Ctx, ServableFunction, Trigger};
use notifications::Transition;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events::{FUNCTION_FINISHED, FixRequested};
use crate::{APP_ID, Deps, FIX_FN, FixOutcome, ISSUE_FN, MONITOR_FN, step_error};

/// What an `incident-issue` run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IssueReport {
    /// Issues created, updated, reopened or left alone (`change`).
    pub upserted: Vec<IssueTouched>,
    /// Issues closed because their incident recovered.
    pub closed: Vec<IssueTouched>,
    /// Why nothing was done, when nothing was.
    pub skipped: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueTouched {
    pub repo: String,
    pub number: u64,
    pub url: String,
    pub change: String,
}

/// An issue to write: the pure part of `upsert-issue`.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueDraft {
    pub repo: String,
    pub marker: String,
    pub title: String,
    pub body: String,
}

pub(crate) fn function(deps: Arc<Deps>) -> ServableFunction {
    let watched = [MONITOR_FN, FIX_FN]
        .iter()
        .map(|f| format!("event.data.function_id == '{APP_ID}-{f}'"))
        .collect::<Vec<_>>()
        .join(" || ");
    inngest::function(ISSUE_FN, "Incident issue")
        .trigger(Trigger::event(FUNCTION_FINISHED).expression(&watched))
        .retries(deps.settings.notify_retries)
        // Two cycles of one incident finishing together must not both create its issue.
        .concurrency(1, None)
        .handler(move |ctx: Ctx<Value>| {
            let deps = deps.clone();
            async move { run(&deps, ctx).await }
        })
}

async fn run(deps: &Deps, ctx: Ctx<Value>) -> Result<IssueReport, inngest::Error> {
    let mut report = IssueReport::default();
    let Some(gh) = &deps.github else {
        report.skipped = Some("GITHUB_TOKEN is not set".into());
        return Ok(report);
    };
    let data = &ctx.event.data;
    let step = &ctx.step;
    let function = data["function_id"].as_str().unwrap_or_default();
    if function == format!("{APP_ID}-{FIX_FN}") {
        let now = (deps.now)();
        let Some(draft) = draft_for_fix(data, &deps.settings, now, None) else {
            report.skipped = Some("not a wait or investigate outcome with a repository".into());
            return Ok(report);
        };
        let touched: IssueTouched = step
            .run("upsert-issue", || async {
                let draft = match &deps.workspace {
                    None => draft.clone(),
                    Some(_) => {
                        let place = workspace_place(deps, data, &draft.repo).await?;
                        draft_for_fix(data, &deps.settings, now, Some(&place))
                            .unwrap_or_else(|| draft.clone())
                    }
                };
                let (issue, change) = gh
                    .upsert_issue(&draft.repo, &draft.marker, &draft.title, &draft.body)
                    .await
                    .map_err(step_error)?;
                Ok(IssueTouched {
                    repo: draft.repo.clone(),
                    number: issue.number,
                    url: issue.url,
                    change: serde_json::to_value(change)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                })
            })
            .await?;
        report.upserted.push(touched);
        return Ok(report);
    }
    if function == format!("{APP_ID}-{MONITOR_FN}") {
        let target = recovered_target(&data["result"]);
        if deps.workspace.is_some() && target.is_none() {
            report.skipped =
                Some("a workspace run without a target (a fan-out) checks no project".into());
            return Ok(report);
        }
        let (recovered, active) = recovery(&data["result"]);
        if recovered.is_empty() {
            report.skipped = Some("no recovered finding".into());
            return Ok(report);
        }
        let to_close: Vec<IssueTouched> = step
            .run("find-recovered-issues", || async {
                // Only the recovered services are read, not the whole architecture.
                let ids: Vec<String> = recovered.iter().map(|(id, _)| id.clone()).collect();
                let named = match (&deps.workspace, &target) {
                    (Some(_), Some((project, environment))) => {
                        deps.named_services(project, environment, &ids).await?.1
                    }
                    _ => deps
                        .railway
                        .named_services(&ids)
                        .await
                        .map_err(step_error)?,
                };
                let repos: BTreeSet<String> =
                    named.services.into_iter().filter_map(|s| s.repo).collect();
                let fps: BTreeSet<&str> = recovered.iter().map(|(_, fp)| fp.as_str()).collect();
                let mut out = Vec::new();
                for repo in repos {
                    let issues = gh
                        .incident_issues(&repo, "open")
                        .await
                        .map_err(step_error)?;
                    for issue in issues {
                        let named = findings_in(&issue.body);
                        let recovers = named.iter().any(|f| fps.contains(f.as_str()));
                        let still_active = named.iter().any(|f| active.contains(f));
                        if recovers && !still_active {
                            out.push(IssueTouched {
                                repo: repo.clone(),
                                number: issue.number,
                                url: issue.url,
                                change: "closed".into(),
                            });
                        }
                    }
                }
                Ok(out)
            })
            .await?;
        for issue in to_close {
            let id = format!("{}#{}", issue.repo, issue.number);
            let comment = recovery_comment(&data["result"], &recovered);
            step.run(&format!("comment-recovered-{id}"), || async {
                gh.comment(&issue.repo, issue.number, &comment)
                    .await
                    .map_err(step_error)
            })
            .await?;
            step.run(&format!("close-issue-{id}"), || async {
                gh.close_issue(&issue.repo, issue.number)
                    .await
                    .map(|_| ())
                    .map_err(step_error)
            })
            .await?;
            report.closed.push(issue);
        }
        return Ok(report);
    }
    report.skipped = Some(format!("not watched: {function}"));
    Ok(report)
}

/// Workspace mode: Railway's names for the project and environment of the fix request a
/// finished `generate-fix` run followed, read from Railway. A target `AUTOFIX_PROJECTS` does
/// not select, or a repository none of the request's services deploys from, is refused
/// (`UntrustedTarget`): the issue is written in that repository and names that project.
async fn workspace_place(deps: &Deps, data: &Value, repo: &str) -> Result<Place, inngest::Error> {
    let request = &data["event"]["data"];
    let (Some(project), Some(environment)) = (
        request["project"]["id"].as_str(),
        request["environment"]["id"].as_str(),
    ) else {
        return Err(crate::targets::refuse(
            "the finished fix run's event names no project and environment id".into(),
        ));
    };
    // Only the request's services are read (they are what the fix run followed), not the
    // whole architecture.
    let ids: Vec<String> = request["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    let (_, named) = deps.named_services(project, environment, &ids).await?;
    let target = named.target;
    if target.project.id != project || target.environment.id != environment {
        return Err(crate::targets::refuse(format!(
            "the fix run names project {project:?} / environment {environment:?}; Railway answered {:?} / {:?}",
            target.project.id, target.environment.id
        )));
    }
    if !named
        .services
        .iter()
        .any(|s| s.repo.as_deref() == Some(repo))
    {
        return Err(crate::targets::refuse(format!(
            "no service of the fix request in project {:?} / environment {:?} deploys from {repo:?}",
            target.project.name, target.environment.name
        )));
    }
    Ok(Place {
        project: target.project.name,
        environment: target.environment.name,
    })
}

/// The issue a finished `generate-fix` run asks for: only `wait` and `investigate` outcomes (the
/// same classification the notifications use) on a service with a repository; `place` (workspace
/// mode) names the Railway project and environment in the title and body.
pub fn draft_for_fix(
    data: &Value,
    settings: &crate::Settings,
    now: i64,
    place: Option<&Place>,
) -> Option<IssueDraft> {
    let reason = crate::notify::transitions(FUNCTION_FINISHED, data, settings, now)
        .into_iter()
        .find_map(|n| match n.transition {
            Transition::Wait => Some(IssueReason::Wait),
            Transition::Investigate => Some(IssueReason::Investigate),
            _ => None,
        })?;
    let outcome: FixOutcome = serde_json::from_value(data["result"].clone()).ok()?;
    let request: FixRequested = serde_json::from_value(data["event"]["data"].clone()).ok()?;
    let repo = outcome.repo.clone()?;
    let analysis = outcome.analysis.as_ref()?;
    let marker = fix_plan::naming::marker(&outcome.fingerprint);
    Some(IssueDraft {
        title: issue_title(reason, &request.findings, place),
        body: issue_body(
            &repo,
            place,
            &outcome.fingerprint,
            reason,
            outcome.reason.as_deref(),
            analysis,
            &request.findings,
            &request.charts,
        ),
        repo,
        marker,
    })
}

/// A cycle's recovered findings `(service id, fingerprint)` and its still-active incident
/// fingerprints.
/// The project and environment ids a workspace monitor run checked.
fn recovered_target(result: &Value) -> Option<(String, String)> {
    let t = &result["target"];
    Some((
        t["project"]["id"].as_str()?.to_owned(),
        t["environment"]["id"].as_str()?.to_owned(),
    ))
}

fn recovery(result: &Value) -> (Vec<(String, String)>, BTreeSet<String>) {
    let mut recovered = Vec::new();
    let mut active = BTreeSet::new();
    for f in result["findings"].as_array().into_iter().flatten() {
        let (Some(fp), Some(severity)) = (f["fingerprint"].as_str(), f["severity"].as_str()) else {
            continue;
        };
        match severity {
            "recovered" => {
                if let Some(service) = f["service_id"].as_str() {
                    recovered.push((service.to_owned(), fp.to_owned()));
                }
            }
            "warning" | "critical" => {
                active.insert(fp.to_owned());
            }
            _ => {}
        }
    }
    (recovered, active)
}

fn recovery_comment(result: &Value, recovered: &[(String, String)]) -> String {
    let fps: BTreeSet<&str> = recovered.iter().map(|(_, fp)| fp.as_str()).collect();
    let lines: Vec<String> = result["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["fingerprint"].as_str().is_some_and(|fp| fps.contains(fp)))
        .filter_map(|f| {
            let evidence = analysis::one_line(f["evidence"].as_str()?).replace("<!--", "<! --");
            Some(format!(
                "- {} `{}`: {evidence}",
                f["service"].as_str().unwrap_or_default(),
                f["kind"].as_str().unwrap_or_default()
            ))
        })
        .collect();
    format!(
        "✅ **Recovered** — Autofix no longer detects this incident, so it closes this issue. It is reopened if the incident comes back.\n\n{}\n",
        lines.join("\n")
    )
}
