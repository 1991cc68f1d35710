//! Event names and payloads that chain the three functions.
//!
//! Payloads are plain serde types so a malformed event fails deserialization with the field named,
//! which the SDK turns into a non-retriable failure.

use detect::Finding;
use evidence::ServiceContext;
use railway::model::{EnvironmentRef, ProjectRef, TimeWindow};
use serde::{Deserialize, Serialize};

/// Starts a health check by hand (Inngest UI, `autofix send`).
pub const HEALTH_CHECK_REQUESTED: &str = "autofix/health.check.requested";
/// Sent by `monitor-project-health` when it finds incidents.
pub const CONTEXT_REQUESTED: &str = "autofix/service.context.requested";
/// Sent by `pull-service-context`, one per repository group.
pub const FIX_REQUESTED: &str = "autofix/fix.requested";
/// Sent by a person to approve a fix when approval is required.
pub const FIX_APPROVED: &str = "autofix/fix.approved";
/// Sent by `generate-fix` when its PR is open (and CI has been waited for); starts `verify-fix`.
pub const PR_OPENED: &str = "autofix/pr.opened";
/// Sent by `verify-fix` when the merged fix made the incident go away in production.
pub const INCIDENT_RESOLVED: &str = "autofix/incident.resolved";
/// Sent by `verify-fix` when the merged fix did not make the incident go away (`not_fixed`, or
/// only `improved`).
pub const FIX_INEFFECTIVE: &str = "autofix/fix.ineffective";

/// Events an Inngest webhook transform makes of GitHub webhooks (see the README): named
/// `github/<X-GitHub-Event>.<action>`, with the webhook payload as data.
pub mod webhook {
    /// A pull request was closed (merged or not): ends `verify-fix`'s wait for the merge.
    pub const PULL_REQUEST_CLOSED: &str = "github/pull_request.closed";
    /// A check suite finished on a commit: ends `generate-fix`'s wait for CI.
    pub const CHECK_SUITE_COMPLETED: &str = "github/check_suite.completed";
}
/// One transition to deliver to the configured sinks; its event id is the dedup key.
pub const NOTIFY_REQUESTED: &str = "autofix/notify.requested";
/// Emitted by Inngest when any run ends, with its output (`result`) or `error` and its trigger.
pub const FUNCTION_FINISHED: &str = "inngest/function.finished";

/// Data of `autofix/health.check.requested`, and of the cron event
/// (`inngest/scheduled.timer`, whose data carries `cron` and other fields Inngest adds, such as
/// `fireAt`): every field is optional and unknown fields are ignored, but a known field of the
/// wrong type fails the run without retries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckRequested {
    /// Override the detection window for this run, in minutes (5..=1440).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_minutes: Option<u32>,
    /// Free text shown in the run output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set by Inngest on cron runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Workspace mode: the project and environment to check (the cron run's fan-out sends one
    /// event per target). Absent: the configured project, or, in workspace mode, a fan-out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<railway::workspace::Target>,
    /// `<project id>/<environment id>` of `target`: the run's concurrency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_key: Option<String>,
}

/// A service an incident touches, as Railway configures it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedService {
    /// Railway service id.
    pub id: String,
    /// Railway service name.
    pub name: String,
    /// `owner/name` from Railway's service source; the only place a target repository comes from.
    pub repo: Option<String>,
    /// Directory of the service inside its repository (monorepos), where its manifests live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    /// The deployment live when the incident was detected, if any.
    pub deployment_id: Option<String>,
    /// A database (volume or database image): context for the fix, never its target.
    pub is_database: bool,
}

/// Data of `autofix/service.context.requested`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextRequested {
    /// The Railway project.
    pub project: ProjectRef,
    /// The watched environment.
    pub environment: EnvironmentRef,
    /// The detection window the findings come from.
    pub window: TimeWindow,
    /// Compact markdown of the whole environment.
    pub architecture_summary: String,
    /// Affected services (those with incidents), plus the databases they may depend on.
    pub services: Vec<AffectedService>,
    /// Incident findings only (observations are left out to keep the payload small).
    pub findings: Vec<Finding>,
    /// Distinct incident fingerprints, sorted.
    pub fingerprints: Vec<String>,
    /// Each incident's signal over the window.
    #[serde(default)]
    pub charts: Vec<charts::Chart>,
    /// True when the data is the built-in demo project.
    #[serde(default)]
    pub demo: bool,
}

