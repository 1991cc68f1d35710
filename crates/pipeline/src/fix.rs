//! `generate-fix`: analysis, guards, one OpenCode session for the repository, a verified PR.
//!
//! Every write (starting an agent that pushes and opens a PR) sits behind the guards, and the
//! target repository comes only from Railway's service config carried in the event.

use std::sync::Arc;
use std::time::Duration;

use analysis::{Analysis, AnalysisInput, ServiceRef};
use fix_plan::{AgentTask, Decision, naming};
use inngest::{Ctx, ServableFunction, Step, Trigger, WaitForEvent};
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

/// Analyse, guard, drive one agent session, verify the PR. Each phase is one helper below; the
/// early returns are the outcomes a guard or a missing client decides.
async fn run(deps: &Deps, ctx: Ctx<FixRequested>) -> Result<FixOutcome, inngest::Error> {
    let req = &ctx.event.data;
    let step = &ctx.step;
    let settings = &deps.settings;
    let input = analysis_input(req);

    let analysis = analyse(deps, step, &input).await?;
    let mut outcome = FixOutcome::new(req, analysis, &input, &settings.prompt_budget);

    let Some(repo) = req.repo.as_deref() else {
        outcome.reason = Some("no source repository: the affected services deploy from an image or have no repo configured".into());
        return Ok(outcome);
    };

    let existing = existing_pr(deps, step, repo, &req.fingerprint).await?;
    let target = fix_plan::Target {
        repo,
        fingerprint: &req.fingerprint,
        existing_pr: existing.as_ref().map(|pr| pr.url.as_str()),
    };
    if let Decision::Skip { reason } = fix_plan::decide(&outcome.analysis, target, &settings.guard)
    {
        outcome.reason = Some(reason);
        outcome.pull_request = existing;
        return Ok(outcome);
    }

    let workdir = naming::workdir(&settings.agent_workdir, &req.fingerprint, &ctx.run_id);
    let task = fix_plan::agent_task(repo, &req.fingerprint, &workdir, &outcome.analysis, &input);
    outcome.task = Some(task.clone());

    let Some(opencode) = &deps.opencode else {
        outcome.status = FixStatus::DryRun;
        outcome.reason = Some("dry run: OPENCODE_URL is not set, so the task was not sent".into());
        return Ok(outcome);
    };

    if settings.approval_required && !approved(settings, step).await? {
        outcome.status = FixStatus::ApprovalTimedOut;
        outcome.reason = Some(format!(
            "no {FIX_APPROVED} event for fingerprint {} within {}s",
            req.fingerprint,
            settings.approval_timeout.as_secs()
        ));
        return Ok(outcome);
    }

    let session = drive_agent(settings, step, opencode, &task).await?;
    outcome.session_id = Some(session.id);
    outcome.agent_last_message = session.last.last_text.clone();
    if !session.last.finished {
        outcome.status = FixStatus::Failed;
        outcome.reason = Some(format!(
            "the agent did not finish within {}s; the session was aborted",
            settings.agent_timeout.as_secs()
        ));
        return Ok(outcome);
    }

    let pr = verify_pr(deps, step, &task).await?;
    outcome.conclude(
        pr,
        deps.github.is_some(),
        session.last.failure,
        &task.branch,
    );
    Ok(outcome)
}

impl FixOutcome {
    /// A skipped outcome carrying the analysis; the phases of [`run`] fill in the rest.
    fn new(
        req: &FixRequested,
        analysis: Analysis,
        input: &AnalysisInput,
        budget: &analysis::PromptBudget,
    ) -> Self {
        FixOutcome {
            status: FixStatus::Skipped,
            demo: req.demo,
            repo: req.repo.clone(),
            fingerprint: req.fingerprint.clone(),
            reason: None,
            prompt_tokens: analysis::build_prompt(input, budget).tokens_estimate,
            analysis_markdown: analysis::markdown(&analysis),
            analysis,
            task: None,
            session_id: None,
            pull_request: None,
            agent_last_message: None,
        }
    }

