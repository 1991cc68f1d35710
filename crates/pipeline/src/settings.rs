//! Tunables of the pipeline. The binary fills them from env/CLI; defaults are the documented ones.
//!
//! [`defaults`] is the one place each default and limit is written: the binary's flags take
//! their defaults from it, and so does [`Settings::default`].

use std::ops::RangeInclusive;
use std::time::Duration;

/// Defaults and limits of the settings, shared by the command line and [`Settings::default`].
pub mod defaults {
    use super::{Duration, RangeInclusive};

    /// Schedule of `monitor-project-health`.
    pub const CRON: &str = "*/10 * * * *";
    /// Detection window in minutes.
    pub const WINDOW_MINUTES: u32 = 30;
    /// Accepted detection windows, in minutes (the cron setting and `data.window_minutes`).
    pub const WINDOW_MINUTES_RANGE: RangeInclusive<u32> = 5..=1440;
    /// How long `generate-fix` waits for an approval.
    pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
    /// Time between two durable polls of the agent session.
    pub const AGENT_POLL_INTERVAL: Duration = Duration::from_secs(30);
    /// Overall time an agent session may take.
    pub const AGENT_TIMEOUT: Duration = Duration::from_secs(45 * 60);
    /// Directory on the OpenCode server under which each fix gets a sub-directory.
    pub const AGENT_WORKDIR: &str = "/workspace";
    /// At most one fix run per fingerprint and repository in this period.
    pub const FIX_RATE_LIMIT: Duration = Duration::from_secs(4 * 3600);
    /// Inngest accepts rate-limit (and debounce) periods from 1 s to 24 h.
    pub const FLOW_PERIOD_RANGE: RangeInclusive<Duration> =
        Duration::from_secs(1)..=Duration::from_secs(24 * 3600);
    /// Longest `step.waitForEvent` timeout Inngest accepts (its maximum sleep, one year).
    pub const MAX_WAIT_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
}

/// Everything the three functions need to know besides their clients.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Cron schedule of `monitor-project-health` (Inngest syntax, `TZ=` prefix allowed).
    pub cron: String,
    /// Detection window in minutes.
    pub window_minutes: u32,
    /// Detection thresholds (`AUTOFIX_THRESHOLDS`).
    pub thresholds: detect::Thresholds,
    /// How many log lines the context step reads per service and query.
    pub log_limits: railway::LogLimits,
    /// How much evidence each service's context may hold.
    pub evidence_limits: evidence::Limits,
    /// Token budget of the analysis prompt.
    pub prompt_budget: analysis::PromptBudget,
    /// Confidence floor and report-only mode.
    pub guard: fix_plan::GuardPolicy,
    /// Wait for `autofix/fix.approved` before starting the agent.
    pub approval_required: bool,
    /// How long to wait for that approval.
    pub approval_timeout: Duration,
    /// Time between two durable polls of the agent session.
    pub agent_poll_interval: Duration,
    /// Overall time an agent session may take before it is aborted.
    pub agent_timeout: Duration,
    /// Directory on the OpenCode server under which each fix gets a fresh sub-directory.
    pub agent_workdir: String,
    /// Model for the coding agent, `provider/model`; `None` = OpenCode's configured default.
    pub agent_model: Option<String>,
    /// Minimum time between two fix runs for the same fingerprint (Inngest rate limit period,
    /// within [`defaults::FLOW_PERIOD_RANGE`]).
    pub fix_rate_limit_period: Duration,
    /// Services no cycle monitors (AUTOFIX_IGNORE_SERVICES, the worker, the OpenCode service).
    pub services: crate::ServiceSelection,
    /// Retries Inngest gives each function.
    pub retries: u32,
    /// Budget for the context carried in one `autofix/fix.requested` event.
    pub max_event_bytes: usize,
    /// Follow-up rounds the agent gets when the PR's checks fail (`AUTOFIX_CI_FIX_ATTEMPTS`).
    pub ci_fix_attempts: u32,
    /// Longest wait for one round of CI checks (`AUTOFIX_CI_TIMEOUT`).
    pub ci_timeout: Duration,
    /// Durable sleep between two CI polls (`AUTOFIX_CI_POLL_INTERVAL`).
    pub ci_poll_interval: Duration,
    /// GitHub webhooks reach Inngest as `github/*` events (`AUTOFIX_GITHUB_WEBHOOKS`): waits use
    /// `wait_for_event` with the poll interval as timeout, so they end as soon as GitHub says so.
    pub github_webhooks: bool,
    /// `wait` / `investigate` outcomes open (or update) one GitHub issue per incident in the
    /// service's repository, closed when it recovers (`AUTOFIX_OPEN_ISSUES`).
    pub open_issues: bool,
    /// How long `verify-fix` follows an open PR before it stops with `stale`
    /// (`AUTOFIX_VERIFY_MAX_DAYS`).
    pub verify_max_wait: Duration,
    /// Durable sleep between two reads of the PR (`AUTOFIX_VERIFY_POLL_INTERVAL`).
    pub verify_poll_interval: Duration,
    /// Longest wait for the deployment of the merge commit (`AUTOFIX_VERIFY_DEPLOY_TIMEOUT`).
    pub verify_deploy_timeout: Duration,
    /// Durable sleep between two looks for that deployment.
    pub verify_deploy_poll_interval: Duration,
    /// Time the new deployment runs before the after window starts (`AUTOFIX_VERIFY_SETTLE`).
    pub verify_settle: Duration,
    /// How long a rejected PR (closed unmerged, labelled) keeps the incident from getting a new
    /// PR (`AUTOFIX_REJECTED_COOLDOWN`).
    pub rejected_cooldown: Duration,
    /// Where notifications go; empty = no notification functions are registered.
    pub notify: notifications::Sinks,
    /// Retries of each delivery step (and of the transition router).
    pub notify_retries: u32,
    /// Link to an Inngest run in messages, `{run_id}` replaced; `None` = no link.
    pub run_url_template: Option<String>,
    /// Per-project overrides (`AUTOFIX_CONFIG`); the first entry selecting a target applies.
    pub projects: Vec<crate::ProjectSettings>,
    /// `railway-<hash of the Railway token>`: the key of the concurrency limit that lets one
    /// monitor run per token read Railway at a time, across every replica of the worker.
    /// `None` (the demo): no such limit.
    pub railway_budget_key: Option<String>,
}

