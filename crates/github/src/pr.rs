//! What happens to an autofix pull request after it is opened: its state and merge commit, the
//! comment that reports the verdict, the label that remembers a rejection, and whether a deployed
//! commit contains the merge.

use serde::{Deserialize, Serialize};

use crate::{GitHub, GitHubError, Page, RawPull, decode_json, split_repo};

/// The label that marks a closed autofix PR as rejected: while it is on a closed PR carrying an
/// incident's branch or marker, no new PR is opened for that incident (for the cooldown).
/// Removing the label, or reopening the PR, lifts it.
pub const REJECTED_LABEL: &str = "autofix:rejected";

/// A pull request with what following it to production needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullDetails {
    /// Pull request number in its repository.
    pub number: u64,
    /// `html_url`, the page a human opens.
    pub url: String,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it was merged.
    pub merged: bool,
    /// The commit the merge produced on the base branch (GitHub fills it once merged).
    pub merge_commit_sha: Option<String>,
    /// The head commit: the one CI runs on.
    pub head_sha: String,
    /// The branch it proposes.
    pub head_branch: String,
    /// Label names, e.g. [`REJECTED_LABEL`].
    pub labels: Vec<String>,
    /// RFC 3339, UTC.
    pub closed_at: Option<String>,
    /// When it was merged, RFC 3339, UTC; `None` while unmerged.
    pub merged_at: Option<String>,
}

impl PullDetails {
    /// Still open.
    pub fn is_open(&self) -> bool {
        self.state == "open"
    }

    /// Closed without merging: a person rejected the fix.
    pub fn closed_unmerged(&self) -> bool {
        self.state == "closed" && !self.merged
    }
}

/// How `head` relates to `base` (`GET /repos/{o}/{r}/compare/{base}...{head}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    /// `identical`, `ahead`, `behind` or `diverged`.
    pub status: String,
    /// Commits `head` has that `base` does not.
    pub ahead_by: u64,
    /// Commits `base` has that `head` does not.
    pub behind_by: u64,
}

impl Compare {
    /// `head` is `base` or a descendant of it: it contains every change of `base`.
    pub fn contains_base(&self) -> bool {
        matches!(self.status.as_str(), "identical" | "ahead")
    }
}

