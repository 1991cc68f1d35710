//! The CI state of a commit: GitHub check runs (Actions and other apps) and commit statuses
//! (older integrations), reduced to one verdict plus what failed and why.

use serde::{Deserialize, Serialize};

use crate::pr::check_sha;
use crate::{GitHub, GitHubError, PER_PAGE, decode_json, split_repo};

/// Characters of output kept per failing check (title, summary, text and annotations together):
/// enough for a compiler error or a failing assertion, small enough for a step output and a prompt.
pub const MAX_EXCERPT_CHARS: usize = 4_000;
/// Failing check runs whose annotations are fetched (one request each).
const MAX_ANNOTATED_RUNS: usize = 3;
/// Annotations kept per check run.
const MAX_ANNOTATIONS: usize = 20;

/// The combined verdict over every check of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    /// No check run and no commit status exists for the commit.
    NoChecks,
    /// At least one check has not finished.
    Pending,
    /// Every check finished and none failed.
    Success,
    /// Every check finished and at least one failed.
    Failure,
}

/// Where a check's result comes from: GitHub has two systems and a commit can have both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// A check run (`/check-runs`, e.g. a GitHub Actions job).
    Run,
    /// A commit status (`/status`, e.g. an external CI).
    Status,
}

/// One failed check with the raw (unsanitised, capped) text of its output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingCheck {
    /// The check run's name or the status's context, e.g. `cargo test`.
    pub name: String,
    /// Which of the two systems reported it.
    pub kind: CheckKind,
    /// `failure`, `timed_out`, `cancelled`, … for runs; `failure` / `error` for statuses.
    pub conclusion: String,
    /// The page with the check's log, when GitHub gave one.
    pub details_url: Option<String>,
    /// Output title, summary, text and annotations (`path:line: message`), capped.
    pub excerpt: String,
}

/// What CI says about one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The commit the checks ran on.
    pub sha: String,
    /// Pending if anything is still running, else failure if anything failed.
    pub state: CheckState,
    /// Checks seen (runs + statuses).
    pub total: usize,
    /// Names of checks still queued or running.
    pub pending: Vec<String>,
    /// Checks that finished with a failing conclusion or state.
    pub failing: Vec<FailingCheck>,
}

/// A check run as the API returns it (the fields Autofix reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct CheckRun {
    pub id: u64,
    pub name: String,
    /// `queued`, `in_progress`, `completed`, `waiting`, `requested`, `pending`.
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub details_url: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub output: CheckOutput,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct CheckOutput {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub annotations_count: u64,
}

/// One commit status (latest per context, as the combined status endpoint returns them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct CommitStatus {
    pub context: String,
    /// `pending`, `success`, `failure` or `error`.
    pub state: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub target_url: Option<String>,
}

/// A check run annotation (`/check-runs/{id}/annotations`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Annotation {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub start_line: Option<u64>,
    #[serde(default)]
    pub annotation_level: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: String,
}

/// Conclusions that do not fail a commit (GitHub's own rule for required checks).
fn passes(conclusion: &str) -> bool {
    matches!(conclusion, "success" | "neutral" | "skipped")
}

/// Reduces check runs (with the annotations fetched for some of them) and commit statuses to one
/// report. Pending wins over failure, so the follow-up prompt sees every failure at once.
pub(crate) fn summarize_checks(
    sha: &str,
    runs: &[CheckRun],
    annotations: &[(u64, Vec<Annotation>)],
    statuses: &[CommitStatus],
) -> CheckReport {
    let mut pending = Vec::new();
    let mut failing = Vec::new();
    for run in runs {
        match (run.status.as_str(), run.conclusion.as_deref()) {
            ("completed", Some(c)) if passes(c) => {}
            ("completed", c) => {
                let notes = annotations
                    .iter()
                    .find(|(id, _)| *id == run.id)
                    .map(|(_, a)| a.as_slice())
                    .unwrap_or_default();
                failing.push(FailingCheck {
                    name: run.name.clone(),
                    kind: CheckKind::Run,
                    conclusion: c.unwrap_or("failure").to_owned(),
                    details_url: run.html_url.clone().or_else(|| run.details_url.clone()),
                    excerpt: run_excerpt(&run.output, notes),
                });
            }
            _ => pending.push(run.name.clone()),
        }
    }
    for status in statuses {
        match status.state.as_str() {
            "success" => {}
            "pending" => pending.push(status.context.clone()),
            other => failing.push(FailingCheck {
                name: status.context.clone(),
                kind: CheckKind::Status,
                conclusion: other.to_owned(),
                details_url: status.target_url.clone(),
                excerpt: cap(status.description.clone().unwrap_or_default()),
            }),
        }
    }
    let total = runs.len() + statuses.len();
    let state = if total == 0 {
        CheckState::NoChecks
    } else if !pending.is_empty() {
        CheckState::Pending
    } else if !failing.is_empty() {
        CheckState::Failure
    } else {
        CheckState::Success
    };
    CheckReport {
        sha: sha.to_owned(),
        state,
        total,
        pending,
        failing,
    }
}

fn run_excerpt(output: &CheckOutput, annotations: &[Annotation]) -> String {
    let mut parts: Vec<String> = [&output.title, &output.summary, &output.text]
        .into_iter()
        .flatten()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    for a in annotations.iter().take(MAX_ANNOTATIONS) {
        let at = match a.start_line {
            Some(line) => format!("{}:{line}", a.path),
            None => a.path.clone(),
        };
        let level = a.annotation_level.as_deref().unwrap_or("failure");
        let title = a
            .title
            .as_deref()
            .map(|t| format!("{t}: "))
            .unwrap_or_default();
        parts.push(format!("{at}: {level}: {title}{}", a.message.trim()));
    }
    cap(parts.join("\n"))
}

