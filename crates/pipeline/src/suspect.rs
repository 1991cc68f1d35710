//! The suspect change of each incident: the diff, read from GitHub, between the commit of the
//! deployment that went live shortly before the incident began and the commit of the deployment
//! before it (both from Railway's deployment history, via the finding's `suspect_deployment`).
//!
//! The diff is evidence, not a precondition: without GitHub, without a previous commit, or when
//! GitHub cannot answer, the context says why in a note and the run goes on.

use std::collections::BTreeMap;

use evidence::{ChangeRef, SuspectChange, change::RawChangedFile};
use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::events::ContextRequested;

/// What the `read-suspect-changes` step found for one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeRead {
    Found(SuspectChange),
    /// Why there is no diff (said in the evidence notes).
    Missing(String),
}

/// Per service id: its repository and the commit range of its suspect deployment (`None` without
/// a previous commit to compare with).
pub(crate) type Wanted = BTreeMap<String, (String, Option<ChangeRef>)>;

/// The commit range of each service's suspect deployment, one per service (its first incident
/// that has one), for services deployed from a repository.
pub(crate) fn wanted(req: &ContextRequested) -> Wanted {
    let mut out = BTreeMap::new();
    for f in &req.findings {
        let Some(d) = &f.suspect_deployment else {
            continue;
        };
        let Some(repo) = req
            .services
            .iter()
            .find(|s| s.id == f.service_id)
            .and_then(|s| s.repo.clone())
        else {
            continue;
        };
        if out.contains_key(&f.service_id) {
            continue;
        }
        let range = match (&d.previous_commit_hash, &d.commit_hash) {
            (Some(base), Some(head)) => Some(ChangeRef {
                deployment_id: d.id.clone(),
                base: base.clone(),
                head: head.clone(),
                commit_message: d.commit_message.clone(),
                minutes_before_onset: d.minutes_before_onset,
            }),
            _ => None,
        };
        out.insert(f.service_id.clone(), (repo, range));
    }
    out
}

/// Reads every wanted diff (one GitHub request each, at most one per affected service).
pub(crate) async fn read(deps: &Deps, demo: bool, wanted: &Wanted) -> BTreeMap<String, ChangeRead> {
    let limits = deps.settings.evidence_limits.change;
    let reads = wanted.iter().map(|(service_id, (repo, range))| {
        let github = deps.github.as_ref();
        let service_id = service_id.clone();
        async move {
            let Some(range) = range else {
                return (
                    service_id,
                    ChangeRead::Missing(
                        "suspect deployment has no previous commit to compare with".into(),
                    ),
                );
            };
            let Some(github) = github.filter(|_| !demo) else {
                return (
                    service_id,
                    ChangeRead::Missing(
                        "suspect change not read: no GitHub access configured".into(),
                    ),
                );
            };
            let read = match github.diff(repo, &range.base, &range.head).await {
                Ok(Some(diff)) => ChangeRead::Found(evidence::change::suspect_change(
                    range,
                    diff.total_commits,
                    diff.files.iter().map(|f| RawChangedFile {
                        path: &f.filename,
                        status: &f.status,
                        additions: f.additions,
                        deletions: f.deletions,
                        patch: f.patch.as_deref(),
                    }),
                    &limits,
                )),
                Ok(None) => ChangeRead::Missing(format!(
                    "suspect change not read: GitHub does not know {}...{} in {repo}",
                    short(&range.base),
                    short(&range.head)
                )),
                Err(e) => {
                    tracing::warn!(
                        service_id = %service_id,
                        repo = %repo,
                        error = %redact::redact(&e.to_string()),
                        "suspect change not read"
                    );
                    ChangeRead::Missing(format!(
                        "suspect change not read: {}",
                        redact::redact(&e.to_string())
                    ))
                }
            };
            (service_id, read)
        }
    });
    futures::future::join_all(reads).await.into_iter().collect()
}

fn short(commit: &str) -> String {
    evidence::sanitize::clean_line(&commit.chars().take(7).collect::<String>(), 7)
}

/// Puts each found change on its service's context, or the reason it is missing in its notes.
pub(crate) fn attach(
    contexts: &mut [evidence::ServiceContext],
    changes: BTreeMap<String, ChangeRead>,
) {
    for (service_id, read) in changes {
        let Some(ctx) = contexts.iter_mut().find(|c| c.service_id == service_id) else {
            continue;
        };
        match read {
            ChangeRead::Found(change) => ctx.suspect_change = Some(change),
            ChangeRead::Missing(why) => ctx.notes.push(why),
        }
    }
}