    /// The verdict once the agent finished: a PR on GitHub, or why there is none.
    fn conclude(
        &mut self,
        pr: Option<github::PullRequest>,
        can_verify: bool,
        failure: Option<String>,
        branch: &str,
    ) {
        if let Some(pr) = pr {
            self.status = FixStatus::PrOpened;
            self.pull_request = Some(pr);
            return;
        }
        self.status = FixStatus::Failed;
        self.reason = Some(match (failure, can_verify) {
            (Some(f), true) => format!("the agent failed: {f}"),
            (Some(f), false) => f,
            (None, true) => {
                format!("the agent finished but no pull request from branch {branch} exists")
            }
            (None, false) => "the agent finished, but GITHUB_TOKEN is not set, so the pull request cannot be verified".into(),
        });
    }
}

/// Step `analyze`: the LLM analysis, or the rule-based one without an LLM.
async fn analyse(
    deps: &Deps,
    step: &Step,
    input: &AnalysisInput,
) -> Result<Analysis, inngest::Error> {
    step.run("analyze", || async {
        analysis::analyze(deps.llm.as_ref(), input, &deps.settings.prompt_budget)
            .await
            .map_err(step_error)
    })
    .await
}

/// Step `check-existing-pr`: the open autofix PR of this incident, if GitHub is configured.
async fn existing_pr(
    deps: &Deps,
    step: &Step,
    repo: &str,
    fingerprint: &str,
) -> Result<Option<github::PullRequest>, inngest::Error> {
    step.run("check-existing-pr", || async {
        match &deps.github {
            None => Ok(None),
            Some(gh) => gh
                .find_open_pr(
                    repo,
                    &naming::branch(fingerprint),
                    &naming::marker(fingerprint),
                )
                .await
                .map_err(step_error),
        }
    })
    .await
}

/// Wait `await-approval`: whether `autofix/fix.approved` for this fingerprint came in time.
async fn approved(settings: &crate::Settings, step: &Step) -> Result<bool, inngest::Error> {
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
    Ok(approval.is_some())
}

/// How the agent session ended.
struct AgentSession {
    id: String,
    /// The last poll; not `finished` means the timeout ran out and the session was aborted.
    last: Poll,
}

/// Steps `create-session`, `send-task`, then `wait-for-agent` + `poll-agent` until the agent is
/// done or the timeout runs out, and `abort-session` in that case.
async fn drive_agent(
    settings: &crate::Settings,
    step: &Step,
    opencode: &opencode::OpenCode,
    task: &AgentTask,
) -> Result<AgentSession, inngest::Error> {
    let session_dir = settings.agent_workdir.as_str();
    let session_id: String = step
        .run("create-session", || async {
            opencode
                .create_session(session_dir, &task.title)
                .await
                .map(|s| s.id)
                .map_err(step_error)
        })
        .await?;

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
            .prompt_async(&session_id, session_dir, &request)
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
                poll(opencode, &session_id, session_dir)
                    .await
                    .map_err(step_error)
            })
            .await?;
        if last.finished {
            break;
        }
    }

    if !last.finished {
        step.run("abort-session", || async {
            opencode
                .abort(&session_id, session_dir)
                .await
                .map_err(step_error)
        })
        .await?;
    }
    Ok(AgentSession {
        id: session_id,
        last,
    })
}

/// Step `verify-pr`: the PR from the task's branch, else any open PR carrying its marker.
async fn verify_pr(
    deps: &Deps,
    step: &Step,
    task: &AgentTask,
) -> Result<Option<github::PullRequest>, inngest::Error> {
    step.run("verify-pr", || async {
        let Some(gh) = &deps.github else {
            return Ok(None);
        };
        if let Some(pr) = gh
            .find_pr_by_branch(&task.repo, &task.branch)
            .await
            .map_err(step_error)?
        {
            return Ok(Some(pr));
        }
        gh.find_open_pr(&task.repo, &task.branch, &naming::marker(&task.fingerprint))
            .await
            .map_err(step_error)
    })
    .await
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
        charts: req.charts.clone(),
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
}
