//! A fake of the GitHub REST endpoints Autofix uses: repository contents, pull request lists and
//! details, check runs (with output and annotations) and commit statuses, issue comments and
//! labels, issues (list by label, create, edit, close), and commit comparison over a small commit graph. Files and pull requests are set per
//! repository; changes can be scheduled to happen after a number of reads of one pull request (a
//! merge, a close, a new head commit); every request is recorded (path, method, body, whether it
//! carried the expected token and the API headers) so tests can count and inspect.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use serde_json::{Value, json};

use crate::served::Served;

/// A pull request as the fake stores it.
#[derive(Debug, Clone)]
pub struct FakePull {
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    pub merged: bool,
    pub head: String,
    pub title: String,
    pub body: Option<String>,
    pub head_sha: String,
    pub merge_commit_sha: Option<String>,
    pub labels: Vec<String>,
    /// RFC 3339; also the PR's `updated_at` when later than its creation.
    pub closed_at: Option<String>,
    pub updated_at: String,
}

impl FakePull {
    pub fn open(number: u64, head: &str, body: Option<&str>) -> Self {
        Self {
            number,
            state: "open".into(),
            merged: false,
            head: head.into(),
            title: format!("PR {number}"),
            body: body.map(Into::into),
            head_sha: format!("{:07x}{number:033x}", 0xa11ce),
            merge_commit_sha: None,
            labels: Vec::new(),
            closed_at: None,
            updated_at: github::rfc3339_utc(now()),
        }
    }

    pub fn closed(number: u64, head: &str, merged: bool) -> Self {
        let mut pull = Self::open(number, head, None);
        pull.close(merged.then(|| format!("{:07x}{number:033x}", 0x3e59e)));
        pull
    }

    /// Closes the PR now; with a merge commit it counts as merged.
    pub fn close(&mut self, merge_commit: Option<String>) {
        self.state = "closed".into();
        self.merged = merge_commit.is_some();
        self.merge_commit_sha = merge_commit;
        self.closed_at = Some(github::rfc3339_utc(now()));
        self.updated_at = github::rfc3339_utc(now());
    }