/// Longest single sleep or wait: Inngest's free plan allows 7 days (paid plans up to a year).
pub const MAX_SLEEP: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most PR polls one `verify-fix` run makes (two steps each: wait + read).
pub const MAX_PR_POLLS: u32 = 350;
/// Most deployment polls one `verify-fix` run makes (two steps each: sleep + read).
pub const MAX_DEPLOY_POLLS: u32 = 100;
/// Steps of `verify-fix` besides the polls: settle sleep, measure, comment, event.
pub const VERIFY_FIXED_STEPS: u32 = 4;
/// Longest `AUTOFIX_VERIFY_MAX_DAYS`.
pub const MAX_VERIFY_DAYS: u64 = 365;

/// How `verify-fix` spends its steps: poll counts and intervals derived from the settings so the
/// worst case fits in Inngest's 1 000 steps per run and every sleep in [`MAX_SLEEP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyPlan {
    /// Most polls of the PR's state before giving up as stale.
    pub pr_polls: u32,
    /// Sleep between two PR polls (ended early by `github/pull_request.closed`).
    pub pr_interval: Duration,
    /// Most polls for the merge commit's deployment.
    pub deploy_polls: u32,
    /// Sleep between two deployment polls.
    pub deploy_interval: Duration,
}

impl VerifyPlan {
    /// The plan for these settings: the configured waits divided into polls, each capped so the
    /// run fits Inngest's step limit.
    pub fn from_settings(s: &Settings) -> Self {
        let (pr_polls, pr_interval) =
            polls(s.verify_max_wait, s.verify_poll_interval, MAX_PR_POLLS);
        let (deploy_polls, deploy_interval) = polls(
            s.verify_deploy_timeout,
            s.verify_deploy_poll_interval,
            MAX_DEPLOY_POLLS,
        );
        Self {
            pr_polls,
            pr_interval,
            deploy_polls,
            deploy_interval,
        }
    }

    /// Steps of the longest possible run: every poll used, then measured and reported.
    pub fn worst_case_steps(&self) -> u32 {
        // The first poll of each loop has no sleep before it.
        2 * self.pr_polls - 1 + 2 * self.deploy_polls - 1 + VERIFY_FIXED_STEPS
    }
}

