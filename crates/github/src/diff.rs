//! The changes between two commits, as the compare API lists them per file: what the deployment
//! suspected of starting an incident changed, for the analysis and the agent.

use serde::{Deserialize, Serialize};

use crate::{GitHub, GitHubError, decode_json};

/// Files GitHub lists on the first page of a comparison. The suspect change of an incident is one
/// deployment's worth of commits; more files than this is a release, and the first ones suffice
/// to point the reader at the change.
const FILES_PER_PAGE: usize = 100;

/// One changed file of a comparison, raw (untrusted, unsanitised): callers clean it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffFile {
    /// Path in the repository after the change.
    pub filename: String,
    /// `added`, `removed`, `modified`, `renamed`, `copied`, `changed` or `unchanged`.
    pub status: String,
    /// Lines added.
    #[serde(default)]
    pub additions: u64,
    /// Lines removed.
    #[serde(default)]
    pub deletions: u64,
    /// The unified-diff hunks; GitHub leaves it out for binary files and very large diffs.
    #[serde(default)]
    pub patch: Option<String>,
    /// The path before a rename or copy.
    #[serde(default)]
    pub previous_filename: Option<String>,
}

/// The file list of `base...head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitDiff {
    /// The older commit, as given.
    pub base: String,
    /// The newer commit, as given.
    pub head: String,
    /// Commits in the range, as GitHub counts them.
    pub total_commits: u64,
    /// At most the first page (100 files), in GitHub's order.
    pub files: Vec<DiffFile>,
}

#[derive(Deserialize)]
struct RawComparison {
    #[serde(default)]
    total_commits: u64,
    #[serde(default)]
    files: Vec<DiffFile>,
}

impl GitHub {
    /// What changed from commit `base` to commit `head` (`GET /repos/{o}/{r}/compare/{base}...{head}`,
    /// first page of files); `None` when either commit is unknown to GitHub.
    pub async fn diff(
        &self,
        repo: &str,
        base: &str,
        head: &str,
    ) -> Result<Option<CommitDiff>, GitHubError> {
        let per_page = FILES_PER_PAGE.to_string();
        let Some(body) = self
            .comparison(repo, base, head, &[("per_page", &per_page)])
            .await?
        else {
            return Ok(None);
        };
        let raw: RawComparison = decode_json("comparison", &body)?;
        Ok(Some(CommitDiff {
            base: base.to_owned(),
            head: head.to_owned(),
            total_commits: raw.total_commits,
            files: raw.files,
        }))
    }
}