    pub fn reopen(&mut self) {
        self.state = "open".into();
        self.closed_at = None;
        self.updated_at = github::rfc3339_utc(now());
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A check run as the fake serves it for a commit.
#[derive(Debug, Clone)]
pub struct FakeCheckRun {
    pub id: u64,
    pub name: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    /// `(path, line, message)`.
    pub annotations: Vec<(String, u64, String)>,
}

impl FakeCheckRun {
    pub fn completed(id: u64, name: &str, conclusion: &str) -> Self {
        Self {
            id,
            name: name.into(),
            status: "completed".into(),
            conclusion: Some(conclusion.into()),
            title: None,
            summary: None,
            text: None,
            annotations: Vec::new(),
        }
    }

    pub fn in_progress(id: u64, name: &str) -> Self {
        Self {
            status: "in_progress".into(),
            conclusion: None,
            ..Self::completed(id, name, "")
        }
    }

    pub fn output(mut self, title: &str, summary: &str) -> Self {
        self.title = Some(title.into());
        self.summary = Some(summary.into());
        self
    }

    pub fn annotation(mut self, path: &str, line: u64, message: &str) -> Self {
        self.annotations.push((path.into(), line, message.into()));
        self
    }
}

/// A change applied to a pull request after it was read a number of times.
pub type PullChange = Box<dyn FnOnce(&mut FakePull) + Send>;

/// A comment as posted.
#[derive(Debug, Clone)]
pub struct FakeComment {
    pub repo: String,
    pub number: u64,
    pub body: String,
}

/// A fault served instead of the next answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitHubFault {
    /// 403 with `x-ratelimit-remaining: 0` and a reset 60 s ahead.
    RateLimited,
    /// 500 with a JSON message.
    ServerError,
    /// 500 whose message echoes the request's credentials, raw and base64-encoded, the way a
    /// debugging proxy or a misconfigured gateway does.
    EchoCredentials,
    /// 429 with `Retry-After: <seconds>` (GitHub's secondary rate limit).
    TooManyRequests { retry_after_secs: u64 },
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct GitHubRequest {
    /// Path and query.
    pub uri: String,
    pub method: String,
    pub authorized: bool,
    pub has_api_headers: bool,
}

#[derive(Default)]
struct Inner {
    files: BTreeMap<(String, String), String>,
    pulls: BTreeMap<String, Vec<FakePull>>,
    /// Pull requests that appear once a repository's pull list was served this many times.
    pending: Vec<(String, FakePull, usize)>,
    /// Pull list requests served, per repository.
    pull_lists: BTreeMap<String, usize>,
    requests: Vec<GitHubRequest>,
    faults: VecDeque<GitHubFault>,
    /// Repositories `GET /repos/{owner}/{name}` knows, with the token's push permission.
    repos: BTreeMap<String, bool>,
    /// Check runs per commit; each commit's runs can change after it was read N times.
    checks: BTreeMap<String, Vec<FakeCheckRun>>,
    /// `(sha, runs, after reads of that sha's check runs)`.
    pending_checks: Vec<(String, Vec<FakeCheckRun>, usize)>,
    check_reads: BTreeMap<String, usize>,
    /// `(context, state, description)` per commit.
    statuses: BTreeMap<String, Vec<(String, String, String)>>,
    /// `(repo, number, after reads of that PR, change)`.
    scheduled: Vec<(String, u64, usize, PullChange)>,
    pull_reads: BTreeMap<(String, u64), usize>,
    comments: Vec<FakeComment>,
    /// Issues per repository.
    issues: BTreeMap<String, Vec<FakeIssue>>,
    /// Child → parent commits, for `compare`.
    parents: BTreeMap<String, String>,
    /// `(base, head)` → the `files` of their comparison (GitHub's compare schema).
    diffs: BTreeMap<(String, String), Vec<Value>>,
}

#[derive(Clone)]
struct Shared {
    /// `Some`: requests must carry `Authorization: Bearer <token>` or get 401.
    token: Option<String>,
    inner: Arc<Mutex<Inner>>,
}

impl Inner {
    fn pull_mut(&mut self, repo: &str, number: u64) -> Option<&mut FakePull> {
        self.pulls
            .get_mut(repo)
            .and_then(|ps| ps.iter_mut().find(|p| p.number == number))
    }

    fn issue_mut(&mut self, repo: &str, number: u64) -> Option<&mut FakeIssue> {
        self.issues
            .get_mut(repo)
            .and_then(|is| is.iter_mut().find(|i| i.number == number))
    }
}

/// Counts one more read of `key`: the count including this one.
fn count_read<K: Ord>(reads: &mut BTreeMap<K, usize>, key: K) -> usize {
    let n = reads.entry(key).or_default();
    *n += 1;
    *n
}

/// Takes the entries of `list` that are `due`, leaving the others in order.
fn take_due<T>(list: &mut Vec<T>, due: impl Fn(&T) -> bool) -> Vec<T> {
    let (due, later) = std::mem::take(list).into_iter().partition(due);
    *list = later;
    due
}

/// One page of a list endpoint, as GitHub's `page` (from 1) and `per_page` (30 by default, 100
/// at most) ask.
fn page_of<T>(items: Vec<T>, q: &BTreeMap<String, String>) -> impl Iterator<Item = T> {
    let number = |key: &str| q.get(key).and_then(|v| v.parse::<usize>().ok());
    let per_page = number("per_page").unwrap_or(30).clamp(1, 100);
    let page = number("page").unwrap_or(1).max(1);
    items.into_iter().skip((page - 1) * per_page).take(per_page)
}

fn labels_json(labels: &[String]) -> Vec<Value> {
    labels.iter().map(|l| json!({"name": l})).collect()
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake; stops when dropped.
pub struct FakeGitHub {
    server: Served,
    shared: Shared,
}

impl FakeGitHub {
    /// `token`: the only token accepted; `None` accepts anonymous requests.
    pub async fn start(token: Option<&str>) -> Self {
        let shared = Shared {
            token: token.map(Into::into),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/repos/{owner}/{name}/contents/{*path}", get(contents))
            .route("/repos/{owner}/{name}/pulls", get(pulls))
            .route("/repos/{owner}/{name}", get(repository))
            .route("/user", get(user))
            .route("/repos/{owner}/{name}/pulls/{number}", get(pull))
            .route(
                "/repos/{owner}/{name}/commits/{sha}/check-runs",
                get(check_runs),
            )
            .route("/repos/{owner}/{name}/commits/{sha}/status", get(status))
            .route(
                "/repos/{owner}/{name}/check-runs/{id}/annotations",
                get(annotations),
            )
            .route(
                "/repos/{owner}/{name}/issues/{number}/comments",
                post(comment),
            )
            .route(
                "/repos/{owner}/{name}/issues",
                get(list_issues).post(create_issue),
            )
            .route("/repos/{owner}/{name}/issues/{number}", patch(update_issue))
            .route("/repos/{owner}/{name}/issues/{number}/labels", post(label))
            .route(
                "/repos/{owner}/{name}/issues/{number}/labels/{label}",
                delete(unlabel),
            )
            .route("/repos/{owner}/{name}/compare/{range}", get(compare))
            .route_layer(middleware::from_fn_with_state(shared.clone(), admit_layer))
            .with_state(shared.clone());
        Self {
            server: Served::start("fake github", app).await,
            shared,
        }
    }

    /// The API base URL (`GITHUB_API_URL`).
    pub fn url(&self) -> url::Url {
        url::Url::parse(&self.server.url("")).expect("fake url")
    }

    pub fn add_file(&self, repo: &str, path: &str, content: &str) {
        self.shared
            .lock()
            .files
            .insert((repo.into(), path.into()), content.into());
    }

    pub fn add_pull(&self, repo: &str, pull: FakePull) {
        self.shared
            .lock()
            .pulls
            .entry(repo.into())
            .or_default()
            .push(pull);
    }

    /// Like [`Self::add_pull`], but the PR only shows up after `lists` pull list requests for
    /// `repo` were answered: a PR that an agent opens after Autofix checked for existing ones.
    pub fn add_pull_after(&self, repo: &str, pull: FakePull, lists: usize) {
        self.shared.lock().pending.push((repo.into(), pull, lists));
    }

    /// Makes `GET /repos/{repo}` answer, with `push` as the token's push permission.
    pub fn add_repo(&self, repo: &str, push: bool) {
        self.shared.lock().repos.insert(repo.into(), push);
    }

    /// Applies `change` to PR `number` once it was read `reads` times (`GET /pulls/{number}`).
    pub fn after_pull_reads(
        &self,
        repo: &str,
        number: u64,
        reads: usize,
        change: impl FnOnce(&mut FakePull) + Send + 'static,
    ) {
        self.shared
            .lock()
            .scheduled
            .push((repo.into(), number, reads, Box::new(change)));
    }

    /// Changes a PR now (e.g. a person removes a label or reopens it).
    pub fn update_pull(&self, repo: &str, number: u64, change: impl FnOnce(&mut FakePull)) {
        if let Some(p) = self.shared.lock().pull_mut(repo, number) {
            change(p);
        }
    }

    pub fn pull_state(&self, repo: &str, number: u64) -> Option<FakePull> {
        self.shared.lock().pull_mut(repo, number).cloned()
    }

    pub fn set_checks(&self, sha: &str, runs: Vec<FakeCheckRun>) {
        self.shared.lock().checks.insert(sha.into(), runs);
    }

    /// Replaces the check runs of `sha` once they were read `reads` times (CI finishing).
    pub fn set_checks_after(&self, sha: &str, runs: Vec<FakeCheckRun>, reads: usize) {
        self.shared
            .lock()
            .pending_checks
            .push((sha.into(), runs, reads));
    }

    pub fn add_status(&self, sha: &str, context: &str, state: &str, description: &str) {
        self.shared
            .lock()
            .statuses
            .entry(sha.into())
            .or_default()
            .push((context.into(), state.into(), description.into()));
    }

    /// Makes `base...head` a known comparison listing `files` (each `{filename, status, additions,
    /// deletions, changes, patch?}` as GitHub's compare API gives them); `head` becomes a child
    /// of `base`.
    pub fn add_diff(&self, base: &str, head: &str, files: Vec<Value>) {
        let mut inner = self.shared.lock();
        inner.parents.insert(head.into(), base.into());
        inner.diffs.insert((base.into(), head.into()), files);
    }

    /// Records `child`'s parent, so `compare` can tell descendants from strangers.
    pub fn add_commit(&self, child: &str, parent: &str) {
        self.shared
            .lock()
            .parents
            .insert(child.into(), parent.into());
    }

    /// The issues of `repo`, oldest first.
    pub fn issues(&self, repo: &str) -> Vec<FakeIssue> {
        self.shared
            .lock()
            .issues
            .get(repo)
            .cloned()
            .unwrap_or_default()
    }

    /// Changes an issue as a person would (close it as not planned, edit it).
    pub fn update_issue(&self, repo: &str, number: u64, change: impl FnOnce(&mut FakeIssue)) {
        if let Some(i) = self.shared.lock().issue_mut(repo, number) {
            change(i);
        }
    }

    pub fn comments(&self) -> Vec<FakeComment> {
        self.shared.lock().comments.clone()
    }

    pub fn fail_next(&self, fault: GitHubFault) {
        self.shared.lock().faults.push_back(fault);
    }

    pub fn requests(&self) -> Vec<GitHubRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }
}

/// Runs before every route: records the request, then answers with a fault or an auth failure
/// when one applies, else hands it to the route.
async fn admit_layer(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    match admit(
        &shared,
        request.method().as_str(),
        request.uri(),
        request.headers(),
    ) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

fn admit(shared: &Shared, method: &str, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let authorized = match &shared.token {
        Some(t) => header("authorization") == format!("Bearer {t}"),
        None => true,
    };
    let has_api_headers = header("accept") == "application/vnd.github+json"
        && header("x-github-api-version") == "2022-11-28"
        && !header("user-agent").is_empty();
    let mut inner = shared.lock();
    inner.requests.push(GitHubRequest {
        uri: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        method: method.into(),
        authorized,
        has_api_headers,
    });
    if let Some(fault) = inner.faults.pop_front() {
        return Some(match fault {
            GitHubFault::RateLimited => {
                let reset = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() + 60)
                    .unwrap_or_default();
                (
                    StatusCode::FORBIDDEN,
                    [
                        ("x-ratelimit-remaining", "0".to_owned()),
                        ("x-ratelimit-reset", reset.to_string()),
                    ],
                    axum::Json(json!({"message": "API rate limit exceeded"})),
                )
                    .into_response()
            }
            GitHubFault::TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after_secs.to_string())],
                axum::Json(json!({"message": "You have exceeded a secondary rate limit"})),
            )
                .into_response(),
            GitHubFault::ServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"message": "boom"})),
            )
                .into_response(),
            GitHubFault::EchoCredentials => {
                let auth = header("authorization");
                let token = auth.strip_prefix("Bearer ").unwrap_or(&auth).to_owned();
                let basic = base64_wrapped(format!("x-access-token:{token}").as_bytes());
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"message": format!(
                        "upstream failed for request with Authorization: {auth} (basic {}) token={token}",
                        basic.trim()
                    )})),
                )
                    .into_response()
            }
        });
    }
    if !authorized {
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "Bad credentials"})),
            )
                .into_response(),
        );
    }
    None
}

