//! A fake of the few GitHub REST endpoints Autofix reads: repository contents and pull request
//! lists. Files and pull requests are set per repository; every request is recorded (path,
//! whether it carried the expected token and the API headers) so tests can count and inspect.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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
        }
    }

    pub fn closed(number: u64, head: &str, merged: bool) -> Self {
        Self {
            state: "closed".into(),
            merged,
            ..Self::open(number, head, None)
        }
    }
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
}

#[derive(Clone)]
struct Shared {
    /// `Some`: requests must carry `Authorization: Bearer <token>` or get 401.
    token: Option<String>,
    inner: Arc<Mutex<Inner>>,
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

/// Records the request and answers with a fault or an auth failure when one applies.
fn admit(shared: &Shared, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
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

async fn user(State(shared): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(r) = admit(&shared, &uri, &headers) {
        return r;
    }
    axum::Json(json!({"login": FAKE_LOGIN, "id": 1, "type": "User"})).into_response()
}

async fn repository(
    State(shared): State<Shared>,
    Path((owner, name)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = admit(&shared, &uri, &headers) {
        return r;
    }
    let repo = format!("{owner}/{name}");
    match shared.lock().repos.get(&repo).copied() {
        Some(push) => axum::Json(json!({
            "full_name": repo,
            "private": true,
            "permissions": {"admin": false, "maintain": false, "push": push, "triage": push, "pull": true},
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Not Found"})),
        )
            .into_response(),
    }
}

async fn contents(
    State(shared): State<Shared>,
    Path((owner, name, path)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = admit(&shared, &uri, &headers) {
        return r;
    }
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
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Not Found"})),
        )
            .into_response(),
    }
}

async fn pulls(
    State(shared): State<Shared>,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = admit(&shared, &uri, &headers) {
        return r;
    }
    let repo = format!("{owner}/{name}");
    let state = q
        .get("state")
        .map(String::as_str)
        .unwrap_or("open")
        .to_owned();
    let head = q.get("head").cloned();
    let per_page: usize = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let visible = {
        let mut inner = shared.lock();
        let served = inner.pull_lists.get(&repo).copied().unwrap_or(0);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.pending)
            .into_iter()
            .partition(|(r, _, after)| *r == repo && served >= *after);
        inner.pending = later;
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
    let items: Vec<Value> = list
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|p| {
            json!({
                "number": p.number,
                "html_url": format!("https://github.com/{repo}/pull/{}", p.number),
                "state": p.state,
                "merged_at": if p.merged { json!("2026-11-23T08:00:00Z") } else { Value::Null },
                "title": p.title,
                "body": p.body,
                "head": {"ref": p.head, "label": format!("{owner}:{}", p.head)},
            })
        })
        .collect();
    axum::Json(items).into_response()
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
