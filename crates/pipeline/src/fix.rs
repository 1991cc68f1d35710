//! `generate-fix`: memory, analysis, guards, one OpenCode session for the repository, a verified
//! PR, CI followed to green (or to `ci_failing`), then `autofix/pr.opened` for `verify-fix`.
//!
//! Every write (starting an agent that pushes and opens a PR) sits behind the guards, and the
//! target repository comes only from Railway's service config carried in the event. The memory
//! (an open PR for the incident, or a rejected one within the cooldown) is read before the
//! analysis, so a known incident costs no LLM tokens.

use std::sync::Arc;

use analysis::{Analysis, AnalysisInput, ServiceRef};
use fix_plan::{AgentTask, Decision, naming};
use inngest::{Ctx, Event, ServableFunction, Step, Trigger, WaitForEvent};
use serde::{Deserialize, Serialize};

use crate::ci::{CiOutcome, CiStatus, FixPlan};
use crate::events::{
    FIX_APPROVED, FIX_REQUESTED, FindingRef, FixRequested, PR_OPENED, PrOpened, webhook,
};
use crate::{Deps, FIX_FN, step_error};

/// How a `generate-fix` run ended.
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

/// The output of one `generate-fix` run: what it decided, what it asked the agent, what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixOutcome {
    /// How the run ended.
    pub status: FixStatus,
    /// True when the data is the built-in demo project.
    pub demo: bool,
    /// The target repository; `None` for a group of services without a source repo.
    pub repo: Option<String>,
    /// The repository incident's fingerprint (the PR branch and issue carry it).
    pub fingerprint: String,
    /// Why the run skipped or failed, in one line.
    pub reason: Option<String>,
    /// `None` when the memory stopped the run before the analysis (no tokens spent).
    pub analysis: Option<Analysis>,
    /// The analysis as compact markdown, readable in the Inngest UI.
    pub analysis_markdown: String,
    /// Size of the budgeted analysis prompt (estimated tokens), also when no LLM is configured.
    pub prompt_tokens: usize,
    /// The task sent (or, in a dry run, that would have been sent) to the agent.
    pub task: Option<AgentTask>,
    /// The OpenCode session that worked on it.
    pub session_id: Option<String>,
    /// The PR the agent opened, as found on GitHub.
    pub pull_request: Option<github::PullRequest>,
    /// The agent's final text, or what it said last before failing.
    pub agent_last_message: Option<String>,
    /// The rejected PR (closed unmerged, labelled) that stopped this run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_pull_request: Option<github::PullDetails>,
    /// What CI said about the PR, after the follow-up rounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiOutcome>,
    /// Id of the `autofix/pr.opened` event that starts `verify-fix`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pr_opened_event_ids: Vec<String>,
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
            &inngest::format_duration(s.fix_rate_limit_period),
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
    let step = &ctx.step;
    // The event only asks: targets, repository and fingerprint are Railway's, re-read here. The
    // step stores only Railway's view of the services; the checks over them are pure, so a
    // replay decides the same.
    let event = &ctx.event.data;
    let services: Vec<crate::events::AffectedService> = step
        .run("read-targets", || async {
            let (_, services) = crate::targets::read(
                deps,
                &event.project.id,
                &event.environment.id,
                &event.services,
            )
            .await?;
            Ok(services)
        })
        .await?;
    let mut verified = event.clone();
    crate::targets::verify_fix_request(services, &mut verified)?;
    let req = &verified;
    let settings = &deps.settings;
    let input = analysis_input(req);
    let plan = FixPlan::from_settings(settings);

    // Memory first: a known incident with an open or rejected PR costs no tokens.
    if let Some(repo) = req.repo.as_deref() {
        let existing = existing_pr(deps, step, repo, &req.fingerprint).await?;
        if let Some(pr) = existing {
            let mut outcome = FixOutcome::new(req, None, &input, &settings.prompt_budget);
            outcome.reason = Some(format!(
                "an open pull request for this incident already exists: {}",
                pr.url
            ));
            outcome.pull_request = Some(pr);
            return Ok(outcome);
        }
        if let Some(rejected) = rejected_pr(deps, step, repo, &req.fingerprint).await? {
            let mut outcome = FixOutcome::new(req, None, &input, &settings.prompt_budget);
            outcome.reason = Some(format!(
                "a pull request for this incident was rejected (closed unmerged, labelled {}): {} — no new PR for {} after it was closed; remove the label or reopen the PR to lift this",
                github::REJECTED_LABEL,
                rejected.url,
                inngest::format_duration(settings.rejected_cooldown)
            ));
            outcome.rejected_pull_request = Some(rejected);
            return Ok(outcome);
        }
    }

    let analysis = analyse(deps, step, &input).await?;
    // The model read attacker-reachable logs: text that reaches for another repository, a URL or
    // a command is refused before anything is built from it.
    let repos = input.repos();
    let repos: Vec<&str> = repos.iter().map(String::as_str).collect();
    fix_plan::model_text::check(&analysis, &repos)
        .map_err(|e| inngest::Error::non_retriable(e.to_string()).with_name("UntrustedAnalysis"))?;
    let mut outcome = FixOutcome::new(req, Some(analysis.clone()), &input, &settings.prompt_budget);

    let Some(repo) = req.repo.as_deref() else {
        outcome.reason = Some("no source repository: the affected services deploy from an image or have no repo configured".into());
        return Ok(outcome);
    };

    let target = fix_plan::Target {
        repo,
        fingerprint: &req.fingerprint,
        existing_pr: None,
    };
    if let Decision::Skip { reason } = fix_plan::decide(&analysis, target, &settings.guard) {
        outcome.reason = Some(reason);
        return Ok(outcome);
    }

    let workdir = naming::workdir(&settings.agent_workdir, &req.fingerprint, &ctx.run_id);
    let task = fix_plan::agent_task(repo, &req.fingerprint, &workdir, &analysis, &input)
        .map_err(|e| crate::targets::refuse(e.to_string()))?;
    outcome.task = Some(task.clone());

    let Some(opencode) = &deps.opencode else {
        outcome.status = FixStatus::DryRun;
        outcome.reason = Some(
            if deps.demo {
                "dry run: demo project, so the task was not sent (AUTOFIX_DEMO_REAL_AGENT=1 sends it)"
            } else {
                "dry run: OPENCODE_URL is not set, so the task was not sent"
            }
            .into(),
        );
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

    let session = drive_agent(settings, &plan, step, opencode, &task).await?;
    outcome.session_id = Some(session.id.clone());
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
        pr.clone(),
        deps.github.is_some(),
        session.last.failure,
        &task.branch,
    );
    let (Some(pr), Some(gh)) = (pr, &deps.github) else {
        return Ok(outcome);
    };

    let ci = follow_ci(deps, &plan, step, gh, opencode, &session.id, &task, &pr).await?;
    if let Some(text) = &ci.agent_last_message {
        outcome.agent_last_message = Some(text.clone());
    }
    outcome.reason = Some(ci_reason(&ci.outcome, plan.rounds));
    outcome.ci = Some(ci.outcome);

    // The PR is open: hand it to verify-fix, which follows it to production.
    if pr.state == "open" {
        let data = pr_opened(req, &pr);
        outcome.pr_opened_event_ids = step
            .send_event("send-pr-opened", vec![Event::new(PR_OPENED, &data)?])
            .await?;
    }
    Ok(outcome)
}