/// The login every accepted token belongs to.
pub const FAKE_LOGIN: &str = "autofix-bot";

async fn user() -> Response {
    axum::Json(json!({"login": FAKE_LOGIN, "id": 1, "type": "User"})).into_response()
}

async fn repository(
    State(shared): State<Shared>,
    Path((owner, name)): Path<(String, String)>,
) -> Response {
    let repo = format!("{owner}/{name}");
    match shared.lock().repos.get(&repo).copied() {
        Some(push) => axum::Json(json!({
            "full_name": repo,
            "private": true,
            "permissions": {"admin": false, "maintain": false, "push": push, "triage": push, "pull": true},
        }))
        .into_response(),
        None => not_found(),
    }
}

async fn contents(
    State(shared): State<Shared>,
    Path((owner, name, path)): Path<(String, String, String)>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let file = shared.lock().files.get(&(repo, path.clone())).cloned();
    match file {
        Some(text) => axum::Json(json!({
            "type": "file",
            "encoding": "base64",
            "name": path.rsplit('/').next().unwrap_or(&path),
            "path": path,
            "content": base64_wrapped(text.as_bytes()),
        }))
        .into_response(),
        None => not_found(),
    }
}

async fn pulls(
    State(shared): State<Shared>,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let state = q
        .get("state")
        .map(String::as_str)
        .unwrap_or("open")
        .to_owned();
    let head = q.get("head").cloned();
    let visible = {
        let mut inner = shared.lock();
        let served = inner.pull_lists.get(&repo).copied().unwrap_or(0);
        let due = take_due(&mut inner.pending, |(r, _, after)| {
            *r == repo && served >= *after
        });
        for (r, pull, _) in due {
            inner.pulls.entry(r).or_default().push(pull);
        }
        *inner.pull_lists.entry(repo.clone()).or_default() += 1;
        inner.pulls.get(&repo).cloned().unwrap_or_default()
    };
    let mut list: Vec<FakePull> = visible
        .into_iter()
        .filter(|p| state == "all" || p.state == state)
        .filter(|p| {
            head.as_ref()
                .is_none_or(|h| *h == format!("{owner}:{}", p.head))
        })
        .collect();
    // GitHub's default order: newest first.
    list.sort_by_key(|p| std::cmp::Reverse(p.number));
    let items: Vec<Value> = page_of(list, &q)
        .map(|p| pull_json(&repo, &owner, &p))
        .collect();
    axum::Json(items).into_response()
}

