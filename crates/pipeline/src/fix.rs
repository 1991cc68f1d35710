//! `generate-fix`: analysis, guards, one OpenCode session for the repository, a verified PR.
//!
//! Every write (starting an agent that pushes and opens a PR) sits behind the guards, and the
//! target repository comes only from Railway's service config carried in the event.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use analysis::{AgentTask, Analysis, AnalysisInput, RepoDecision, ServiceRef};
use inngest::{Ctx, ServableFunction, Trigger, WaitForEvent};
use serde::{Deserialize, Serialize};

use crate::events::{FIX_APPROVED, FIX_REQUESTED, FixRequested};
use crate::{Deps, FIX_FN, step_error};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixStatus {
    /// A guard stopped the run before any write; `reason` says which.
    Skipped,
    /// No OpenCode server configured: `task` is what would have been sent.
    DryRun,
    /// Approval was required and did not arrive in time.
    ApprovalTimedOut,
    /// The agent finished and the PR was found on GitHub.
    PrOpened,
    /// The agent finished, timed out or failed without a PR; `reason` and `agent_last_message` say why.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixOutcome {
    pub status: FixStatus,
    pub demo: bool,
    pub repo: Option<String>,
    pub fingerprint: String,
    pub reason: Option<String>,
    pub analysis: Analysis,
    /// The analysis as compact markdown, readable in the Inngest UI.
    pub analysis_markdown: String,
    /// Size of the budgeted analysis prompt (estimated tokens), also when no LLM is configured.
    pub prompt_tokens: usize,
    pub task: Option<AgentTask>,
    pub session_id: Option<String>,
    pub pull_request: Option<github::PullRequest>,
    pub agent_last_message: Option<String>,
}

pub(crate) fn function(deps: Arc<Deps>) -> ServableFunction {
    let s = &deps.settings;
    inngest::function(FIX_FN, "Generate fix")
        .trigger(Trigger::event(FIX_REQUESTED))
        .retries(s.retries)
        // One agent per repository at a time: two sessions pushing to one repo race each other.
        .concurrency(1, Some("event.data.concurrency_key"))
        // A problem that persists for hours yields one attempt per period, not one per cycle.
        .rate_limit(
            1,
            &s.fix_rate_limit_period,
            Some("event.data.concurrency_key + '-' + event.data.fingerprint"),
        )
        .handler(move |ctx: Ctx<FixRequested>| {
            let deps = deps.clone();
            async move {
                let outcome = run(&deps, ctx).await?;
                tracing::info!(
                    repo = outcome.repo.as_deref().unwrap_or("-"),
                    fingerprint = %outcome.fingerprint,
                    status = ?outcome.status,
                    reason = outcome.reason.as_deref().unwrap_or(""),
                    "fix run finished"
                );
                Ok(outcome)
            }
        })
}

/// The status of the agent session as one durable poll sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Poll {
    finished: bool,
    failure: Option<String>,
    last_text: Option<String>,
}

