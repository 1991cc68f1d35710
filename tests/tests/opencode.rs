//! The `opencode` client against the fake OpenCode server: the session flow the pipeline runs,
//! basic auth, error mapping, and abort of a run that never finishes.

use client_error::ClientError;
use std::time::Duration;

use autofix_tests::fake_opencode::{FakeOpenCode, FakeOpenCodeConfig, FakeReply};
use opencode::{ModelRef, OpenCode, OpenCodeError, Outcome, PromptRequest, SessionState, judge};

const DIR: &str = "/workspace/session-1";

fn client(fake: &FakeOpenCode, password: Option<&str>) -> OpenCode {
    OpenCode::new(
        reqwest::Client::new(),
        fake.base_url(),
        None,
        password.map(str::to_owned),
    )
    .with_timeout(Duration::from_secs(5))
}

/// Polls like the pipeline does (without the durable sleeps), bounded.
async fn poll_until_done(oc: &OpenCode, session: &str) -> (Outcome, usize) {
    for poll in 1..=20 {
        let state = oc.status(session, DIR).await.expect("status");
        let reply = oc
            .last_assistant_message(session, DIR)
            .await
            .expect("messages");
        let outcome = judge(&state, reply.as_ref());
        if outcome != Outcome::Running {
            return (outcome, poll);
        }
    }
    panic!("session {session} never finished");
}