fn pull_json(repo: &str, owner: &str, p: &FakePull) -> Value {
    json!({
        "number": p.number,
        "html_url": format!("https://github.com/{repo}/pull/{}", p.number),
        "state": p.state,
        "merged": p.merged,
        "merged_at": if p.merged { json!(p.closed_at) } else { Value::Null },
        "closed_at": p.closed_at,
        "updated_at": p.updated_at,
        "merge_commit_sha": p.merge_commit_sha,
        "title": p.title,
        "body": p.body,
        "labels": labels_json(&p.labels),
        "head": {"ref": p.head, "sha": p.head_sha, "label": format!("{owner}:{}", p.head)},
    })
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"message": "Not Found"})),
    )
        .into_response()
}

async fn pull(
    State(shared): State<Shared>,
    Path((owner, name, number)): Path<(String, String, u64)>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let mut inner = shared.lock();
    let reads = count_read(&mut inner.pull_reads, (repo.clone(), number));
    let due = take_due(&mut inner.scheduled, |(r, n, after, _)| {
        *r == repo && *n == number && reads > *after
    });
    let Some(p) = inner.pull_mut(&repo, number) else {
        return not_found();
    };
    for (_, _, _, change) in due {
        change(p);
    }
    axum::Json(pull_json(&repo, &owner, p)).into_response()
}

