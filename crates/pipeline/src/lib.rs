//! The three Autofix Inngest functions.
//!
//! ```text
//! cron / autofix/health.check.requested
//!   └─ monitor-project-health ── autofix/service.context.requested ─┐
//!                                                                   pull-service-context
//!        ┌── autofix/fix.requested (one per repository) ────────────┘
//!   generate-fix ── analysis ── guards ── OpenCode session ── verified PR
//! ```
//!
//! Each function reads through [`Deps`]; the functions hold no other state, so the same code runs
//! under Inngest (durable steps) and in-process for `autofix check` (`inngest::InlineRunner`).

mod context;
pub mod events;
mod fix;
mod monitor;
pub mod settings;

use std::sync::Arc;

pub use context::ContextReport;
pub use fix::{FixOutcome, FixStatus, analysis_markdown};
pub use monitor::MonitorReport;
pub use settings::Settings;

/// Function ids (un-prefixed; on the wire they are `autofix-<id>`).
pub const MONITOR_FN: &str = "monitor-project-health";
pub const CONTEXT_FN: &str = "pull-service-context";
pub const FIX_FN: &str = "generate-fix";

/// Most agent polls one `generate-fix` run may make: each is two steps (sleep + poll), and
/// Inngest runs are limited to 1 000 steps.
pub const MAX_AGENT_POLLS: u32 = 450;

/// The Inngest app id.
pub const APP_ID: &str = "autofix";

/// Clients and settings shared by the functions.
pub struct Deps {
    pub railway: railway::Source,
    /// True when `railway` is the built-in demo project.
    pub demo: bool,
    pub github: Option<github::GitHub>,
    pub upstreams: evidence::UpstreamChecker,
    pub llm: Option<llm::Llm>,
    pub opencode: Option<opencode::OpenCode>,
    pub settings: Settings,
    /// Clock, injectable so tests and the demo are deterministic.
    pub now: fn() -> i64,
}

/// Seconds since the Unix epoch.
pub fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The three functions, ready to be served or run inline.
pub fn functions(deps: Arc<Deps>) -> Result<Vec<inngest::ServableFunction>, inngest::ConfigError> {
    Ok(vec![
        monitor::function(deps.clone())?,
        context::function(deps.clone()),
        fix::function(deps),
    ])
}

/// Maps an I/O client error onto Inngest's retry semantics.
pub(crate) fn step_error(
    retriable: bool,
    retry_after: Option<std::time::Duration>,
    message: String,
) -> inngest::Error {
    match (retriable, retry_after) {
        (_, Some(after)) => inngest::Error::retry_after(message, after),
        (true, None) => inngest::Error::retriable(message),
        (false, None) => inngest::Error::non_retriable(message),
    }
}

pub(crate) fn railway_error(e: railway::RailwayError) -> inngest::Error {
    step_error(e.is_retriable(), e.retry_after(), e.to_string()).with_name("RailwayError")
}