#[tokio::test]
async fn full_session_flow_completes_with_final_text() {
    let fake = FakeOpenCode::start(FakeOpenCodeConfig {
        auth: Some(("opencode".into(), "pw-123".into())),
        busy_polls: Some(3),
        ..FakeOpenCodeConfig::default()
    })
    .await;
    let oc = client(&fake, Some("pw-123"));

    oc.health().await.expect("health");
    assert_eq!(oc.server_version().await.unwrap(), "1.18.33");
    let session = oc
        .create_session(DIR, "Autofix: api crash loop")
        .await
        .unwrap();
    assert!(session.id.starts_with("ses_"));
    assert_eq!(session.directory, DIR);
    assert_eq!(session.title, "Autofix: api crash loop");

    // Before the prompt there is nothing to judge yet.
    assert_eq!(
        oc.last_assistant_message(&session.id, DIR).await.unwrap(),
        None
    );

    let req = PromptRequest {
        text: "Fix the crash loop".into(),
        model: Some(ModelRef::new("openai", "gpt-4.1")),
        agent: Some("build".into()),
        system: None,
    };
    oc.prompt_async(&session.id, DIR, &req).await.unwrap();
    assert_eq!(
        oc.status(&session.id, DIR).await.unwrap(),
        SessionState::Busy
    );
    // Mid-run the newest turn is a finished tool-call turn: still running.
    let mid = oc
        .last_assistant_message(&session.id, DIR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mid.finish.as_deref(), Some("tool-calls"));
    assert_eq!(mid.tools.len(), 1);

    let (outcome, polls) = poll_until_done(&oc, &session.id).await;
    assert_eq!(
        outcome,
        Outcome::Completed {
            text: "Fixed it. PR: https://github.com/acme/api/pull/7".into()
        }
    );
    assert_eq!(polls, 3, "two more busy polls, then idle");

    let rec = fake.recorded();
    assert_eq!(
        rec.sessions,
        vec![(
            Some(DIR.to_owned()),
            Some("Autofix: api crash loop".to_owned())
        )]
    );
    assert_eq!(rec.prompts.len(), 1);
    assert_eq!(rec.prompts[0].directory.as_deref(), Some(DIR));
    assert_eq!(
        rec.prompts[0].body,
        serde_json::json!({"parts":[{"type":"text","text":"Fix the crash loop"}],
                           "model":{"providerID":"openai","modelID":"gpt-4.1"},"agent":"build"})
    );
    assert_eq!(rec.unauthorized, 0);

    oc.delete_session(&session.id, DIR).await.unwrap();
    let err = oc
        .last_assistant_message(&session.id, DIR)
        .await
        .unwrap_err();
    assert!(matches!(err, OpenCodeError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn failed_run_reports_reason_and_last_text() {
    let fake = FakeOpenCode::start(FakeOpenCodeConfig {
        busy_polls: Some(0),
        reply: FakeReply {
            text: "I could not reach the model".into(),
            finish: None,
            error: Some(("APIError".into(), "invalid api key".into())),
        },
        ..FakeOpenCodeConfig::default()
    })
    .await;
    let oc = client(&fake, None);
    let session = oc.create_session(DIR, "t").await.unwrap();
    oc.prompt_async(&session.id, DIR, &PromptRequest::new("fix"))
        .await
        .unwrap();
    let (outcome, _) = poll_until_done(&oc, &session.id).await;
    assert_eq!(
        outcome,
        Outcome::Failed {
            reason: "APIError: invalid api key".into(),
            last_text: "I could not reach the model".into()
        }
    );
}

#[tokio::test]
async fn never_finishing_run_is_aborted() {
    let fake = FakeOpenCode::start(FakeOpenCodeConfig {
        busy_polls: None,
        retry_message: Some("fake 500 failure".into()),
        ..FakeOpenCodeConfig::default()
    })
    .await;
    let oc = client(&fake, None);
    let session = oc.create_session(DIR, "t").await.unwrap();
    oc.prompt_async(&session.id, DIR, &PromptRequest::new("fix"))
        .await
        .unwrap();
    for attempt in 1..=5 {
        let state = oc.status(&session.id, DIR).await.unwrap();
        assert_eq!(
            state,
            SessionState::Retry {
                attempt,
                message: "fake 500 failure".into()
            }
        );
        let reply = oc.last_assistant_message(&session.id, DIR).await.unwrap();
        assert_eq!(judge(&state, reply.as_ref()), Outcome::Running);
    }
    // Our deadline passed: abort, after which the run judges as failed.
    oc.abort(&session.id, DIR).await.unwrap();
    let (outcome, polls) = poll_until_done(&oc, &session.id).await;
    assert_eq!(polls, 1);
    assert!(
        matches!(&outcome, Outcome::Failed { reason, .. } if reason.starts_with("MessageAbortedError")),
        "{outcome:?}"
    );
    assert_eq!(
        fake.recorded().aborts,
        vec![(session.id.clone(), Some(DIR.to_owned()))]
    );
}

#[tokio::test]
async fn wrong_or_missing_password_is_unauthorized_and_not_retriable() {
    let fake = FakeOpenCode::start(FakeOpenCodeConfig {
        auth: Some(("opencode".into(), "right".into())),
        ..FakeOpenCodeConfig::default()
    })
    .await;
    for password in [None, Some("wrong")] {
        let err = client(&fake, password).health().await.unwrap_err();
        assert!(matches!(err, OpenCodeError::Unauthorized { .. }), "{err}");
        assert!(!err.is_retriable());
        let text = format!("{err} {err:?}");
        assert!(text.contains("OPENCODE_SERVER_PASSWORD"), "{text}");
        assert!(!text.contains("wrong") && !text.contains("right"), "{text}");
    }
    // A different user with the right password is rejected too.
    let other_user = OpenCode::new(
        reqwest::Client::new(),
        fake.base_url(),
        Some("admin".into()),
        Some("right".into()),
    );
    assert!(matches!(
        other_user.health().await,
        Err(OpenCodeError::Unauthorized { .. })
    ));
    assert_eq!(fake.recorded().unauthorized, 3);
    client(&fake, Some("right"))
        .health()
        .await
        .expect("right password");
}

#[tokio::test]
async fn unknown_session_is_not_found() {
    let fake = FakeOpenCode::start(FakeOpenCodeConfig::default()).await;
    let oc = client(&fake, None);
    let err = oc
        .prompt_async("ses_missing", DIR, &PromptRequest::new("x"))
        .await
        .unwrap_err();
    match &err {
        OpenCodeError::NotFound { message, .. } => {
            assert!(message.contains("ses_missing"), "{message}")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(!err.is_retriable());
    // Unknown sessions are simply not busy.
    assert_eq!(
        oc.status("ses_missing", DIR).await.unwrap(),
        SessionState::Idle
    );
}

#[tokio::test]
async fn closed_port_is_unreachable_and_retriable() {
    // Bind then drop: the port is (almost certainly) closed afterwards.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let oc = OpenCode::new(
        reqwest::Client::new(),
        reqwest::Url::parse(&format!("http://{addr}/")).unwrap(),
        None,
        Some("secret-pw".into()),
    )
    .with_timeout(Duration::from_secs(2));
    let err = oc.create_session(DIR, "t").await.unwrap_err();
    assert!(matches!(err, OpenCodeError::Unreachable { .. }), "{err:?}");
    assert!(err.is_retriable());
    assert!(!format!("{err} {err:?}").contains("secret-pw"));
}

#[tokio::test]
async fn slow_server_times_out_as_unreachable() {
    use axum::{Router, routing::get};
    let app = Router::new().route(
        "/global/health",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "{}"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let oc = OpenCode::new(
        reqwest::Client::new(),
        reqwest::Url::parse(&format!("http://{addr}/")).unwrap(),
        None,
        None,
    )
    .with_timeout(Duration::from_millis(200));
    let err = oc.health().await.unwrap_err();
    match &err {
        OpenCodeError::Unreachable { reason, .. } => {
            assert!(reason.contains("timed out"), "{reason}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(err.is_retriable());
    server.abort();
}

#[tokio::test]
async fn bad_request_and_garbage_bodies_map_to_specific_errors() {
    use axum::{
        Router,
        http::StatusCode,
        routing::{get, post},
    };
    let app = Router::new()
        .route(
            "/session",
            post(|| async { (StatusCode::BAD_REQUEST, r#"{"_tag":"BadRequest"}"#) }),
        )
        .route(
            "/global/health",
            get(|| async { "<html>a proxy page</html>" }),
        )
        .route(
            "/session/status",
            get(|| async { r#"{"ses_1":{"type":"compacting"}}"# }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let oc = OpenCode::new(
        reqwest::Client::new(),
        reqwest::Url::parse(&format!("http://{addr}/")).unwrap(),
        None,
        None,
    );
    let err = oc.create_session(DIR, "t").await.unwrap_err();
    assert!(
        matches!(&err, OpenCodeError::Http { status: 400, message, .. } if message == "BadRequest"),
        "{err:?}"
    );
    assert!(!err.is_retriable());
    assert!(matches!(
        oc.health().await,
        Err(OpenCodeError::Decode { .. })
    ));
    // An unfamiliar status for *another* session does not break ours; for ours it is Decode.
    assert_eq!(oc.status("ses_2", DIR).await.unwrap(), SessionState::Idle);
    assert!(matches!(
        oc.status("ses_1", DIR).await,
        Err(OpenCodeError::Decode { .. })
    ));
    server.abort();
}