async fn check_runs(
    State(shared): State<Shared>,
    Path((_owner, _name, sha)): Path<(String, String, String)>,
) -> Response {
    let mut inner = shared.lock();
    let reads = count_read(&mut inner.check_reads, sha.clone());
    let due = take_due(&mut inner.pending_checks, |(s, _, after)| {
        *s == sha && reads > *after
    });
    for (s, runs, _) in due {
        inner.checks.insert(s, runs);
    }
    let runs: Vec<Value> = inner
        .checks
        .get(&sha)
        .map(|runs| {
            runs.iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "name": r.name,
                        "head_sha": sha,
                        "status": r.status,
                        "conclusion": r.conclusion,
                        "html_url": format!("https://github.com/acme/checks/runs/{}", r.id),
                        "details_url": format!("https://ci.example/runs/{}", r.id),
                        "output": {
                            "title": r.title,
                            "summary": r.summary,
                            "text": r.text,
                            "annotations_count": r.annotations.len(),
                        },
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    axum::Json(json!({"total_count": runs.len(), "check_runs": runs})).into_response()
}

async fn status(
    State(shared): State<Shared>,
    Path((_owner, _name, sha)): Path<(String, String, String)>,
) -> Response {
    let inner = shared.lock();
    let statuses: Vec<Value> = inner
        .statuses
        .get(&sha)
        .map(|all| {
            all.iter()
                .map(|(context, state, description)| {
                    json!({"context": context, "state": state, "description": description, "target_url": null})
                })
                .collect()
        })
        .unwrap_or_default();
    let state = if statuses.is_empty() {
        "pending"
    } else {
        "success"
    };
    axum::Json(
        json!({"state": state, "sha": sha, "total_count": statuses.len(), "statuses": statuses}),
    )
    .into_response()
}

async fn annotations(
    State(shared): State<Shared>,
    Path((_owner, _name, id)): Path<(String, String, u64)>,
) -> Response {
    let inner = shared.lock();
    let notes: Vec<Value> = inner
        .checks
        .values()
        .flatten()
        .filter(|r| r.id == id)
        .flat_map(|r| r.annotations.iter())
        .map(|(path, line, message)| {
            json!({"path": path, "start_line": line, "end_line": line, "annotation_level": "failure", "message": message, "title": null})
        })
        .collect();
    axum::Json(notes).into_response()
}

async fn comment(
    State(shared): State<Shared>,
    Path((owner, name, number)): Path<(String, String, u64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let mut inner = shared.lock();
    let id = inner.comments.len() + 1;
    inner.comments.push(FakeComment {
        repo: repo.clone(),
        number,
        body: body["body"].as_str().unwrap_or_default().to_owned(),
    });
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "id": id,
            "html_url": format!("https://github.com/{repo}/pull/{number}#issuecomment-{id}"),
        })),
    )
        .into_response()
}

