use client_error::ClientError;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap as AxHeaders, StatusCode as AxStatus};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::*;

fn client(base: &str, token: Option<&str>) -> GitHub {
    GitHub::new(
        reqwest::Client::new(),
        Url::parse(base).unwrap(),
        token.map(str::to_owned),
    )
}

#[test]
fn debug_output_redacts_the_token() {
    let gh = client(DEFAULT_API_URL, Some("ghp_supersecret123"));
    let debug = format!("{gh:?}");
    assert!(!debug.contains("ghp_supersecret123"), "{debug}");
    assert!(debug.contains("<redacted>"));
    assert!(gh.has_token());
    assert!(!client(DEFAULT_API_URL, Some("  ")).has_token());
}

#[test]
fn repo_names_are_validated_before_use() {
    assert_eq!(
        split_repo("acme/web-app.v2").unwrap(),
        ("acme", "web-app.v2")
    );
    for bad in [
        "acme",
        "acme/",
        "/web",
        "acme/../x",
        "acme/web/extra",
        "ac me/web",
        "acme/..",
        "-acme/web",
        "acme/we?b",
    ] {
        let err = split_repo(bad).unwrap_err();
        assert!(
            matches!(
                err,
                GitHubError::InvalidArgument {
                    what: "repository",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }
}

#[test]
fn file_paths_reject_traversal() {
    assert_eq!(
        split_file_path("apps/web/package.json").unwrap(),
        ["apps", "web", "package.json"]
    );
    assert_eq!(split_file_path("/Cargo.toml").unwrap(), ["Cargo.toml"]);
    assert!(split_file_path("apps/../secrets").is_err());
    assert!(split_file_path("apps//x").is_err());
    assert!(split_file_path("a\\b").is_err());
}

#[test]
fn endpoint_keeps_an_enterprise_path_prefix_and_encodes_segments() {
    let gh = client("https://ghe.example.com/api/v3", None);
    let url = gh.endpoint(&["repos", "acme", "web", "contents", "dir name", "a#b.txt"]);
    assert_eq!(
        url.as_str(),
        "https://ghe.example.com/api/v3/repos/acme/web/contents/dir%20name/a%23b.txt"
    );
    let gh = client("https://api.github.com/", None);
    assert_eq!(
        gh.endpoint(&["repos", "a", "b"]).as_str(),
        "https://api.github.com/repos/a/b"
    );
}

#[test]
fn statuses_map_to_specific_errors() {
    let now = UNIX_EPOCH + Duration::from_secs(1_000);
    let mut h = HeaderMap::new();
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    h.insert("x-ratelimit-reset", HeaderValue::from_static("1060"));
    let e = status_error(StatusCode::FORBIDDEN, &h, b"{}", "x", now);
    assert!(
        matches!(e, GitHubError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
        "{e}"
    );
    assert!(e.is_retriable());

    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    let e = status_error(StatusCode::TOO_MANY_REQUESTS, &h, b"", "x", now);
    assert!(
        matches!(e, GitHubError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(7))
    );

    let e = status_error(
        StatusCode::FORBIDDEN,
        &HeaderMap::new(),
        br#"{"message":"You have exceeded a secondary rate limit."}"#,
        "x",
        now,
    );
    assert!(
        matches!(e, GitHubError::RateLimited { retry_after: None }),
        "{e}"
    );

    let e = status_error(StatusCode::FORBIDDEN, &HeaderMap::new(), b"{}", "x", now);
    assert!(matches!(e, GitHubError::Unauthorized { status: 403 }));
    assert!(e.to_string().contains("GITHUB_TOKEN"));
    assert!(!e.is_retriable());

    let e = status_error(StatusCode::UNAUTHORIZED, &HeaderMap::new(), b"{}", "x", now);
    assert!(matches!(e, GitHubError::Unauthorized { status: 401 }));

    let e = status_error(
        StatusCode::BAD_GATEWAY,
        &HeaderMap::new(),
        br#"{"message":"upstream\u0007 down"}"#,
        "x",
        now,
    );
    assert!(
        matches!(&e, GitHubError::Status { status: 502, message } if message == "upstream down"),
        "{e:?}"
    );
    assert!(e.is_retriable());

    let e = status_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &HeaderMap::new(),
        b"nope",
        "x",
        now,
    );
    assert!(!e.is_retriable());
}

#[test]
fn contents_are_base64_decoded_across_wrapped_lines() {
    let c = Contents {
        kind: "file".into(),
        encoding: Some("base64".into()),
        content: Some("eyJkZXBlbmRlbmNpZXMi\nOnsic3RyaXBlIjoiMTQi\nfX0=\n".into()),
    };
    assert_eq!(
        decode_contents(&c).unwrap(),
        r#"{"dependencies":{"stripe":"14"}}"#
    );
    let none = Contents {
        kind: "file".into(),
        encoding: Some("none".into()),
        content: Some(String::new()),
    };
    assert!(matches!(
        decode_contents(&none),
        Err(GitHubError::Decode { .. })
    ));
}

#[derive(Default)]
struct Seen {
    auth: Vec<Option<String>>,
    versions: Vec<Option<String>>,
    pages: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

fn record(seen: &Shared, headers: &AxHeaders) {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut s = seen.lock().unwrap();
    s.auth.push(h("authorization"));
    s.versions.push(h("x-github-api-version"));
}

async fn contents(
    State(seen): State<Shared>,
    Path((_o, _r, path)): Path<(String, String, String)>,
    headers: AxHeaders,
) -> impl IntoResponse {
    record(&seen, &headers);
    match path.as_str() {
        "package.json" => (
            AxStatus::OK,
            axum::Json(json!({"type": "file", "encoding": "base64", "content": "eyJhIjoxfQ==\n"})),
        )
            .into_response(),
        "src" => (
            AxStatus::OK,
            axum::Json(json!([{"type": "file", "name": "main.rs"}])),
        )
            .into_response(),
        _ => (
            AxStatus::NOT_FOUND,
            axum::Json(json!({"message": "Not Found"})),
        )
            .into_response(),
    }
}

async fn pulls(
    State(seen): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: AxHeaders,
) -> impl IntoResponse {
    record(&seen, &headers);
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    seen.lock().unwrap().pages.push(format!(
        "{}:{page}",
        q.get("state").cloned().unwrap_or_default()
    ));
    // 100 unrelated open PRs on page 1, the marked one on page 2.
    let items: Vec<_> = if q.get("state").map(String::as_str) == Some("all") {
        vec![
            json!({"number": 5, "html_url": "https://h/5", "state": "closed", "merged_at": "2026-01-01T00:00:00Z", "title": "old", "body": null, "head": {"ref": "autofix/x1"}}),
            json!({"number": 9, "html_url": "https://h/9", "state": "open", "merged_at": null, "title": "new", "body": null, "head": {"ref": "autofix/x1"}}),
            json!({"number": 11, "html_url": "https://h/11", "state": "open", "merged_at": null, "title": "other", "body": null, "head": {"ref": "feature"}}),
        ]
    } else if page == 1 {
        (0..100).map(|i| json!({"number": 1000 + i, "html_url": "https://h", "state": "open", "title": "t", "body": "unrelated", "head": {"ref": format!("feature-{i}")}})).collect()
    } else {
        vec![
            json!({"number": 7, "html_url": "https://h/7", "state": "open", "title": "Fix", "body": format!("text\n{}", "<!-- autofix:fingerprint=fp9 -->"), "head": {"ref": "renamed"}}),
        ]
    };
    axum::Json(items)
}

async fn serve() -> (String, Shared) {
    let seen = Shared::default();
    let app = Router::new()
        .route("/repos/{o}/{r}/contents/{*path}", get(contents))
        .route("/repos/{o}/{r}/pulls", get(pulls))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn reads_files_and_pull_requests_with_the_documented_headers() {
    let (base, seen) = serve().await;
    let gh = client(&base, Some("tok123"));
    assert_eq!(
        gh.file("acme/web", "package.json")
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"a":1}"#)
    );
    assert_eq!(gh.file("acme/web", "missing.txt").await.unwrap(), None);
    assert_eq!(
        gh.file("acme/web", "src").await.unwrap(),
        None,
        "a directory is not a file"
    );

    let pr = gh
        .find_open_pr(
            "acme/web",
            "autofix/fp9",
            "<!-- autofix:fingerprint=fp9 -->",
        )
        .await
        .unwrap()
        .expect("marker PR on page 2");
    assert_eq!(pr.number, 7);
    assert_eq!(
        gh.find_open_pr("acme/web", "autofix/nothing", "<!-- nothing -->")
            .await
            .unwrap(),
        None
    );

    let pr = gh
        .find_pr_by_branch("acme/web", "autofix/x1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (pr.number, pr.state.as_str(), pr.merged),
        (9, "open", false),
        "open PR preferred"
    );

    let s = seen.lock().unwrap();
    assert!(s.auth.iter().all(|a| a.as_deref() == Some("Bearer tok123")));
    assert!(s.versions.iter().all(|v| v.as_deref() == Some(API_VERSION)));
    assert_eq!(s.pages[..2], ["open:1".to_owned(), "open:2".to_owned()]);
}

#[tokio::test]
async fn a_hung_server_hits_the_request_deadline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts connections and never answers.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let gh = client(&format!("http://{addr}"), None).with_timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let err = gh.file("acme/web", "package.json").await.unwrap_err();
    assert!(
        matches!(&err, GitHubError::Http(e) if e.is_timeout()),
        "{err:?}"
    );
    assert!(err.is_retriable());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn no_token_sends_no_authorization_and_bad_repo_sends_nothing() {
    let (base, seen) = serve().await;
    let gh = client(&base, None);
    gh.file("acme/web", "package.json").await.unwrap();
    assert!(gh.file("acme/../../etc", "passwd").await.is_err());
    let s = seen.lock().unwrap();
    assert_eq!(s.auth, [None]);
}
