use super::*;
use serde_json::Value;

fn sample(t: Transition) -> Notification {
    Notification {
        transition: t,
        fingerprint: "af-0123456789ab".into(),
        project: "shop".into(),
        environment: "production".into(),
        services: vec!["api".into()],
        repo: Some("acme/api".into()),
        severity: Some("critical".into()),
        kind: Some("latency".into()),
        summary: "p95 3.4 s <!channel> @everyone".into(),
        details: vec!["GET /reports <https://evil.example|click>".into()],
        suspect_deployment: Some("dep-1 (abc1234)".into()),
        pull_request: Some(PrLink {
            url: "https://github.com/acme/api/pull/7".into(),
            number: 7,
            state: "open".into(),
            ci: Some("pending".into()),
        }),
        run_url: Some("http://localhost:8288/run?runID=01ABC".into()),
        issue_url: None,
        sparkline: Some("▁▂█".into()),
        demo: false,
        at: 1_795_420_800,
    }
}

fn all_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(all_text).collect::<Vec<_>>().join("\n"),
        Value::Object(o) => o.values().map(all_text).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

#[test]
fn dedup_keys_differ_per_transition_and_ids_are_stable() {
    let keys: std::collections::BTreeSet<String> = Transition::ALL
        .iter()
        .map(|t| sample(*t).dedup_key())
        .collect();
    assert_eq!(keys.len(), Transition::ALL.len());
    let a = sample(Transition::Wait);
    let mut b = a.clone();
    b.summary = "other numbers this cycle".into();
    b.at += 600;
    assert_eq!(a.dedup_key(), "wait:af-0123456789ab");
    assert_eq!(a.message_id(), b.message_id(), "same transition, same id");
    assert!(a.message_id().starts_with("msg_"));
}

#[test]
fn slack_blocks_link_pr_and_run_and_cannot_ping() {
    let v = render::slack(&sample(Transition::PrOpened));
    let text = all_text(&v);
    assert!(!text.contains("<!channel>"), "{text}");
    assert!(!text.contains("<https://evil"), "{text}");
    assert!(text.contains("&lt;!channel&gt;"));
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
    let actions = blocks
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("buttons");
    let urls: Vec<&str> = actions["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "https://github.com/acme/api/pull/7",
            "http://localhost:8288/run?runID=01ABC"
        ]
    );
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .starts_with("[shop/production] Fix PR opened")
    );
}

