//! Guards: proceed to a coding agent on one repository, or skip with every reason that applies.

use analysis::{Action, Analysis};
use serde::{Deserialize, Serialize};

/// Knobs of the guards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardPolicy {
    /// Analyses less confident than this never start an agent.
    pub min_confidence: f64,
    /// Analyse and report, never start an agent.
    pub report_only: bool,
}

impl Default for GuardPolicy {
    fn default() -> Self {
        Self {
            min_confidence: 0.6,
            report_only: false,
        }
    }
}

/// The verdict of the guards for one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Every guard allows a coding agent.
    Proceed,
    /// At least one guard refused; `reason` lists all of them.
    Skip {
        /// The refusals, joined with `; `.
        reason: String,
    },
}

/// What the guards look at besides the analysis.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `owner/name`, from Railway's service config.
    pub repo: &'a str,
    /// The incident fingerprint of this repository's group.
    pub fingerprint: &'a str,
    /// URL of an open autofix PR with this fingerprint, if GitHub has one.
    pub existing_pr: Option<&'a str>,
}

/// `owner/name` with GitHub's allowed characters; anything else is refused before it can reach a
/// shell command in the agent task.
pub(crate) fn is_valid_repo(repo: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(repo.split_once('/'), Some((owner, name)) if ok(owner) && ok(name) && !name.contains('/'))
}

/// Decides whether a coding agent may start on `target.repo`.
///
/// A skip records every reason that applies, in this order: report-only, invalid repository
/// name, action, confidence, existing PR.
pub fn decide(analysis: &Analysis, target: Target<'_>, policy: &GuardPolicy) -> Decision {
    let repo = target.repo;
    let mut reasons = Vec::new();
    let action = analysis.action_for(repo);
    if policy.report_only {
        let what = action.map(|a| a.action.as_str()).unwrap_or("no action");
        reasons.push(format!(
            "report-only mode: no agent is started (analysis recommends {what})"
        ));
    }
    if !is_valid_repo(repo) {
        reasons.push(format!("repository {repo:?} is not a valid owner/name"));
    }
    match action {
        None => reasons.push("the analysis gave no action for this repository".to_owned()),
        Some(a) if a.action != Action::Fix => reasons.push(format!(
            "the analysis recommends `{}`: {}",
            a.action.as_str(),
            a.rationale.trim()
        )),
        Some(_) => {}
    }
    // NaN must fail the check too.
    let confident = analysis.confidence >= policy.min_confidence;
    if !confident {
        reasons.push(format!(
            "confidence {:.2} is below the floor {:.2}",
            analysis.confidence, policy.min_confidence
        ));
    }
    if let Some(url) = target.existing_pr {
        reasons.push(format!(
            "an open autofix PR for fingerprint {} already exists: {url}",
            target.fingerprint
        ));
    }
    if reasons.is_empty() {
        Decision::Proceed
    } else {
        Decision::Skip {
            reason: reasons.join("; "),
        }
    }
}
