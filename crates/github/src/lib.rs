//! A small GitHub REST client over the service's shared `reqwest::Client`.
//!
//! Reads: a file's contents (dependency manifests, to infer upstream providers), the open autofix
//! pull request of an incident (so one incident never gets two PRs), a pull request by head branch
//! or number (to learn what happened to the PR a run opened), the CI checks of a commit, the
//! rejected autofix PR of an incident, whether a deployed commit contains a merge, and the diff of
//! the deployment suspected of starting an incident. Writes: a comment with the verdict and the
//! rejection label on a pull request.
//!
//! The token is optional: without it, public repositories can still be read, with GitHub's
//! anonymous rate limit. It never appears in `Debug` output, errors or logs.

#![warn(missing_docs)]

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};
use serde::{Deserialize, Serialize};
use url::Url;

/// `GITHUB_API_URL` default.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

const API_VERSION: &str = "2022-11-28";
const USER_AGENT_VALUE: &str = concat!("autofix/", env!("CARGO_PKG_VERSION"));
const PER_PAGE: usize = 100;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// GitHub's messages can be long HTML pages when a proxy answers; keep errors readable.
const MAX_ERROR_MESSAGE_CHARS: usize = 300;

/// Everything that can go wrong in a GitHub call. Messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// HTTP 401, or a 403 that is not a rate limit: the token is missing, invalid or lacks access.
    #[error(
        "GitHub refused the request (HTTP {status}): check that GITHUB_TOKEN is valid and can read this repository"
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
    },
    /// HTTP 404; GitHub also answers it for private repositories the token cannot see.
    #[error("not found on GitHub or not visible with this token: {what}")]
    NotFound {
        /// The resource asked for: the repository, `owner/name:path` or `owner/name#number`.
        what: String,
    },
    /// HTTP 429, or a 403 that is a primary or secondary rate limit: retriable.
    #[error("GitHub rate limit reached{}", retry_hint(.retry_after))]
    RateLimited {
        /// From `Retry-After`, else until `x-ratelimit-reset`; `None` when GitHub gave neither.
        retry_after: Option<Duration>,
    },
    /// The request could not be sent or its answer not read (connect, TLS, timeout): retriable.
    #[error("GitHub request failed: {0}")]
    Http(#[source] reqwest::Error),
    /// Any other non-2xx status; retriable when it is a 5xx.
    #[error("GitHub answered HTTP {status}: {message}")]
    Status {
        /// The status code.
        status: u16,
        /// GitHub's `message` (or the start of the body), at most 300 characters.
        message: String,
    },
    /// A 2xx answer that is not the JSON we expect.
    #[error("unreadable GitHub response ({what}): {detail}")]
    Decode {
        /// Which answer, e.g. `contents`, `check runs`.
        what: &'static str,
        /// The JSON decoder's message.
        detail: String,
    },
    /// We refused to send a request with this argument (a branch name git would reject, a
    /// token that is not a valid header value, …).
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        /// What the argument is, e.g. `branch`.
        what: &'static str,
        /// The value given (redacted for the token).
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", retry in {}s", d.as_secs()),
        None => String::new(),
    }
}

impl client_error::ClientError for GitHubError {
    fn error_name(&self) -> &'static str {
        "GitHubError"
    }

    /// Worth retrying later: rate limits, transport failures and GitHub's own 5xx.
    fn is_retriable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Http(_) => true,
            Self::Status { status, .. } => *status >= 500,
            Self::Unauthorized { .. }
            | Self::NotFound { .. }
            | Self::Decode { .. }
            | Self::InvalidArgument { .. } => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// What a page visitor of [`GitHub::each_page`] wants next.
pub(crate) enum Page {
    Next,
    Stop,
}

/// A pull request as Autofix needs to see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Pull request number in its repository.
    pub number: u64,
    /// `html_url`, the page a human opens.
    pub url: String,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it was merged (a closed, unmerged PR was rejected).
    pub merged: bool,
    /// The branch it proposes (`head.ref`), e.g. `autofix/af-…`.
    pub head_branch: String,
    /// Its title.
    pub title: String,
}