/// Data of `autofix/fix.requested`: one repository group (or one repo-less service group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixRequested {
    /// The Railway project.
    pub project: ProjectRef,
    /// The watched environment.
    pub environment: EnvironmentRef,
    /// The detection window the findings come from.
    pub window: TimeWindow,
    /// Compact markdown of the whole environment, for the analysis prompt.
    pub architecture_summary: String,
    /// The repository this request is about; `None` for services without a source repo.
    pub repo: Option<String>,
    /// Key for Inngest concurrency: the repo, or `no-repo:<service ids>`.
    pub concurrency_key: String,
    /// Stable id of this repository's ongoing incident (see `fix_plan::naming::incident_fingerprint`); computed once, here.
    pub fingerprint: String,
    /// Services of this group.
    pub services: Vec<AffectedService>,
    /// Incident findings on this group's services.
    pub findings: Vec<Finding>,
    /// Evidence for this group's services and for the environment's databases.
    pub contexts: Vec<ServiceContext>,
    /// Signals of this group's incidents, for the PR body.
    #[serde(default)]
    pub charts: Vec<charts::Chart>,
    /// True when the data is the built-in demo project.
    #[serde(default)]
    pub demo: bool,
}

/// Data of `autofix/fix.approved`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixApproved {
    /// The repository incident's fingerprint, as in [`FixRequested::fingerprint`].
    pub fingerprint: String,
    /// Who approved, free text, for the run output.
    #[serde(default)]
    pub approved_by: Option<String>,
}

/// The part of a finding `verify-fix` compares on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingRef {
    /// Railway service id.
    pub service_id: String,
    /// Railway service name.
    pub service: String,
    /// What kind of problem it was.
    pub kind: detect::FindingKind,
    /// The finding's metric name, e.g. `p95_ms`.
    pub metric: String,
    /// The value the incident was reported with, in `unit`.
    pub value: f64,
    /// The threshold it crossed, in `unit`.
    pub threshold: f64,
    /// Unit of `value` and `threshold`.
    pub unit: String,
    /// The finding's own fingerprint (service + kind).
    pub fingerprint: String,
}

impl From<&Finding> for FindingRef {
    fn from(f: &Finding) -> Self {
        Self {
            service_id: f.service_id.clone(),
            service: f.service.clone(),
            kind: f.kind,
            metric: f.metric.clone(),
            value: f.value,
            threshold: f.threshold,
            unit: f.unit.clone(),
            fingerprint: f.fingerprint.clone(),
        }
    }
}

/// Data of `autofix/pr.opened`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrOpened {
    /// The Railway project.
    pub project: ProjectRef,
    /// The watched environment.
    pub environment: EnvironmentRef,
    /// The fix PR's repository, `owner/name`.
    pub repo: String,
    /// The fix PR's number.
    pub pr_number: u64,
    /// The fix PR's web page.
    pub pr_url: String,
    /// `<repo>#<number>`: the concurrency key of `verify-fix` (one follower per PR).
    pub pr_key: String,
    /// The repository incident's fingerprint (the PR carries its marker).
    pub fingerprint: String,
    /// Services the incident is on (databases excluded).
    pub service_ids: Vec<String>,
    /// The incident's findings, for the before/after comparison.
    pub findings: Vec<FindingRef>,
    /// The window the incident was detected in: the "before" sample.
    pub window: TimeWindow,
    /// True when the data is the built-in demo project.
    #[serde(default)]
    pub demo: bool,
}

/// Data of `autofix/incident.resolved` and `autofix/fix.ineffective`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixVerified {
    /// The fix PR's repository, `owner/name`.
    pub repo: String,
    /// The fix PR's number.
    pub pr_number: u64,
    /// The fix PR's web page.
    pub pr_url: String,
    /// The repository incident's fingerprint.
    pub fingerprint: String,
    /// The Railway project.
    pub project: ProjectRef,
    /// The watched environment.
    pub environment: EnvironmentRef,
    /// Services the incident was on.
    pub service_ids: Vec<String>,
    /// The verdict over every compared metric (the worst of them).
    pub verdict: compare::Verdict,
    /// One comparison per finding metric.
    pub comparisons: Vec<compare::MetricComparison>,
    /// The verdict comment posted on the PR, when posting worked.
    pub comment_url: Option<String>,
    /// The merge commit that went live.
    pub merge_commit: Option<String>,
    /// The window after the deployment that the "after" sample came from.
    pub after_window: TimeWindow,
}
