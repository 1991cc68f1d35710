//! The GitHub issue Autofix keeps for an incident it cannot fix automatically (`wait`,
//! `investigate`): found again by a marker in its body, updated while the incident lasts, closed
//! when it recovers.

use serde::{Deserialize, Serialize};

use crate::{GitHub, GitHubError, PER_PAGE, decode_json, split_repo};

/// The label on every incident issue Autofix opens; lookups list issues carrying it.
pub const INCIDENT_LABEL: &str = "autofix:incident";

/// An issue as Autofix needs to see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// Issue number in its repository.
    pub number: u64,
    /// `html_url`.
    pub url: String,
    /// `open` or `closed`.
    pub state: String,
    /// Why it was closed: `completed`, `not_planned`, `duplicate`, or `None` while open.
    pub state_reason: Option<String>,
    /// Its title.
    pub title: String,
    /// Its Markdown body, which carries the incident's marker.
    pub body: String,
}

impl Issue {
    /// Still open.
    pub fn is_open(&self) -> bool {
        self.state == "open"
    }

    /// Closed by a person as "not planned": they do not want to hear about it.
    pub fn muted(&self) -> bool {
        self.state == "closed" && self.state_reason.as_deref() == Some("not_planned")
    }
}

/// What [`GitHub::upsert_issue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueChange {
    /// No issue with the marker existed: one was opened.
    Created,
    /// The open issue's title or body was changed.
    Updated,
    /// Closed as completed before (the incident had recovered) and open again now.
    Reopened,
    /// Title and body were already what they would be set to.
    Unchanged,
    /// Closed as not planned by a person: left alone.
    Muted,
}

#[derive(Deserialize)]
struct RawIssue {
    number: u64,
    html_url: String,
    state: String,
    #[serde(default)]
    state_reason: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: Option<String>,
    /// Present on pull requests, which the issues API lists too.
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

impl From<RawIssue> for Issue {
    fn from(i: RawIssue) -> Self {
        Self {
            number: i.number,
            url: i.html_url,
            state: i.state,
            state_reason: i.state_reason,
            title: i.title,
            body: i.body.unwrap_or_default(),
        }
    }
}

impl GitHub {
    /// The issues labelled [`INCIDENT_LABEL`] in `repo` (`state`: `open`, `closed` or `all`),
    /// newest first, pull requests left out; at most the client's page limit.
    pub async fn incident_issues(
        &self,
        repo: &str,
        state: &str,
    ) -> Result<Vec<Issue>, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        if !matches!(state, "open" | "closed" | "all") {
            return Err(GitHubError::InvalidArgument {
                what: "issue state",
                value: state.to_owned(),
                reason: "expected open, closed or all",
            });
        }
        let mut url = self.endpoint(&["repos", owner, name, "issues"]);
        url.query_pairs_mut()
            .append_pair("state", state)
            .append_pair("labels", INCIDENT_LABEL)
            .append_pair("sort", "created")
            .append_pair("direction", "desc")
            .append_pair("per_page", &PER_PAGE.to_string());
        let mut out = Vec::new();
        self.each_page(url, repo, "issue list", |page: Vec<RawIssue>| {
            out.extend(
                page.into_iter()
                    .filter(|i| i.pull_request.is_none())
                    .map(Issue::from),
            );
            crate::Page::Next
        })
        .await?;
        Ok(out)
    }

    /// The incident issue whose body contains `marker` (any state; an open one wins).
    pub async fn find_issue(&self, repo: &str, marker: &str) -> Result<Option<Issue>, GitHubError> {
        let mut found: Vec<Issue> = self
            .incident_issues(repo, "all")
            .await?
            .into_iter()
            .filter(|i| i.body.contains(marker))
            .collect();
        if let Some(i) = found.iter().position(Issue::is_open) {
            return Ok(Some(found.swap_remove(i)));
        }
        Ok(found.into_iter().next())
    }

    /// One issue per `marker`: created when there is none, its title and body brought up to date
    /// when there is (and reopened if it was closed as completed), left alone when a person closed
    /// it as not planned. Safe to retry: a retry finds what the first attempt created.
    pub async fn upsert_issue(
        &self,
        repo: &str,
        marker: &str,
        title: &str,
        body: &str,
    ) -> Result<(Issue, IssueChange), GitHubError> {
        if !body.contains(marker) {
            return Err(GitHubError::InvalidArgument {
                what: "issue body",
                value: marker.to_owned(),
                reason: "must contain its marker, or the issue could never be found again",
            });
        }
        let (owner, name) = split_repo(repo)?;
        let Some(existing) = self.find_issue(repo, marker).await? else {
            let url = self.endpoint(&["repos", owner, name, "issues"]);
            let answer = self
                .post(
                    url,
                    &serde_json::json!({"title": title, "body": body, "labels": [INCIDENT_LABEL]}),
                    repo,
                )
                .await?;
            let created: RawIssue = decode_json("issue", &answer)?;
            return Ok((created.into(), IssueChange::Created));
        };
        if existing.muted() {
            return Ok((existing, IssueChange::Muted));
        }
        let reopen = !existing.is_open();
        if !reopen && existing.title == title && existing.body == body {
            return Ok((existing, IssueChange::Unchanged));
        }
        let mut patch = serde_json::json!({"title": title, "body": body});
        if reopen {
            patch["state"] = "open".into();
        }
        let updated = self.patch_issue(repo, existing.number, &patch).await?;
        let change = if reopen {
            IssueChange::Reopened
        } else {
            IssueChange::Updated
        };
        Ok((updated, change))
    }

    /// Closes an issue as completed.
    pub async fn close_issue(&self, repo: &str, number: u64) -> Result<Issue, GitHubError> {
        self.patch_issue(
            repo,
            number,
            &serde_json::json!({"state": "closed", "state_reason": "completed"}),
        )
        .await
    }

    async fn patch_issue(
        &self,
        repo: &str,
        number: u64,
        patch: &serde_json::Value,
    ) -> Result<Issue, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        let number_text = number.to_string();
        let url = self.endpoint(&["repos", owner, name, "issues", &number_text]);
        let answer = self
            .send(
                reqwest::Method::PATCH,
                url,
                Some(patch),
                &format!("{repo}#{number}"),
            )
            .await?;
        let issue: RawIssue = decode_json("issue", &answer)?;
        Ok(issue.into())
    }
}
