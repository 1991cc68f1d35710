//! Tunables of the pipeline. The binary fills them from env/CLI; defaults are the documented ones.

use std::time::Duration;

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
    /// Minimum time between two fix runs for the same fingerprint (Inngest rate limit period).
    pub fix_rate_limit_period: String,
    /// Retries Inngest gives each function.
    pub retries: u32,
    /// Budget for the context carried in one `autofix/fix.requested` event.
    pub max_event_bytes: usize,
    /// Where notifications go; empty = no notification functions are registered.
    pub notify: notifications::Sinks,
    /// Retries of each delivery step (and of the transition router).
    pub notify_retries: u32,
    /// Link to an Inngest run in messages, `{run_id}` replaced; `None` = no link.
    pub run_url_template: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cron: "*/10 * * * *".into(),
            window_minutes: 30,
            thresholds: detect::Thresholds::default(),
            log_limits: railway::LogLimits::default(),
            evidence_limits: evidence::Limits::default(),
            prompt_budget: analysis::PromptBudget::default(),
            guard: fix_plan::GuardPolicy::default(),
            approval_required: false,
            approval_timeout: Duration::from_secs(24 * 3600),
            agent_poll_interval: Duration::from_secs(30),
            agent_timeout: Duration::from_secs(45 * 60),
            agent_workdir: "/workspace".into(),
            agent_model: None,
            fix_rate_limit_period: "4h".into(),
            retries: 3,
            max_event_bytes: 192 * 1024,
            notify: notifications::Sinks::default(),
            notify_retries: 4,
            run_url_template: None,
        }
    }
}
