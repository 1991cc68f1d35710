//! Guards: for each repository, proceed to a coding agent or skip with a reason.

use std::collections::{BTreeMap, BTreeSet};

use detect::Finding;
use serde::{Deserialize, Serialize};

use crate::{Action, Analysis, AnalysisInput};

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Proceed,
    Skip { reason: String },
}

/// The verdict for one repository (or for services without one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoDecision {
    /// `owner/name`, or [`no_repo_key`] for incident services that have no source repository.
    pub repo: String,
    /// Names of the input's services deployed from it that have incidents.
    pub services: Vec<String>,
    /// [`repo_fingerprint`] of `repo` over those services' findings.
    pub fingerprint: String,
    pub decision: Decision,
}

impl RepoDecision {
    pub fn proceeds(&self) -> bool {
        self.decision == Decision::Proceed
    }
}

/// Group key for services without a source repository: `no-repo:<id>,<id>` in input order.
pub fn no_repo_key<'a>(service_ids: impl IntoIterator<Item = &'a str>) -> String {
    format!(
        "no-repo:{}",
        service_ids.into_iter().collect::<Vec<_>>().join(",")
    )
}

/// The id of a repository's ongoing incident: a hash of the repository and the sorted, distinct
/// fingerprints of its incident findings (warning or critical). Finding fingerprints depend only
/// on service and kind, so the value is the same on every cycle while the same problems persist,
/// whatever the measured numbers or the order of `findings`; observations do not move it. A new
/// kind of problem on the repository yields a new fingerprint, hence a new branch and PR.
pub fn repo_fingerprint(repo: &str, findings: &[Finding]) -> String {
    use sha2::{Digest, Sha256};
    let parts: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f.is_incident())
        .map(|f| f.fingerprint.as_str())
        .collect();
    let mut hasher = Sha256::new();
    hasher.update(repo.as_bytes());
    for p in parts {
        hasher.update([0u8]);
        hasher.update(p.as_bytes());
    }
    format!("af-{}", &hex::encode(hasher.finalize())[..12])
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

/// Decides, per repository, whether a coding agent may start.
///
/// Repositories considered: those of services with incident findings, plus those the analysis
/// gave an action for (which are always input repositories once validated). Services with
/// incidents but no repository form one group that is always skipped. `existing_prs` is what
/// GitHub said per repository: `Some(url)` for an open autofix PR with this fingerprint; a missing
/// entry means it was not checked.
///
/// A skip records every reason that applies, in this order: report-only, no repository, invalid
/// repository name, action, confidence, existing PR.
pub fn decide(
    analysis: &Analysis,
    input: &AnalysisInput,
    existing_prs: &BTreeMap<String, Option<String>>,
    policy: &GuardPolicy,
) -> Vec<RepoDecision> {
    let incident_services: Vec<&crate::ServiceRef> = input
        .services
        .iter()
        .filter(|s| {
            input
                .findings
                .iter()
                .any(|f| f.is_incident() && f.service_id == s.id)
        })
        .collect();

    let mut repos: BTreeSet<String> = incident_services
        .iter()
        .filter_map(|s| s.repo.clone())
        .collect();
    let known = input.repos();
    repos.extend(
        analysis
            .actions
            .iter()
            .map(|a| a.repo.clone())
            .filter(|r| known.contains(r)),
    );

    let mut out = Vec::new();
    for repo in repos {
        let services: Vec<String> = incident_services
            .iter()
            .filter(|s| s.repo.as_deref() == Some(repo.as_str()))
            .map(|s| s.name.clone())
            .collect();
        let fingerprint = repo_fingerprint(&repo, &input.findings_for_repo(&repo));
        let mut reasons = Vec::new();
        let action = analysis.action_for(&repo);
        if policy.report_only {
            let what = action.map(|a| a.action.as_str()).unwrap_or("no action");
            reasons.push(format!(
                "report-only mode: no agent is started (analysis recommends {what})"
            ));
        }
        if !is_valid_repo(&repo) {
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
        if let Some(Some(url)) = existing_prs.get(&repo) {
            reasons.push(format!(
                "an open autofix PR for fingerprint {fingerprint} already exists: {url}"
            ));
        }
        let decision = if reasons.is_empty() {
            Decision::Proceed
        } else {
            Decision::Skip {
                reason: reasons.join("; "),
            }
        };
        out.push(RepoDecision {
            repo,
            services,
            fingerprint,
            decision,
        });
    }

    let orphans: Vec<&&crate::ServiceRef> = incident_services
        .iter()
        .filter(|s| s.repo.is_none())
        .collect();
    if !orphans.is_empty() {
        let key = no_repo_key(orphans.iter().map(|s| s.id.as_str()));
        let ids: BTreeSet<&str> = orphans.iter().map(|s| s.id.as_str()).collect();
        let findings: Vec<Finding> = input
            .findings
            .iter()
            .filter(|f| ids.contains(f.service_id.as_str()))
            .cloned()
            .collect();
        let names: Vec<String> = orphans.iter().map(|s| s.name.clone()).collect();
        let reason = format!(
            "no source repository: {} deploy(s) from an image or have no repository configured in Railway",
            names.join(", ")
        );
        out.push(RepoDecision {
            fingerprint: repo_fingerprint(&key, &findings),
            repo: key,
            services: names,
            decision: Decision::Skip { reason },
        });
    }
    out
}
