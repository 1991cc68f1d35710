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
    pub thresholds: detect::Thresholds,
    pub log_limits: railway::LogLimits,
    pub evidence_limits: evidence::Limits,
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
        }
    }
}