async fn run(deps: &Deps, ctx: Ctx<FixRequested>) -> Result<FixOutcome, inngest::Error> {
    let req = &ctx.event.data;
    let step = &ctx.step;
    let settings = &deps.settings;
    let input = analysis_input(req);

    let analysis: Analysis = step
        .run("analyze", || async {
            analysis::analyze(deps.llm.as_ref(), &input, &settings.prompt_budget)
                .await
                .map_err(step_error)
        })
        .await?;

    let mut outcome = FixOutcome {
        status: FixStatus::Skipped,
        demo: req.demo,
        repo: req.repo.clone(),
        fingerprint: req.fingerprint.clone(),
        reason: None,
        prompt_tokens: analysis::build_prompt(&input, &settings.prompt_budget).tokens_estimate,
        analysis_markdown: analysis_markdown(&analysis),
        analysis,
        task: None,
        session_id: None,
        pull_request: None,
        agent_last_message: None,
    };

    let Some(repo) = req.repo.clone() else {
        outcome.reason = Some("no source repository: the affected services deploy from an image or have no repo configured".into());
        return Ok(outcome);
    };

    let existing: Option<github::PullRequest> = step
        .run("check-existing-pr", || async {
            match &deps.github {
                None => Ok(None),
                Some(gh) => gh
                    .find_open_autofix_pr(&repo, &req.fingerprint)
                    .await
                    .map_err(step_error),
            }
        })
        .await?;

    let existing_prs = BTreeMap::from([(repo.clone(), existing.as_ref().map(|pr| pr.url.clone()))]);
    let mut policy = settings.guard.clone();
    policy.report_only |= settings.report_only;
    let decision = analysis::decide(&outcome.analysis, &input, &existing_prs, &policy)
        .into_iter()
        .find(|d| d.repo == repo);
    match decision {
        Some(RepoDecision {
            decision: analysis::Decision::Proceed,
            ..
        }) => {}
        Some(RepoDecision {
            decision: analysis::Decision::Skip { reason },
            ..
        }) => {
            outcome.reason = Some(reason);
            outcome.pull_request = existing;
            return Ok(outcome);
        }
        None => {
            outcome.reason = Some(format!("the analysis recommends no action for {repo}"));
            return Ok(outcome);
        }
    }

    let mut task = analysis::agent_task(&repo, &req.fingerprint, &outcome.analysis, &input);
    let workdir = format!(
        "{}/autofix-{}-{}",
        settings.agent_workdir.trim_end_matches('/'),
        req.fingerprint,
        short_id(&ctx.run_id)
    );
    task.prompt_text = format!(
        "Work only inside the fresh directory `{workdir}`: start with `mkdir -p {workdir} && cd {workdir}`, \
         and clone the repository there.\n\n{}",
        task.prompt_text
    );
    outcome.task = Some(task.clone());

    let Some(opencode) = &deps.opencode else {
        outcome.status = FixStatus::DryRun;
        outcome.reason = Some("dry run: OPENCODE_URL is not set, so the task was not sent".into());
        return Ok(outcome);
    };

    if settings.approval_required {
        let approval = step
            .wait_for_event(
                "await-approval",
                WaitForEvent {
                    event: FIX_APPROVED.into(),
                    timeout: settings.approval_timeout,
                    if_expr: Some("async.data.fingerprint == event.data.fingerprint".into()),
                },
            )
            .await?;
        if approval.is_none() {
            outcome.status = FixStatus::ApprovalTimedOut;
            outcome.reason = Some(format!(
                "no {FIX_APPROVED} event for fingerprint {} within {}s",
                req.fingerprint,
                settings.approval_timeout.as_secs()
            ));
            return Ok(outcome);
        }
    }

    let session_dir = settings.agent_workdir.clone();
    let session_id: String = step
        .run("create-session", || async {
            let title = task.title.clone();
            opencode
                .create_session(&session_dir, &title)
                .await
                .map(|s| s.id)
                .map_err(step_error)
        })
        .await?;
    outcome.session_id = Some(session_id.clone());

    step.run("send-task", || async {
        let request = opencode::PromptRequest {
            text: task.prompt_text.clone(),
            model: settings
                .agent_model
                .as_deref()
                .and_then(opencode::ModelRef::parse),
            agent: Some("build".into()),
            system: None,
        };
        opencode
            .prompt_async(&session_id, &session_dir, &request)
            .await
            .map_err(step_error)
    })
    .await?;

    let polls = max_polls(settings.agent_timeout, settings.agent_poll_interval);
    let mut last = Poll {
        finished: false,
        failure: None,
        last_text: None,
    };
    for _ in 0..polls {
        step.sleep("wait-for-agent", settings.agent_poll_interval)
            .await?;
        last = step
            .run("poll-agent", || async {
                poll(opencode, &session_id, &session_dir)
                    .await
                    .map_err(step_error)
            })
            .await?;
        if last.finished {
            break;
        }
    }
    outcome.agent_last_message = last.last_text.clone();

    if !last.finished {
        step.run("abort-session", || async {
            opencode
                .abort(&session_id, &session_dir)
                .await
                .map_err(step_error)
        })
        .await?;
        outcome.status = FixStatus::Failed;
        outcome.reason = Some(format!(
            "the agent did not finish within {}s; the session was aborted",
            settings.agent_timeout.as_secs()
        ));
        return Ok(outcome);
    }

    let pr: Option<github::PullRequest> = step
        .run("verify-pr", || async {
            match &deps.github {
                None => Ok(None),
                Some(gh) => {
                    let by_branch = gh.find_pr_by_branch(&repo, &task.branch).await;
                    let found = match by_branch {
                        Ok(Some(pr)) => Some(pr),
                        Ok(None) => gh
                            .find_open_autofix_pr(&repo, &req.fingerprint)
                            .await
                            .map_err(step_error)?,
                        Err(e) => return Err(step_error(e)),
                    };
                    Ok(found)
                }
            }
        })
        .await?;

    match (pr, &deps.github, last.failure) {
        (Some(pr), _, _) => {
            outcome.status = FixStatus::PrOpened;
            outcome.pull_request = Some(pr);
        }
        (None, None, failure) => {
            outcome.status = FixStatus::Failed;
            outcome.reason = Some(failure.unwrap_or_else(|| {
                "the agent finished, but GITHUB_TOKEN is not set, so the pull request cannot be verified".into()
            }));
        }
        (None, Some(_), failure) => {
            outcome.status = FixStatus::Failed;
            outcome.reason = Some(match failure {
                Some(f) => format!("the agent failed: {f}"),
                None => format!(
                    "the agent finished but no pull request from branch {} exists",
                    task.branch
                ),
            });
        }
    }
    Ok(outcome)
}