/// A client for the GitHub REST API (repository contents, pull requests, CI status, issues),
/// with one timeout per request and errors that never contain the token. Cheap to clone.
#[derive(Clone)]
pub struct GitHub {
    http: reqwest::Client,
    api_url: Url,
    token: Option<String>,
    max_pages: usize,
    timeout: Duration,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.api_url.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_pages", &self.max_pages)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl GitHub {
    /// `api_url` is `GITHUB_API_URL` (GitHub Enterprise: `https://host/api/v3`). An empty token
    /// counts as no token.
    pub fn new(http: reqwest::Client, api_url: Url, token: Option<String>) -> Self {
        Self {
            http,
            api_url,
            token: token.filter(|t| !t.trim().is_empty()),
            max_pages: 10,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Deadline for each request, body included (default 15 s): the shared client may have none,
    /// and a hung GitHub call must not hold a pipeline step forever.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many pages of 100 open PRs [`Self::find_open_autofix_pr`] reads at most (default 10).
    pub fn with_max_pages(mut self, pages: usize) -> Self {
        self.max_pages = pages.max(1);
        self
    }

    /// A non-empty token was given: without one, private repositories are invisible and the
    /// unauthenticated rate limit (60 requests an hour) applies.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The REST API base, e.g. `https://api.github.com`.
    pub fn api_url(&self) -> &Url {
        &self.api_url
    }

    /// A file's text through the contents API; `None` when the repository, the file or the
    /// branch does not exist (or is invisible to the token), or when the path is a directory.
    pub async fn file(&self, repo: &str, path: &str) -> Result<Option<String>, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        let path_segments = split_file_path(path)?;
        let mut segments = vec!["repos", owner, name, "contents"];
        segments.extend(path_segments.iter().copied());
        let url = self.endpoint(&segments);
        let body = match self.get(url, &format!("{repo}:{path}")).await {
            Ok(body) => body,
            Err(GitHubError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let value: serde_json::Value = decode_json("contents", &body)?;
        // A directory answers with an array of entries; that is "no such file" for our callers.
        if value.is_array() {
            return Ok(None);
        }
        let content: Contents = serde_json::from_value(value).map_err(|e| GitHubError::Decode {
            what: "contents",
            detail: e.to_string(),
        })?;
        if content.kind != "file" {
            return Ok(None);
        }
        decode_contents(&content).map(Some)
    }

    /// The open pull request whose head is `branch` or whose body contains `marker` (so a PR a
    /// human renamed the branch of still counts). Autofix passes an incident's branch and marker.
    pub async fn find_open_pr(
        &self,
        repo: &str,
        branch: &str,
        marker: &str,
    ) -> Result<Option<PullRequest>, GitHubError> {
        let url = self.pulls_url(repo, branch, &[("state", "open")])?;
        let mut found = None;
        self.each_page(url, repo, "pull request list", |pulls: Vec<RawPull>| {
            found = pulls.into_iter().find(|p| {
                p.head.r#ref == branch || p.body.as_deref().is_some_and(|b| b.contains(marker))
            });
            if found.is_some() {
                Page::Stop
            } else {
                Page::Next
            }
        })
        .await?;
        Ok(found.map(PullRequest::from))
    }

    /// `GET /repos/{repo}/pulls` with `query` and a full page size, for a search about `branch`
    /// (checked first: it came from an event or a config).
    pub(crate) fn pulls_url(
        &self,
        repo: &str,
        branch: &str,
        query: &[(&str, &str)],
    ) -> Result<Url, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        check_branch(branch)?;
        let mut url = self.endpoint(&["repos", owner, name, "pulls"]);
        url.query_pairs_mut()
            .extend_pairs(query)
            .append_pair("per_page", &PER_PAGE.to_string());
        Ok(url)
    }

    /// Reads a list endpoint page by page (`page=1..`; `url` sets `per_page` to [`PER_PAGE`]),
    /// handing each decoded page to `visit`, until `visit` stops, a page comes back short, or the
    /// client's page limit is reached (then the result is partial, which is logged). A 404 (no
    /// repository, or no access) reads as an empty list. The one pagination loop of this client.
    pub(crate) async fn each_page<T: serde::de::DeserializeOwned>(
        &self,
        url: Url,
        repo: &str,
        what: &'static str,
        mut visit: impl FnMut(Vec<T>) -> Page,
    ) -> Result<(), GitHubError> {
        for page in 1..=self.max_pages {
            let mut url = url.clone();
            url.query_pairs_mut().append_pair("page", &page.to_string());
            let body = match self.get(url, repo).await {
                Ok(body) => body,
                Err(GitHubError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e),
            };
            let items: Vec<T> = decode_json(what, &body)?;
            let full_page = items.len() >= PER_PAGE;
            if matches!(visit(items), Page::Stop) || !full_page {
                return Ok(());
            }
        }
        tracing::warn!(
            repo,
            what,
            pages = self.max_pages,
            "more items than the page limit; the search was partial"
        );
        Ok(())
    }

    /// The PR (any state) whose head is `branch` in `repo` itself; an open one wins over closed
    /// ones, then the newest.
    pub async fn find_pr_by_branch(
        &self,
        repo: &str,
        branch: &str,
    ) -> Result<Option<PullRequest>, GitHubError> {
        let (owner, _) = split_repo(repo)?;
        let head = format!("{owner}:{branch}");
        let url = self.pulls_url(
            repo,
            branch,
            &[
                ("state", "all"),
                ("head", &head),
                ("sort", "created"),
                ("direction", "desc"),
            ],
        )?;
        let mut pulls: Vec<PullRequest> = self
            .pulls(url, repo)
            .await?
            .into_iter()
            // The `head` filter is GitHub's; checking again costs nothing and keeps a proxy that
            // ignores the filter from handing back an unrelated PR.
            .filter(|p| p.head.r#ref == branch)
            .map(PullRequest::from)
            .collect();
        if let Some(i) = pulls.iter().position(|p| p.state == "open") {
            return Ok(Some(pulls.swap_remove(i)));
        }
        Ok(pulls.into_iter().next())
    }

    /// `GET /user`: the login the token belongs to (proves the token is valid).
    pub async fn user(&self) -> Result<String, GitHubError> {
        #[derive(serde::Deserialize)]
        struct User {
            login: String,
        }
        let body = self
            .get(self.endpoint(&["user"]), "the token's user")
            .await?;
        let user: User = decode_json("user", &body)?;
        Ok(user.login)
    }

    /// `GET /repos/{owner}/{name}`: whether the token may push to the repository (the fix
    /// branch). A repository the token cannot see is `NotFound`.
    pub async fn can_push(&self, repo: &str) -> Result<bool, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Repo {
            #[serde(default)]
            permissions: Option<Permissions>,
        }
        #[derive(serde::Deserialize)]
        struct Permissions {
            #[serde(default)]
            push: bool,
        }
        let (owner, name) = split_repo(repo)?;
        let body = self
            .get(self.endpoint(&["repos", owner, name]), repo)
            .await?;
        let info: Repo = decode_json("repository", &body)?;
        Ok(info.permissions.is_some_and(|p| p.push))
    }

    async fn pulls(&self, url: Url, repo: &str) -> Result<Vec<RawPull>, GitHubError> {
        let body = match self.get(url, repo).await {
            Ok(body) => body,
            // No repository (or no access): nothing to find, the caller decides what that means.
            Err(GitHubError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        decode_json("pull request list", &body)
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.api_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn get(&self, url: Url, what: &str) -> Result<Vec<u8>, GitHubError> {
        self.send(reqwest::Method::GET, url, None, what).await
    }

    async fn post(
        &self,
        url: Url,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<Vec<u8>, GitHubError> {
        self.send(reqwest::Method::POST, url, Some(body), what)
            .await
    }

    async fn delete(&self, url: Url, what: &str) -> Result<Vec<u8>, GitHubError> {
        self.send(reqwest::Method::DELETE, url, None, what).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<Vec<u8>, GitHubError> {
        let mut req = self
            .http
            .request(method, url)
            .timeout(self.timeout)
            .header(ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION)
            .header(USER_AGENT, USER_AGENT_VALUE);
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                GitHubError::InvalidArgument {
                    what: "GITHUB_TOKEN",
                    value: "<redacted>".into(),
                    reason: "contains characters not allowed in an HTTP header",
                }
            })?;
            value.set_sensitive(true);
            req = req.header(AUTHORIZATION, value);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = client_error::outbound("github", what, req.send(), |r| r.status().as_u16())
            .await
            .map_err(|e| GitHubError::Http(e.without_url()))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| GitHubError::Http(e.without_url()))?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(status_error(
            status,
            &headers,
            &body,
            what,
            SystemTime::now(),
        ))
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    body: &[u8],
) -> Result<T, GitHubError> {
    serde_json::from_slice(body).map_err(|e| GitHubError::Decode {
        what,
        detail: e.to_string(),
    })
}

fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
    now: SystemTime,
) -> GitHubError {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let out_of_quota = header("x-ratelimit-remaining") == Some("0");
    let retry_after = header(RETRY_AFTER.as_str()).and_then(client_error::parse_retry_after);
    // Secondary rate limits can come as a bare 403 whose message is the only hint.
    let says_rate_limit = status == StatusCode::FORBIDDEN
        && error_message(body)
            .to_ascii_lowercase()
            .contains("rate limit");
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::FORBIDDEN
            if status == StatusCode::TOO_MANY_REQUESTS
                || out_of_quota
                || retry_after.is_some()
                || says_rate_limit =>
        {
            let retry_after = retry_after.or_else(|| {
                let reset = header("x-ratelimit-reset")?.parse::<u64>().ok()?;
                let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
                Some(Duration::from_secs(reset.saturating_sub(now)))
            });
            GitHubError::RateLimited { retry_after }
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => GitHubError::Unauthorized {
            status: status.as_u16(),
        },
        StatusCode::NOT_FOUND => GitHubError::NotFound {
            what: what.to_owned(),
        },
        _ => GitHubError::Status {
            status: status.as_u16(),
            message: error_message(body),
        },
    }
}

fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Message {
        message: String,
    }
    let text = match serde_json::from_slice::<Message>(body) {
        Ok(m) => m.message,
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    // Redacted before the cut, so a token straddling it cannot leak its prefix.
    let text = redact::redact_string(text);
    match text.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[derive(Deserialize)]
struct Contents {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

fn decode_contents(c: &Contents) -> Result<String, GitHubError> {
    let err = |detail: String| GitHubError::Decode {
        what: "file contents",
        detail,
    };
    match c.encoding.as_deref() {
        Some("base64") => {}
        // Files over 1 MB come back with `encoding: none` and no content; manifests never are.
        other => return Err(err(format!("unsupported encoding {other:?}"))),
    }
    // GitHub wraps the base64 text at 60 columns.
    let packed: String = c
        .content
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(|ch| !ch.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .map_err(|e| err(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| err(e.to_string()))
}

/// A pull request as GitHub's list and detail endpoints both return it (the fields we read).
#[derive(Deserialize)]
pub(crate) struct RawPull {
    pub(crate) number: u64,
    pub(crate) html_url: String,
    pub(crate) state: String,
    #[serde(default)]
    pub(crate) merged_at: Option<String>,
    #[serde(default)]
    pub(crate) closed_at: Option<String>,
    #[serde(default)]
    pub(crate) updated_at: Option<String>,
    #[serde(default)]
    pub(crate) merge_commit_sha: Option<String>,
    #[serde(default)]
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) body: Option<String>,
    #[serde(default)]
    pub(crate) labels: Vec<RawLabel>,
    pub(crate) head: RawHead,
}

#[derive(Deserialize)]
pub(crate) struct RawHead {
    pub(crate) r#ref: String,
    #[serde(default)]
    pub(crate) sha: String,
}

#[derive(Deserialize)]
pub(crate) struct RawLabel {
    pub(crate) name: String,
}

impl From<RawPull> for PullRequest {
    fn from(p: RawPull) -> Self {
        Self {
            number: p.number,
            url: p.html_url,
            state: p.state,
            merged: p.merged_at.is_some(),
            head_branch: p.head.r#ref,
            title: p.title,
        }
    }
}

/// `owner/name` with GitHub's charset, checked before it goes into a URL path.
pub fn split_repo(repo: &str) -> Result<(&str, &str), GitHubError> {
    let invalid = |reason| GitHubError::InvalidArgument {
        what: "repository",
        value: repo.chars().take(120).collect(),
        reason,
    };
    let (owner, name) = repo
        .split_once('/')
        .ok_or_else(|| invalid("expected owner/name"))?;
    let owner_ok = (1..=39).contains(&owner.len())
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !owner.starts_with('-');
    if !owner_ok {
        return Err(invalid("owner must be 1-39 letters, digits or '-'"));
    }
    let name_ok = (1..=100).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name != "."
        && name != "..";
    if !name_ok {
        return Err(invalid(
            "name must be 1-100 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok((owner, name))
}

fn split_file_path(path: &str) -> Result<Vec<&str>, GitHubError> {
    let invalid = |reason| GitHubError::InvalidArgument {
        what: "file path",
        value: path.chars().take(200).collect(),
        reason,
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(invalid("empty path segment"));
    }
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(invalid("relative segments are not allowed"));
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Err(invalid("control characters or backslashes"));
    }
    Ok(segments)
}

fn check_branch(branch: &str) -> Result<(), GitHubError> {
    let ok = (1..=255).contains(&branch.len())
        && !branch.contains("..")
        && !branch.starts_with('/')
        && !branch.ends_with('/')
        && branch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '+' | '@'));
    if ok {
        Ok(())
    } else {
        Err(GitHubError::InvalidArgument {
            what: "branch",
            value: branch.chars().take(120).collect(),
            reason: "not a plain git branch name",
        })
    }
}

mod ci;
mod diff;
mod issues;
mod pr;

pub use ci::{CheckKind, CheckReport, CheckState, FailingCheck, MAX_EXCERPT_CHARS};
pub use diff::{CommitDiff, DiffFile};
pub use issues::{INCIDENT_LABEL, Issue, IssueChange};
pub use pr::{Compare, PullDetails, REJECTED_LABEL, rfc3339_utc};

#[cfg(test)]
mod tests;