fn ci_reason(ci: &CiOutcome, rounds: u32) -> String {
    let failing = || {
        ci.last
            .as_ref()
            .map(|r| {
                r.failing
                    .iter()
                    .map(|f| format!("{} ({})", f.name, f.conclusion))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    match ci.status {
        CiStatus::Green if ci.fix_rounds == 0 => "CI is green on the pull request".into(),
        CiStatus::Green => format!(
            "CI is green after {} follow-up round(s) for failing checks",
            ci.fix_rounds
        ),
        CiStatus::NoChecks => {
            "no_checks: the repository runs no CI checks on this pull request, so it is unverified by CI".into()
        }
        CiStatus::CiFailing => format!(
            "ci_failing: checks still fail after {} follow-up round(s) (of {rounds}): {}",
            ci.fix_rounds,
            failing()
        ),
        CiStatus::CiPending => format!(
            "ci_pending: checks were still running when the CI wait ran out: {}",
            ci.last.as_ref().map(|r| r.pending.join(", ")).unwrap_or_default()
        ),
        CiStatus::NotChecked => "CI was not checked".into(),
    }
}

/// Data of `autofix/pr.opened` for this request's PR.
fn pr_opened(req: &FixRequested, pr: &github::PullRequest) -> PrOpened {
    let repo = req.repo.clone().unwrap_or_default();
    PrOpened {
        project: req.project.clone(),
        environment: req.environment.clone(),
        pr_key: format!("{repo}#{}", pr.number),
        repo,
        pr_number: pr.number,
        pr_url: pr.url.clone(),
        fingerprint: req.fingerprint.clone(),
        service_ids: req
            .services
            .iter()
            .filter(|s| !s.is_database)
            .map(|s| s.id.clone())
            .collect(),
        findings: req.findings.iter().map(FindingRef::from).collect(),
        window: req.window,
        demo: req.demo,
    }
}

struct CiFollowed {
    outcome: CiOutcome,
    agent_last_message: Option<String>,
}

/// Waits for the PR head's checks; on failure, one follow-up prompt to the same session with the
/// failing checks, then waits again — at most `plan.rounds` times.
#[allow(
    clippy::too_many_arguments,
    reason = "the step, the plan and the PR being followed are all needed by each round"
)]
async fn follow_ci(
    deps: &Deps,
    plan: &FixPlan,
    step: &Step,
    gh: &github::GitHub,
    opencode: &opencode::OpenCode,
    session_id: &str,
    task: &AgentTask,
    pr: &github::PullRequest,
) -> Result<CiFollowed, inngest::Error> {
    let mut rounds = 0;
    let mut agent_last_message = None;
    loop {
        let report = wait_for_checks(deps, plan, step, gh, task, pr.number).await?;
        let status = match report.state {
            github::CheckState::Success => CiStatus::Green,
            github::CheckState::NoChecks => CiStatus::NoChecks,
            github::CheckState::Pending => CiStatus::CiPending,
            github::CheckState::Failure if rounds >= plan.rounds => CiStatus::CiFailing,
            github::CheckState::Failure => {
                rounds += 1;
                let text = crate::ci::ci_fix_prompt(&report, &task.branch, rounds, plan.rounds);
                send_prompt(
                    &deps.settings,
                    step,
                    "send-ci-fix",
                    opencode,
                    session_id,
                    &text,
                )
                .await?;
                let last = poll_agent(&deps.settings, plan, step, opencode, session_id).await?;
                if last.last_text.is_some() {
                    agent_last_message = last.last_text;
                }
                continue;
            }
        };
        return Ok(CiFollowed {
            outcome: CiOutcome {
                status,
                fix_rounds: rounds,
                last: Some(report),
            },
            agent_last_message,
        });
    }
}

/// `wait-for-ci` + `read-checks` until the checks of the PR's current head settle or the CI
/// timeout runs out. With webhooks, the wait ends when GitHub reports a finished check suite on
/// the branch; the state is always read from GitHub's API, never taken from the event.
async fn wait_for_checks(
    deps: &Deps,
    plan: &FixPlan,
    step: &Step,
    gh: &github::GitHub,
    task: &AgentTask,
    number: u64,
) -> Result<github::CheckReport, inngest::Error> {
    let mut report = None;
    for i in 0..plan.ci_polls {
        let webhook = deps.settings.github_webhooks.then(|| {
            (
                webhook::CHECK_SUITE_COMPLETED,
                // Both sides are ours and validated: the repo from Railway's config, the branch
                // from the fingerprint.
                format!(
                    "async.data.repository.full_name == '{}' && async.data.check_suite.head_branch == '{}'",
                    task.repo, task.branch
                ),
            )
        });
        crate::verify::wait_or_webhook(step, "wait-for-ci", plan.ci_interval, webhook).await?;
        let seen: github::CheckReport = step
            .run("read-checks", || async {
                let head = gh
                    .pull(&task.repo, number)
                    .await
                    .map_err(step_error)?
                    .map(|p| p.head_sha)
                    .ok_or_else(|| {
                        inngest::Error::non_retriable(format!(
                            "{}#{number} disappeared from GitHub",
                            task.repo
                        ))
                    })?;
                gh.checks(&task.repo, &head).await.map_err(step_error)
            })
            .await?;
        let settled = crate::ci::ci_settled(&seen, i, plan);
        report = Some(seen);
        if settled {
            break;
        }
    }
    Ok(report.expect("at least one CI poll"))
}

impl FixOutcome {
    /// A skipped outcome carrying the analysis; the phases of [`run`] fill in the rest.
    fn new(
        req: &FixRequested,
        analysis: Option<Analysis>,
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
            analysis_markdown: analysis.as_ref().map_or_else(
                || {
                    "Not analysed: the incident already has a pull request (open or rejected).\n"
                        .into()
                },
                analysis::markdown,
            ),
            analysis,
            task: None,
            session_id: None,
            pull_request: None,
            agent_last_message: None,
            rejected_pull_request: None,
            ci: None,
            pr_opened_event_ids: Vec::new(),
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

/// Step `check-rejected-pr`: a closed, unmerged PR of this incident labelled
/// `autofix:rejected` and closed within the cooldown.
async fn rejected_pr(
    deps: &Deps,
    step: &Step,
    repo: &str,
    fingerprint: &str,
) -> Result<Option<github::PullDetails>, inngest::Error> {
    step.run("check-rejected-pr", || async {
        let Some(gh) = &deps.github else {
            return Ok(None);
        };
        let cooldown = deps.settings.rejected_cooldown.as_secs() as i64;
        let since = github::rfc3339_utc((deps.now)() - cooldown);
        gh.find_rejected_pr(
            repo,
            &naming::branch(fingerprint),
            &naming::marker(fingerprint),
            &since,
        )
        .await
        .map_err(step_error)
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
    plan: &FixPlan,
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

    send_prompt(
        settings,
        step,
        "send-task",
        opencode,
        &session_id,
        &task.prompt_text,
    )
    .await?;
    let last = poll_agent(settings, plan, step, opencode, &session_id).await?;
    Ok(AgentSession {
        id: session_id,
        last,
    })
}

/// One prompt to the session, without waiting for the answer.
async fn send_prompt(
    settings: &crate::Settings,
    step: &Step,
    id: &str,
    opencode: &opencode::OpenCode,
    session_id: &str,
    text: &str,
) -> Result<(), inngest::Error> {
    let session_dir = settings.agent_workdir.as_str();
    step.run(id, || async {
        let request = opencode::PromptRequest {
            text: text.to_owned(),
            model: settings
                .agent_model
                .as_deref()
                .and_then(opencode::ModelRef::parse),
            agent: Some("build".into()),
            system: None,
        };
        opencode
            .prompt_async(session_id, session_dir, &request)
            .await
            .map_err(step_error)
    })
    .await
}

/// `wait-for-agent` + `poll-agent` until the agent is done or the timeout runs out, and
/// `abort-session` in that case.
async fn poll_agent(
    settings: &crate::Settings,
    plan: &FixPlan,
    step: &Step,
    opencode: &opencode::OpenCode,
    session_id: &str,
) -> Result<Poll, inngest::Error> {
    let session_dir = settings.agent_workdir.as_str();
    let mut last = Poll {
        finished: false,
        failure: None,
        last_text: None,
    };
    for _ in 0..plan.agent_polls {
        step.sleep("wait-for-agent", plan.agent_interval).await?;
        last = step
            .run("poll-agent", || async {
                poll(opencode, session_id, session_dir)
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
                .abort(session_id, session_dir)
                .await
                .map_err(step_error)
        })
        .await?;
    }
    Ok(last)
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