/// An issue as the fake stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeIssue {
    pub number: u64,
    pub title: String,
    pub body: String,
    /// `open` or `closed`.
    pub state: String,
    pub state_reason: Option<String>,
    pub labels: Vec<String>,
}

fn issue_json(repo: &str, i: &FakeIssue) -> Value {
    json!({
        "number": i.number,
        "html_url": format!("https://github.com/{repo}/issues/{}", i.number),
        "state": i.state,
        "state_reason": i.state_reason,
        "title": i.title,
        "body": i.body,
        "labels": labels_json(&i.labels),
    })
}

async fn list_issues(
    State(shared): State<Shared>,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let state = q.get("state").cloned().unwrap_or_else(|| "open".into());
    let labels: Vec<String> = q
        .get("labels")
        .map(|l| l.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let inner = shared.lock();
    let mut list: Vec<&FakeIssue> = inner
        .issues
        .get(&repo)
        .into_iter()
        .flatten()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| labels.iter().all(|l| i.labels.contains(l)))
        .collect();
    list.sort_by_key(|i| std::cmp::Reverse(i.number));
    let items: Vec<Value> = page_of(list, &q).map(|i| issue_json(&repo, i)).collect();
    axum::Json(items).into_response()
}

async fn create_issue(
    State(shared): State<Shared>,
    Path((owner, name)): Path<(String, String)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let mut inner = shared.lock();
    let issues = inner.issues.entry(repo.clone()).or_default();
    let issue = FakeIssue {
        // Apart from the pull request numbers the tests use.
        number: 1000 + issues.len() as u64 + 1,
        title: body["title"].as_str().unwrap_or_default().to_owned(),
        body: body["body"].as_str().unwrap_or_default().to_owned(),
        state: "open".into(),
        state_reason: None,
        labels: body["labels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(str::to_owned))
            .collect(),
    };
    issues.push(issue.clone());
    (StatusCode::CREATED, axum::Json(issue_json(&repo, &issue))).into_response()
}

async fn update_issue(
    State(shared): State<Shared>,
    Path((owner, name, number)): Path<(String, String, u64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let mut inner = shared.lock();
    let Some(issue) = inner.issue_mut(&repo, number) else {
        return not_found();
    };
    if let Some(t) = body["title"].as_str() {
        issue.title = t.to_owned();
    }
    if let Some(b) = body["body"].as_str() {
        issue.body = b.to_owned();
    }
    match body["state"].as_str() {
        Some("closed") => {
            issue.state = "closed".into();
            issue.state_reason = Some(
                body["state_reason"]
                    .as_str()
                    .unwrap_or("completed")
                    .to_owned(),
            );
        }
        Some("open") => {
            issue.state = "open".into();
            issue.state_reason = Some("reopened".into());
        }
        _ => {}
    }
    let issue = issue.clone();
    axum::Json(issue_json(&repo, &issue)).into_response()
}

async fn label(
    State(shared): State<Shared>,
    Path((owner, name, number)): Path<(String, String, u64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let mut inner = shared.lock();
    let Some(p) = inner.pull_mut(&repo, number) else {
        return not_found();
    };
    for l in body["labels"].as_array().into_iter().flatten() {
        let l = l.as_str().unwrap_or_default().to_owned();
        if !p.labels.contains(&l) {
            p.labels.push(l);
        }
    }
    p.updated_at = github::rfc3339_utc(now());
    axum::Json(labels_json(&p.labels)).into_response()
}

async fn unlabel(
    State(shared): State<Shared>,
    Path((owner, name, number, label)): Path<(String, String, u64, String)>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let mut inner = shared.lock();
    let Some(p) = inner.pull_mut(&repo, number) else {
        return not_found();
    };
    if !p.labels.contains(&label) {
        return not_found();
    }
    p.labels.retain(|l| *l != label);
    axum::Json(Value::Array(vec![])).into_response()
}

async fn compare(
    State(shared): State<Shared>,
    Path((_owner, _name, range)): Path<(String, String, String)>,
) -> Response {
    let Some((base, head)) = range.split_once("...") else {
        return not_found();
    };
    let inner = shared.lock();
    let ancestors = |from: &str| {
        let mut chain = vec![from.to_owned()];
        while let Some(p) = inner
            .parents
            .get(chain.last().map(String::as_str).unwrap_or_default())
        {
            if chain.contains(p) {
                break;
            }
            chain.push(p.clone());
        }
        chain
    };
    let head_chain = ancestors(head);
    let base_chain = ancestors(base);
    let files = inner
        .diffs
        .get(&(base.to_owned(), head.to_owned()))
        .cloned()
        .unwrap_or_default();
    let (status, ahead, behind) = if base == head {
        ("identical", 0, 0)
    } else if let Some(i) = head_chain.iter().position(|c| c == base) {
        ("ahead", i, 0)
    } else if let Some(i) = base_chain.iter().position(|c| c == head) {
        ("behind", 0, i)
    } else {
        ("diverged", 1, 1)
    };
    axum::Json(
        json!({"status": status, "ahead_by": ahead, "behind_by": behind, "total_commits": ahead, "files": files}),
    )
    .into_response()
}

/// Standard base64, wrapped at 60 columns like GitHub's contents API.
fn base64_wrapped(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    let mut wrapped = String::with_capacity(out.len() + out.len() / 60 + 1);
    for (i, c) in out.chars().enumerate() {
        if i > 0 && i % 60 == 0 {
            wrapped.push('\n');
        }
        wrapped.push(c);
    }
    wrapped.push('\n');
    wrapped
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(super::base64_wrapped(b""), "\n");
        assert_eq!(super::base64_wrapped(b"f"), "Zg==\n");
        assert_eq!(super::base64_wrapped(b"fo"), "Zm8=\n");
        assert_eq!(super::base64_wrapped(b"foobar"), "Zm9vYmFy\n");
        assert_eq!(super::base64_wrapped(&[b'a'; 60]).lines().count(), 2);
    }
}
