//! Telling people about incidents, once per state change.
//!
//! - [`Notification`] is one transition of one incident (new incident, PR opened, `wait`,
//!   `investigate`, agent failed, fix verified/ineffective, recovered); its [`dedup_key`]
//!   (transition + fingerprint) is what makes "one message per transition, never one per cycle".
//! - [`render`] turns it into each sink's payload: Slack Block Kit, a Discord webhook embed, a
//!   Teams workflow Adaptive Card, and a generic JSON body.
//! - [`sign`] signs the generic body per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256>`).
//! - [`Sink`] / [`Sinks`] are the configured destinations (their URLs are secrets: `Debug`
//!   redacts them), [`deliver`] posts one message to one sink and classifies failures so the
//!   caller can retry (honouring `Retry-After`).
//!
//! [`dedup_key`]: Notification::dedup_key

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

mod deliver;
pub mod render;
mod sign;
mod sink;

pub use deliver::{DeliveryError, deliver, parse_retry_after};
pub use sign::{SignError, WebhookSecret, sign, signature_headers};
pub use sink::{Sink, SinkConfigError, SinkKind, Sinks};

/// A state change worth telling someone about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// An incident fingerprint seen for the first time.
    IncidentOpened,
    /// The agent's pull request exists on GitHub.
    PrOpened,
    /// The analysis says wait (e.g. an upstream provider has an active incident).
    Wait,
    /// The analysis says a person must look (not safe to fix automatically).
    Investigate,
    /// The coding agent failed, timed out, or finished without a PR.
    AgentFailed,
    /// The merged fix made the incident go away.
    FixVerified,
    /// The merged fix did not make the incident go away.
    FixIneffective,
    /// The incident's signal is back under its threshold.
    IncidentRecovered,
}

impl Transition {
    /// Every transition, in lifecycle order.
    pub const ALL: [Transition; 8] = [
        Self::IncidentOpened,
        Self::PrOpened,
        Self::Wait,
        Self::Investigate,
        Self::AgentFailed,
        Self::FixVerified,
        Self::FixIneffective,
        Self::IncidentRecovered,
    ];

    /// The `snake_case` name used in dedup keys and the generic webhook's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncidentOpened => "incident_opened",
            Self::PrOpened => "pr_opened",
            Self::Wait => "wait",
            Self::Investigate => "investigate",
            Self::AgentFailed => "agent_failed",
            Self::FixVerified => "fix_verified",
            Self::FixIneffective => "fix_ineffective",
            Self::IncidentRecovered => "incident_recovered",
        }
    }

    /// Short human heading.
    pub fn heading(self) -> &'static str {
        match self {
            Self::IncidentOpened => "New incident",
            Self::PrOpened => "Fix PR opened",
            Self::Wait => "Waiting: not fixing now",
            Self::Investigate => "Needs a person",
            Self::AgentFailed => "Coding agent failed",
            Self::FixVerified => "Fix verified",
            Self::FixIneffective => "Fix ineffective",
            Self::IncidentRecovered => "Incident recovered",
        }
    }

    /// How urgent it reads: drives colours and emoji.
    pub fn tone(self) -> Tone {
        match self {
            Self::IncidentOpened | Self::AgentFailed | Self::FixIneffective => Tone::Bad,
            Self::Wait | Self::Investigate => Tone::Attention,
            Self::PrOpened => Tone::Info,
            Self::FixVerified | Self::IncidentRecovered => Tone::Good,
        }
    }
}

/// Colour family of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Something is wrong: an incident opened, the agent failed, a fix did not help.
    Bad,
    /// A person should look: wait for data, or investigate by hand.
    Attention,
    /// Progress to know about: a pull request was opened.
    Info,
    /// Resolved: a fix was verified or the incident recovered.
    Good,
}

/// A pull request as a message links it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrLink {
    /// The pull request's web page.
    pub url: String,
    /// Pull request number in its repository.
    pub number: u64,
    /// `open`, `closed`, `merged`.
    pub state: String,
    /// CI state when known (`pending`, `success`, `failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<String>,
}

/// One transition of one incident (or of one repository's incident group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Which step of the incident's life this message reports.
    pub transition: Transition,
    /// Incident fingerprint (`af-…`), or the repository-level fingerprint for fix outcomes.
    pub fingerprint: String,
    /// Railway project name.
    pub project: String,
    /// Railway environment name.
    pub environment: String,
    /// Railway service names concerned.
    #[serde(default)]
    pub services: Vec<String>,
    /// GitHub repository (`owner/name`) concerned, for fix transitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// `warning` / `critical` for incidents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Finding kind (`cpu`, `latency`, …) for incidents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// One line: what happened.
    pub summary: String,
    /// A few lines: evidence, why, what to look at.
    #[serde(default)]
    pub details: Vec<String>,
    /// The deployment suspected of causing it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspect_deployment: Option<String>,
    /// The fix pull request, once one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PrLink>,
    /// The Inngest run that produced this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    /// The GitHub issue tracking it, when one was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_url: Option<String>,
    /// A one-line sparkline of the signal, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparkline: Option<String>,
    /// True when the data is Autofix's built-in demo project.
    #[serde(default)]
    pub demo: bool,
    /// Unix seconds of the transition.
    pub at: i64,
}

impl Notification {
    /// One message per transition per fingerprint: the key the notify event is deduplicated on.
    pub fn dedup_key(&self) -> String {
        dedup_key(self.transition, &self.fingerprint)
    }

    /// A stable message id (`msg_<hex>`) derived from the dedup key: the same on every retry,
    /// so a receiver can deduplicate too (Standard Webhooks' `webhook-id`).
    pub fn message_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(self.dedup_key().as_bytes());
        format!("msg_{}", &hex::encode(d)[..32])
    }

    /// `[project/environment] Heading: summary`, the plain-text fallback every sink gets.
    pub fn title_line(&self) -> String {
        let demo = if self.demo { " (demo)" } else { "" };
        format!(
            "[{}/{}{demo}] {}: {}",
            self.project,
            self.environment,
            self.transition.heading(),
            self.summary
        )
    }
}

/// `"<transition>:<fingerprint>"`.
pub fn dedup_key(transition: Transition, fingerprint: &str) -> String {
    format!("{}:{fingerprint}", transition.as_str())
}

#[cfg(test)]
mod tests;