/// The analysis as compact markdown, for `autofix check` and run outputs.
pub fn analysis_markdown(a: &Analysis) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "**{}** (confidence {:.2}, {})",
        a.summary.trim(),
        a.confidence,
        a.source.label()
    );
    if !a.root_causes.is_empty() {
        let _ = writeln!(out, "Root causes:");
        for c in &a.root_causes {
            let _ = writeln!(
                out,
                "- {} [services: {}; evidence: {}]",
                c.cause,
                c.services.join(", "),
                c.evidence.join(", ")
            );
        }
    }
    if !a.actions.is_empty() {
        let _ = writeln!(out, "Actions:");
        for act in &a.actions {
            let _ = writeln!(
                out,
                "- {}: **{}** — {}",
                act.repo,
                act.action.as_str(),
                act.rationale
            );
        }
    }
    for (title, items) in [
        ("Recommendations", &a.recommendations),
        ("Debugging steps", &a.debugging_steps),
    ] {
        if !items.is_empty() {
            let _ = writeln!(out, "{title}:");
            for item in items {
                let _ = writeln!(out, "- {item}");
            }
        }
    }
    if a.prompt_tokens_estimate > 0 {
        let _ = writeln!(out, "Prompt: ~{} tokens", a.prompt_tokens_estimate);
    }
    if !a.dropped_context.is_empty() {
        let _ = writeln!(
            out,
            "Left out by the prompt budget: {}",
            a.dropped_context.join("; ")
        );
    }
    out
}

async fn poll(
    opencode: &opencode::OpenCode,
    session_id: &str,
    dir: &str,
) -> Result<Poll, opencode::OpenCodeError> {
    let state = opencode.status(session_id, dir).await?;
    if !matches!(state, opencode::SessionState::Idle) {
        return Ok(Poll {
            finished: false,
            failure: None,
            last_text: None,
        });
    }
    let message = opencode.last_assistant_message(session_id, dir).await?;
    Ok(match opencode::judge(&state, message.as_ref()) {
        opencode::Judgement::Running => Poll {
            finished: false,
            failure: None,
            last_text: None,
        },
        opencode::Judgement::Completed { text } => Poll {
            finished: true,
            failure: None,
            last_text: Some(text),
        },
        opencode::Judgement::Failed { reason, last_text } => Poll {
            finished: true,
            failure: Some(reason),
            last_text: Some(last_text).filter(|t| !t.is_empty()),
        },
    })
}

/// Polls that fit in the timeout: at least one, and never more than a run's step limit allows.
fn max_polls(timeout: Duration, interval: Duration) -> u32 {
    let interval = interval.as_secs_f64().max(0.001);
    ((timeout.as_secs_f64() / interval).ceil() as u32).clamp(1, crate::MAX_AGENT_POLLS)
}

fn short_id(run_id: &str) -> String {
    let clean: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    clean
        .chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<String>()
        .to_lowercase()
}

fn analysis_input(req: &FixRequested) -> AnalysisInput {
    AnalysisInput {
        findings: req.findings.clone(),
        contexts: req.contexts.clone(),
        architecture_summary: req.architecture_summary.clone(),
        services: req
            .services
            .iter()
            .map(|s| ServiceRef {
                id: s.id.clone(),
                name: s.name.clone(),
                repo: s.repo.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_cover_the_timeout() {
        assert_eq!(
            max_polls(Duration::from_secs(60), Duration::from_secs(30)),
            2
        );
        assert_eq!(
            max_polls(Duration::from_secs(61), Duration::from_secs(30)),
            3
        );
        assert_eq!(
            max_polls(Duration::from_secs(0), Duration::from_secs(30)),
            1
        );
    }

    #[test]
    fn short_id_keeps_the_tail_of_the_run_id() {
        assert_eq!(short_id("01HX-ABCDEFGHJK"), "cdefghjk");
        assert_eq!(short_id("ab"), "ab");
    }
}