#[test]
fn long_text_is_cut_to_slack_limits() {
    let mut n = sample(Transition::IncidentOpened);
    n.services = vec!["s".repeat(400)];
    n.summary = "x".repeat(5000);
    let v = render::slack(&n);
    assert_eq!(
        v["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        150
    );
    assert!(
        v["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .chars()
            .count()
            <= 3000
    );
}

#[test]
fn discord_allows_no_mentions_and_teams_is_an_adaptive_card() {
    let d = render::discord(&sample(Transition::IncidentOpened));
    assert_eq!(d["allowed_mentions"]["parse"], serde_json::json!([]));
    assert_eq!(d["embeds"][0]["color"], 0xD62728);
    assert_eq!(d["embeds"][0]["url"], "https://github.com/acme/api/pull/7");
    assert_eq!(d["embeds"][0]["timestamp"], "2026-11-23T08:00:00Z");
    let t = render::teams(&sample(Transition::IncidentRecovered));
    assert_eq!(t["type"], "message");
    let card = &t["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["body"][0]["color"], "Good");
    assert_eq!(card["content"]["actions"][0]["type"], "Action.OpenUrl");
}

#[test]
fn generic_webhook_body_carries_the_whole_notification() {
    let n = sample(Transition::Investigate);
    let v = render::webhook(&n);
    assert_eq!(v["type"], "autofix.investigate");
    assert_eq!(v["timestamp"], "2026-11-23T08:00:00Z");
    let back: Notification = serde_json::from_value(v["data"].clone()).unwrap();
    assert_eq!(back, n);
}

#[test]
fn links_other_than_http_are_dropped() {
    let mut n = sample(Transition::PrOpened);
    n.run_url = Some("javascript:alert(1)".into());
    let v = render::slack(&n);
    assert!(!all_text(&v).contains("javascript:"));
}

/// The example of the Standard Webhooks specification (standard-webhooks/spec, "Signature
/// scheme"): the same secret, id, timestamp and payload must give the published signature.
#[test]
fn signature_matches_the_specification_example() {
    let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let sig = sign(
        &secret,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
}

#[test]
fn bad_secrets_are_refused_without_echoing_them() {
    assert_eq!(
        WebhookSecret::parse("whsec_").unwrap_err(),
        SignError::Empty
    );
    assert_eq!(
        WebhookSecret::parse("whsec_not base64!").unwrap_err(),
        SignError::NotBase64
    );
    assert_eq!(
        WebhookSecret::parse("whsec_c2hvcnQ=").unwrap_err(),
        SignError::TooShort(5)
    );
}

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn sinks_config_names_the_variable_and_hides_the_url() {
    let s = Sinks::from_lookup(lookup(&[
        (
            "AUTOFIX_SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T0/B0/SECRETTOKEN",
        ),
        ("AUTOFIX_DISCORD_WEBHOOK_URL", ""),
        (
            "AUTOFIX_TEAMS_WEBHOOK_URL",
            "https://prod.westus.logic.azure.com/workflows/x?sig=SECRETSIG",
        ),
    ]))
    .unwrap();
    assert_eq!(
        s.sinks.iter().map(|s| s.kind).collect::<Vec<_>>(),
        [SinkKind::Slack, SinkKind::Teams]
    );
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("SECRET"), "{dbg}");
    assert!(dbg.contains("hooks.slack.com"));

    let e = Sinks::from_lookup(lookup(&[(
        "AUTOFIX_DISCORD_WEBHOOK_URL",
        "discord.com/api/webhooks/1/SECRET",
    )]))
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("AUTOFIX_DISCORD_WEBHOOK_URL is not a valid URL"),
        "{e}"
    );
    assert!(!e.to_string().contains("SECRET"));
    let e = Sinks::from_lookup(lookup(&[(
        "AUTOFIX_SLACK_WEBHOOK_URL",
        "file:///etc/passwd",
    )]))
    .unwrap_err();
    assert_eq!(
        e,
        SinkConfigError::Scheme {
            variable: "AUTOFIX_SLACK_WEBHOOK_URL"
        }
    );
    assert_eq!(
        Sinks::from_lookup(lookup(&[(
            "AUTOFIX_WEBHOOK_URL",
            "https://example.com/hook"
        )]))
        .unwrap_err(),
        SinkConfigError::MissingSecret
    );
    assert_eq!(
        Sinks::from_lookup(lookup(&[(
            "AUTOFIX_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        )]))
        .unwrap_err(),
        SinkConfigError::SecretWithoutUrl
    );
    let e = Sinks::from_lookup(lookup(&[
        ("AUTOFIX_WEBHOOK_URL", "https://example.com/hook"),
        ("AUTOFIX_WEBHOOK_SECRET", "hunter2hunter2"),
    ]))
    .unwrap_err();
    assert!(e.to_string().starts_with("AUTOFIX_WEBHOOK_SECRET:"), "{e}");
    assert!(!e.to_string().contains("hunter2"));
}

#[test]
fn retry_after_takes_seconds_or_an_http_date() {
    use std::time::Duration;
    assert_eq!(parse_retry_after("7", 0), Some(Duration::from_secs(7)));
    // 1994-11-06T08:49:37Z is 784111777.
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_770),
        Some(Duration::from_secs(7))
    );
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_800),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", 0), None);
}

mod http {
    use super::*;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use client_error::ClientError;
    use std::time::Duration;

    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}/hook/SECRETPATH")
    }

    fn sink(url: &str) -> Sink {
        Sinks::from_lookup(lookup(&[("AUTOFIX_DISCORD_WEBHOOK_URL", url)]))
            .unwrap()
            .sinks
            .remove(0)
    }

    /// What `deliver` fails with when the Discord hook answers what `answer` builds.
    async fn refused_by(answer: fn() -> axum::response::Response) -> DeliveryError {
        let r = axum::Router::new().route(
            "/hook/{x}",
            axum::routing::post(move || async move { answer() }),
        );
        deliver(
            &reqwest::Client::new(),
            &sink(&serve(r).await),
            &sample(Transition::Wait),
            0,
        )
        .await
        .unwrap_err()
    }

    #[tokio::test]
    async fn rate_limits_and_server_errors_are_retriable_with_their_delay() {
        let e = refused_by(|| {
            (
                StatusCode::TOO_MANY_REQUESTS,
                r#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#,
            )
                .into_response()
        })
        .await;
        assert!(e.is_retriable());
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));

        let e = refused_by(|| {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "3")],
                "rate_limited",
            )
                .into_response()
        })
        .await;
        assert_eq!(
            e.retry_after(),
            Some(Duration::from_secs(3)),
            "the header wins"
        );

        let e = refused_by(|| (StatusCode::BAD_GATEWAY, "upstream").into_response()).await;
        assert!(e.is_retriable());
        assert_eq!(e.to_string(), "discord webhook answered HTTP 502: upstream");

        let e = refused_by(|| (StatusCode::NOT_FOUND, "no_service").into_response()).await;
        assert!(!e.is_retriable(), "a deleted webhook stays deleted");
    }

    #[tokio::test]
    async fn transport_errors_never_show_the_url() {
        let e = deliver(
            &reqwest::Client::new(),
            &sink("http://127.0.0.1:9/hook/SECRETPATH"),
            &sample(Transition::Wait),
            0,
        )
        .await
        .unwrap_err();
        assert!(e.is_retriable());
        let text = format!("{e} {e:?}");
        assert!(!text.contains("SECRETPATH"), "{text}");
    }
}