fn cap(text: String) -> String {
    match text.char_indices().nth(MAX_EXCERPT_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[derive(Deserialize)]
struct RawCheckRuns {
    #[serde(default)]
    check_runs: Vec<CheckRun>,
}

#[derive(Deserialize)]
struct RawCombinedStatus {
    #[serde(default)]
    statuses: Vec<CommitStatus>,
}

impl GitHub {
    /// The CI state of commit `sha`: one request for check runs, one for commit statuses, and one
    /// per failing check run with annotations (at most three).
    pub async fn checks(&self, repo: &str, sha: &str) -> Result<CheckReport, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        check_sha("commit", sha)?;
        let mut url = self.endpoint(&["repos", owner, name, "commits", sha, "check-runs"]);
        url.query_pairs_mut()
            .append_pair("filter", "latest")
            .append_pair("per_page", &PER_PAGE.to_string());
        let runs: RawCheckRuns = decode_json("check runs", &self.get(url, repo).await?)?;
        let url = self.endpoint(&["repos", owner, name, "commits", sha, "status"]);
        let statuses: RawCombinedStatus =
            decode_json("commit status", &self.get(url, repo).await?)?;
        let mut annotations = Vec::new();
        let failed_with_notes = runs.check_runs.iter().filter(|r| {
            r.status == "completed"
                && !r.conclusion.as_deref().is_some_and(passes)
                && r.output.annotations_count > 0
        });
        for run in failed_with_notes.take(MAX_ANNOTATED_RUNS) {
            let id = run.id.to_string();
            let mut url = self.endpoint(&["repos", owner, name, "check-runs", &id, "annotations"]);
            url.query_pairs_mut()
                .append_pair("per_page", &MAX_ANNOTATIONS.to_string());
            let notes: Vec<Annotation> =
                decode_json("check run annotations", &self.get(url, repo).await?)?;
            annotations.push((run.id, notes));
        }
        Ok(summarize_checks(
            sha,
            &runs.check_runs,
            &annotations,
            &statuses.statuses,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: u64, name: &str, status: &str, conclusion: Option<&str>) -> CheckRun {
        CheckRun {
            id,
            name: name.into(),
            status: status.into(),
            conclusion: conclusion.map(Into::into),
            details_url: None,
            html_url: Some(format!("https://github.com/acme/api/runs/{id}")),
            output: CheckOutput::default(),
        }
    }

    fn status(context: &str, state: &str) -> CommitStatus {
        CommitStatus {
            context: context.into(),
            state: state.into(),
            description: Some(format!("{context} is {state}")),
            target_url: None,
        }
    }

    #[test]
    fn no_checks_pending_success_and_failure() {
        assert_eq!(
            summarize_checks("abc1234", &[], &[], &[]).state,
            CheckState::NoChecks
        );
        let ok = [
            run(1, "test", "completed", Some("success")),
            run(2, "lint", "completed", Some("skipped")),
        ];
        assert_eq!(
            summarize_checks("abc1234", &ok, &[], &[status("ci/ext", "success")]).state,
            CheckState::Success
        );
        // A failure while another check still runs: wait, so the follow-up sees every failure.
        let mixed = [
            run(1, "test", "completed", Some("failure")),
            run(2, "build", "in_progress", None),
        ];
        let r = summarize_checks("abc1234", &mixed, &[], &[]);
        assert_eq!(r.state, CheckState::Pending);
        assert_eq!(r.pending, ["build"]);
        let r = summarize_checks(
            "abc1234",
            &mixed[..1],
            &[],
            &[status("ci/ext", "error"), status("ci/other", "success")],
        );
        assert_eq!(r.state, CheckState::Failure);
        assert_eq!(r.failing.len(), 2);
        assert_eq!(r.failing[1].kind, CheckKind::Status);
        assert_eq!(r.failing[1].excerpt, "ci/ext is error");
        assert_eq!(
            summarize_checks("abc1234", &[], &[], &[status("ci/ext", "pending")]).state,
            CheckState::Pending
        );
    }

    #[test]
    fn failing_runs_carry_their_output_and_annotations_capped() {
        let mut failed = run(7, "test", "completed", Some("timed_out"));
        failed.output = CheckOutput {
            title: Some("2 tests failed".into()),
            summary: Some("x".repeat(MAX_EXCERPT_CHARS * 2)),
            text: None,
            annotations_count: 1,
        };
        let notes = vec![Annotation {
            path: "src/cache.rs".into(),
            start_line: Some(42),
            annotation_level: Some("failure".into()),
            title: None,
            message: "assertion failed".into(),
        }];
        let r = summarize_checks("abc1234", &[failed.clone()], &[(7, notes)], &[]);
        let f = &r.failing[0];
        assert_eq!(f.conclusion, "timed_out");
        assert!(f.excerpt.starts_with("2 tests failed\n"));
        assert_eq!(
            f.excerpt.chars().count(),
            MAX_EXCERPT_CHARS + 1,
            "capped with …"
        );
        failed.output.summary = Some("short".into());
        let notes = vec![Annotation {
            path: "src/cache.rs".into(),
            start_line: Some(42),
            annotation_level: None,
            title: Some("E0308".into()),
            message: "mismatched types".into(),
        }];
        let r = summarize_checks("abc1234", &[failed], &[(7, notes)], &[]);
        assert!(
            r.failing[0]
                .excerpt
                .ends_with("src/cache.rs:42: failure: E0308: mismatched types"),
            "{}",
            r.failing[0].excerpt
        );
    }
}