impl GitHub {
    /// One pull request by number; `None` when it (or the repository) does not exist.
    pub async fn pull(&self, repo: &str, number: u64) -> Result<Option<PullDetails>, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        let number_text = number.to_string();
        let url = self.endpoint(&["repos", owner, name, "pulls", &number_text]);
        let body = match self.get(url, &format!("{repo}#{number}")).await {
            Ok(body) => body,
            Err(GitHubError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let raw: RawPull = decode_json("pull request", &body)?;
        Ok(Some(raw.into()))
    }

    /// The newest closed, unmerged PR whose head is `branch` or whose body contains `marker`, that
    /// carries [`REJECTED_LABEL`] and was closed at or after `since` (RFC 3339 UTC, e.g. now minus
    /// the cooldown).
    ///
    /// Closed PRs are read newest-updated first and the search stops at the first page older than
    /// `since`, so a repository with thousands of closed PRs costs one or two requests.
    pub async fn find_rejected_pr(
        &self,
        repo: &str,
        branch: &str,
        marker: &str,
        since: &str,
    ) -> Result<Option<PullDetails>, GitHubError> {
        let url = self.pulls_url(
            repo,
            branch,
            &[
                ("state", "closed"),
                ("sort", "updated"),
                ("direction", "desc"),
            ],
        )?;
        let mut found = None;
        self.each_page(url, repo, "pull request list", |pulls: Vec<RawPull>| {
            for p in pulls {
                // Sorted by update time: once one is older than `since`, every later one is too
                // (a PR closed within the cooldown was updated within it).
                if p.updated_at.as_deref().is_some_and(|u| u < since) {
                    return Page::Stop;
                }
                let ours =
                    p.head.r#ref == branch || p.body.as_deref().is_some_and(|b| b.contains(marker));
                let labelled = p.labels.iter().any(|l| l.name == REJECTED_LABEL);
                let closed_in_time = p.closed_at.as_deref().is_some_and(|c| c >= since);
                if ours && labelled && closed_in_time && p.merged_at.is_none() {
                    found = Some(p.into());
                    return Page::Stop;
                }
            }
            Page::Next
        })
        .await?;
        Ok(found)
    }

    /// Posts a comment on a pull request (as an issue comment); returns the comment's URL.
    pub async fn comment(
        &self,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<String, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        let number_text = number.to_string();
        let url = self.endpoint(&["repos", owner, name, "issues", &number_text, "comments"]);
        let answer = self
            .post(
                url,
                &serde_json::json!({ "body": body }),
                &format!("{repo}#{number}"),
            )
            .await?;
        #[derive(Deserialize)]
        struct Created {
            html_url: String,
        }
        let created: Created = decode_json("comment", &answer)?;
        Ok(created.html_url)
    }

    /// Adds a label to a pull request (GitHub creates the label if the repository lacks it).
    pub async fn add_label(&self, repo: &str, number: u64, label: &str) -> Result<(), GitHubError> {
        let (owner, name) = split_repo(repo)?;
        let number_text = number.to_string();
        let url = self.endpoint(&["repos", owner, name, "issues", &number_text, "labels"]);
        self.post(
            url,
            &serde_json::json!({ "labels": [label] }),
            &format!("{repo}#{number}"),
        )
        .await?;
        Ok(())
    }

    /// Removes a label from a pull request; a label that is not there is not an error.
    pub async fn remove_label(
        &self,
        repo: &str,
        number: u64,
        label: &str,
    ) -> Result<(), GitHubError> {
        let (owner, name) = split_repo(repo)?;
        let number_text = number.to_string();
        let url = self.endpoint(&[
            "repos",
            owner,
            name,
            "issues",
            &number_text,
            "labels",
            label,
        ]);
        match self.delete(url, &format!("{repo}#{number}")).await {
            Ok(_) | Err(GitHubError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// How commit `head` relates to commit `base`; `None` when either is unknown to GitHub.
    pub async fn compare(
        &self,
        repo: &str,
        base: &str,
        head: &str,
    ) -> Result<Option<Compare>, GitHubError> {
        match self.comparison(repo, base, head, &[]).await? {
            Some(body) => decode_json("comparison", &body).map(Some),
            None => Ok(None),
        }
    }

    /// The raw body of `GET /repos/{o}/{r}/compare/{base}...{head}` with `query`; `None` when
    /// either commit is unknown to GitHub.
    pub(crate) async fn comparison(
        &self,
        repo: &str,
        base: &str,
        head: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Vec<u8>>, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        check_sha("base commit", base)?;
        check_sha("head commit", head)?;
        let range = format!("{base}...{head}");
        let mut url = self.endpoint(&["repos", owner, name, "compare", &range]);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        match self.get(url, &format!("{repo}:{range}")).await {
            Ok(body) => Ok(Some(body)),
            Err(GitHubError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Commit SHAs only (7–40 hex digits): they go into a URL path.
pub(crate) fn check_sha(what: &'static str, sha: &str) -> Result<(), GitHubError> {
    if (7..=40).contains(&sha.len()) && sha.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(GitHubError::InvalidArgument {
            what,
            value: sha.chars().take(60).collect(),
            reason: "expected a commit SHA (7-40 hex digits)",
        })
    }
}

impl From<RawPull> for PullDetails {
    fn from(p: RawPull) -> Self {
        let merged = p.merged_at.is_some();
        Self {
            number: p.number,
            url: p.html_url,
            state: p.state,
            merged,
            // Before a merge GitHub fills this with a test-merge commit: only a real merge counts.
            merge_commit_sha: p.merge_commit_sha.filter(|_| merged),
            head_sha: p.head.sha,
            head_branch: p.head.r#ref,
            labels: p.labels.into_iter().map(|l| l.name).collect(),
            closed_at: p.closed_at,
            merged_at: p.merged_at,
        }
    }
}

/// `unix` seconds as GitHub writes times (`2026-11-23T08:00:00Z`), so they compare as strings.
pub fn rfc3339_utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm), proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RawHead;

    #[test]
    fn times_are_written_as_github_writes_them() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_795_422_000), "2026-11-23T08:20:00Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn only_a_real_merge_has_a_merge_commit_and_shas_are_checked() {
        let raw = |merged_at: Option<&str>| RawPull {
            number: 3,
            html_url: "https://github.com/acme/api/pull/3".into(),
            state: "closed".into(),
            merged_at: merged_at.map(Into::into),
            closed_at: Some("2026-11-23T08:00:00Z".into()),
            updated_at: None,
            merge_commit_sha: Some("abcdef1".into()),
            title: String::new(),
            body: None,
            labels: vec![],
            head: RawHead {
                r#ref: "autofix/af-1".into(),
                sha: "1234567".into(),
            },
        };
        let closed: PullDetails = raw(None).into();
        assert!(closed.closed_unmerged());
        assert_eq!(closed.merge_commit_sha, None);
        let merged: PullDetails = raw(Some("2026-11-23T08:00:00Z")).into();
        assert_eq!(merged.merge_commit_sha.as_deref(), Some("abcdef1"));
        assert!(check_sha("commit", "abc/../x").is_err());
        assert!(check_sha("commit", "abc12").is_err());
        assert!(check_sha("commit", "ABCDEF0123").is_ok());
        for (status, contains) in [
            ("identical", true),
            ("ahead", true),
            ("behind", false),
            ("diverged", false),
        ] {
            let c = Compare {
                status: status.into(),
                ahead_by: 0,
                behind_by: 0,
            };
            assert_eq!(c.contains_base(), contains, "{status}");
        }
    }
}
