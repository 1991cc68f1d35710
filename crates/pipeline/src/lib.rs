//! The Autofix Inngest functions.
//!
//! ```text
//! cron / autofix/health.check.requested
//!   └─ monitor-project-health ── autofix/service.context.requested ─┐
//!                                                                   pull-service-context
//!        ┌── autofix/fix.requested (one per repository) ────────────┘
//!   generate-fix ── guards ── analysis ── OpenCode session ── verified PR ── CI
//!        └── autofix/pr.opened ── verify-fix ── merged? deployed? measured ── verdict on the PR
//! ```
//!
//! Each function reads through [`Deps`]; the functions hold no other state, so the same code runs
//! under Inngest (durable steps) and in-process for `autofix check` (`inngest::InlineRunner`).

#![warn(missing_docs)]

mod ci;
mod context;
pub mod events;
mod fix;
pub(crate) mod health;
pub(crate) mod issue;
mod monitor;
pub(crate) mod notify;
pub mod select;
pub mod settings;
mod suspect;
mod targets;
mod verify;
pub mod workspace;

use std::sync::Arc;

pub use ci::{CiOutcome, CiStatus, FixPlan};
pub use context::ContextReport;
pub use fix::{FixOutcome, FixStatus};
pub use monitor::MonitorReport;
pub use monitor::TARGET_CONCURRENCY_KEY;
pub use select::{IgnoredService, ServiceSelection};
pub use settings::{Settings, VerifyPlan};
pub use verify::{DeploymentSeen, VerifyReport, VerifyStatus};
pub use workspace::{ProjectSettings, Selection, Workspace};

/// `monitor-project-health`: the cron cycle that reads health and detects incidents.
///
/// Function ids are un-prefixed; on the wire they are `autofix-<id>`.
pub const MONITOR_FN: &str = "monitor-project-health";
/// `pull-service-context`: reads logs, deployments and upstream status for the affected services.
pub const CONTEXT_FN: &str = "pull-service-context";
/// `generate-fix`: guards, analysis, the agent session, the PR and its CI.
pub const FIX_FN: &str = "generate-fix";
/// `verify-fix`: follows the PR to production and measures the incident before and after.
pub const VERIFY_FN: &str = "verify-fix";
/// `notify-on-transition`: turns run outcomes into notification requests.
pub const NOTIFY_ROUTER_FN: &str = "notify-on-transition";
/// `notify`: delivers one notification to every configured sink.
pub const NOTIFY_FN: &str = "notify";
/// `incident-issue`: opens, updates or closes the incident's GitHub issue.
pub const ISSUE_FN: &str = "incident-issue";

/// Most agent polls one `generate-fix` run may make: each is two steps (sleep + poll), and
/// Inngest runs are limited to 1 000 steps.
pub const MAX_AGENT_POLLS: u32 = 450;

/// The Inngest app id.
pub const APP_ID: &str = "autofix";

/// Clients and settings shared by the functions.
pub struct Deps {
    /// Railway reads, live or from the demo snapshot.
    pub railway: railway::Source,
    /// Workspace mode (`AUTOFIX_PROJECTS`): the cron tick fans out to every selected project
    /// and environment, read through this client; `None`: `railway` is the one target.
    pub workspace: Option<Workspace>,
    /// True when `railway` is the built-in demo project.
    pub demo: bool,
    /// GitHub client; `None` without `GITHUB_TOKEN` (no PR follow-up, issues or rejections).
    pub github: Option<github::GitHub>,
    /// Status pages of the upstream providers the services depend on.
    pub upstreams: upstream_status::UpstreamChecker,
    /// The LLM for analysis; `None` for rule-based analysis.
    pub llm: Option<llm::Llm>,
    /// The coding agent; `None` makes `generate-fix` a dry run.
    pub opencode: Option<opencode::OpenCode>,
    /// Every validated setting of the functions.
    pub settings: Settings,
    /// Clock, injectable so tests and the demo are deterministic.
    pub now: Clock,
}

/// Unix seconds now: [`system_now`] in production, a simulated clock under the test executor
/// (one that its durable sleeps move).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock as a [`Clock`].
pub fn system_clock() -> Clock {
    Arc::new(system_now)
}

/// Seconds since the Unix epoch.
pub fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The three functions, plus the two notification functions when a sink is configured, ready to
/// be served or run inline.
pub fn functions(deps: Arc<Deps>) -> Result<Vec<inngest::ServableFunction>, inngest::ConfigError> {
    let mut fns = vec![
        monitor::function(deps.clone())?,
        context::function(deps.clone()),
        fix::function(deps.clone()),
        verify::function(deps.clone()),
    ];
    if deps.settings.open_issues && deps.github.is_some() {
        fns.push(issue::function(deps.clone()));
    }
    if !deps.settings.notify.is_empty() {
        fns.push(notify::router_function(deps.clone()));
        fns.push(notify::delivery_function(deps));
    }
    Ok(fns)
}

/// The one way a client error becomes an Inngest step error: the peer's `Retry-After` wins,
/// otherwise the client's retriable verdict decides. Every message reaches Inngest (and its UI,
/// logs and run history) through here, so this is where it is made safe to show.
pub(crate) fn step_error<E: client_error::ClientError>(e: E) -> inngest::Error {
    let message = redact::redact_string(e.user_message());
    let error = match e.retry_after() {
        Some(after) => inngest::Error::retry_after(message, after),
        None if e.is_retriable() => inngest::Error::retriable(message),
        None => inngest::Error::non_retriable(message),
    };
    error.with_name(e.error_name())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use inngest::Retry;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("peer said no")]
    struct Peer {
        retriable: bool,
        after: Option<Duration>,
    }

    impl client_error::ClientError for Peer {
        fn error_name(&self) -> &'static str {
            "PeerError"
        }
        fn is_retriable(&self) -> bool {
            self.retriable
        }
        fn retry_after(&self) -> Option<Duration> {
            self.after
        }
    }

    #[test]
    fn step_error_keeps_the_peers_delay_and_verdict() {
        let seven = Duration::from_secs(7);
        let cases = [
            (true, Some(seven), Retry::After(seven)),
            (true, None, Retry::Retriable),
            (false, None, Retry::NonRetriable),
        ];
        for (retriable, after, want) in cases {
            let e = step_error(Peer { retriable, after });
            assert_eq!(e.retry(), want);
            assert_eq!(e.name(), "PeerError");
            assert_eq!(e.message(), "peer said no");
        }
    }

    #[test]
    fn an_llm_rate_limit_reaches_the_step_error_through_the_analysis() {
        let e = analysis::AnalysisError::Llm(llm::LlmError::RateLimited {
            provider: "openai",
            retry_after: Some(Duration::from_secs(7)),
        });
        let step = step_error(e);
        assert_eq!(step.retry(), Retry::After(Duration::from_secs(7)));
        assert_eq!(step.name(), "AnalysisError");
    }
}