/// `total / interval` polls, at most `max`: when the interval is too short for the budget it is
/// stretched, never the budget. Every interval stays within [`MAX_SLEEP`].
fn polls(total: Duration, interval: Duration, max: u32) -> (u32, Duration) {
    let interval = interval.clamp(Duration::from_secs(1), MAX_SLEEP);
    let wanted = (total.as_secs_f64() / interval.as_secs_f64())
        .ceil()
        .max(0.0) as u64
        + 1;
    if wanted <= u64::from(max) {
        return (wanted as u32, interval);
    }
    let stretched =
        Duration::from_secs_f64(total.as_secs_f64() / f64::from(max - 1)).min(MAX_SLEEP);
    let n = ((total.as_secs_f64() / stretched.as_secs_f64()).ceil() as u64 + 1).min(u64::from(max));
    (n as u32, stretched)
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cron: defaults::CRON.into(),
            window_minutes: defaults::WINDOW_MINUTES,
            thresholds: detect::Thresholds::default(),
            log_limits: railway::LogLimits::default(),
            evidence_limits: evidence::Limits::default(),
            prompt_budget: analysis::PromptBudget::default(),
            guard: fix_plan::GuardPolicy::default(),
            approval_required: false,
            approval_timeout: defaults::APPROVAL_TIMEOUT,
            agent_poll_interval: defaults::AGENT_POLL_INTERVAL,
            agent_timeout: defaults::AGENT_TIMEOUT,
            agent_workdir: defaults::AGENT_WORKDIR.into(),
            agent_model: None,
            fix_rate_limit_period: defaults::FIX_RATE_LIMIT,
            services: crate::ServiceSelection::default(),
            retries: 3,
            max_event_bytes: 192 * 1024,
            ci_fix_attempts: 2,
            ci_timeout: Duration::from_secs(3600),
            ci_poll_interval: Duration::from_secs(60),
            github_webhooks: false,
            open_issues: false,
            verify_max_wait: Duration::from_secs(14 * 24 * 3600),
            verify_poll_interval: Duration::from_secs(3600),
            verify_deploy_timeout: Duration::from_secs(6 * 3600),
            verify_deploy_poll_interval: Duration::from_secs(300),
            verify_settle: Duration::from_secs(30 * 60),
            rejected_cooldown: Duration::from_secs(7 * 24 * 3600),
            notify: notifications::Sinks::default(),
            notify_retries: 4,
            run_url_template: None,
            projects: Vec::new(),
            railway_budget_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_verify_run_fits_in_1000_steps_and_every_sleep_in_7_days() {
        let day = Duration::from_secs(86_400);
        for (max_wait, interval, deploy_timeout, deploy_interval) in [
            (
                day * 14,
                Duration::from_secs(3600),
                day / 4,
                Duration::from_secs(300),
            ),
            (
                day * 365,
                Duration::from_secs(1),
                day * 30,
                Duration::from_secs(1),
            ),
            (day * 365, day * 30, day, day * 30),
            (
                Duration::ZERO,
                Duration::ZERO,
                Duration::ZERO,
                Duration::ZERO,
            ),
        ] {
            let s = Settings {
                verify_max_wait: max_wait,
                verify_poll_interval: interval,
                verify_deploy_timeout: deploy_timeout,
                verify_deploy_poll_interval: deploy_interval,
                ..Settings::default()
            };
            let plan = VerifyPlan::from_settings(&s);
            assert!(plan.worst_case_steps() < 1000, "{plan:?}");
            assert!(plan.pr_interval <= MAX_SLEEP && plan.deploy_interval <= MAX_SLEEP);
            assert!(plan.pr_polls >= 1 && plan.deploy_polls >= 1);
            // The polls still cover the whole wait.
            let covered = plan.pr_interval * (plan.pr_polls - 1);
            assert!(
                covered + Duration::from_secs(1) >= max_wait.min(MAX_SLEEP * (MAX_PR_POLLS - 1)),
                "{plan:?}"
            );
        }
        // Defaults: hourly PR polls for 14 days, 5-minute deployment polls for 6 hours.
        let plan = VerifyPlan::from_settings(&Settings::default());
        assert_eq!((plan.pr_polls, plan.deploy_polls), (337, 73));
        assert_eq!(plan.worst_case_steps(), 822);
    }
}
