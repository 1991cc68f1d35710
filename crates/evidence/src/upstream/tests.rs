use railway::model::{HttpLogLine, LogLine};

use super::pages::*;
use super::*;
use crate::UpstreamHealth;

fn line(severity: &str, message: &str) -> LogLine {
    LogLine {
        timestamp: "2026-11-23T09:00:00Z".into(),
        message: message.into(),
        severity: Some(severity.into()),
        attributes: Default::default(),
    }
}

fn keys(found: &[(String, String)]) -> Vec<&str> {
    found.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn manifests_of_every_ecosystem_are_read() {
    let t = ProviderTable::builtin();
    let pkg = r#"{"dependencies":{"express":"^4","stripe":"^14.0.0"},"devDependencies":{"@sentry/node":"8"}}"#;
    assert_eq!(
        keys(&providers_in_manifest(&t, "package.json", pkg)),
        ["stripe", "sentry"]
    );

    let req = "# payments\nDjango==5.0\nOpenAI>=1.2 ; python_version > '3.8'\n-r other.txt\nsentry_sdk[flask]\n";
    assert_eq!(
        keys(&providers_in_manifest(&t, "requirements.txt", req)),
        ["openai", "sentry"]
    );

    let pyproject = "[project]\nname='x'\ndependencies=['anthropic>=0.30', 'httpx']\n[tool.poetry.dependencies]\ntwilio = '^9'\n";
    assert_eq!(
        keys(&providers_in_manifest(&t, "svc/pyproject.toml", pyproject)),
        ["anthropic", "twilio"]
    );

    let cargo = "[package]\nname='x'\n[dependencies]\nasync_openai = '0.2'\npay = { package = 'async-stripe', version = '0.39' }\n[target.'cfg(unix)'.dependencies]\nsentry = '0.34'\n";
    assert_eq!(
        keys(&providers_in_manifest(&t, "Cargo.toml", cargo)),
        ["stripe", "openai", "sentry"]
    );

    let gomod = "module example.com/app\n\ngo 1.22\n\nrequire (\n\tgithub.com/stripe/stripe-go/v76 v76.0.0 // indirect\n\tgithub.com/lib/pq v1.10.9\n)\nrequire github.com/twilio/twilio-go v1.0.0\n";
    assert_eq!(
        keys(&providers_in_manifest(&t, "go.mod", gomod)),
        ["stripe", "twilio"]
    );

    let gemfile = "source 'https://rubygems.org'\ngem \"rails\", \"~> 7.1\"\n  gem 'sendgrid-ruby'\n# gem 'stripe'\n";
    assert_eq!(
        keys(&providers_in_manifest(&t, "Gemfile", gemfile)),
        ["sendgrid"]
    );

    let evidence = &providers_in_manifest(&t, "package.json", pkg)[0].1;
    assert_eq!(evidence, "manifest:package.json (stripe)");
}

#[test]
fn broken_manifests_are_no_evidence() {
    let t = ProviderTable::builtin();
    assert!(providers_in_manifest(&t, "package.json", "{not json").is_empty());
    assert!(providers_in_manifest(&t, "Cargo.toml", "[[[").is_empty());
    assert!(providers_in_manifest(&t, "README.md", "stripe").is_empty());
}

#[test]
fn hosts_come_from_error_lines_only_and_skip_refused_connections() {
    let t = ProviderTable::builtin();
    let logs = ServiceLogs {
        deploy: vec![
            line("info", "calling api.openai.com for embeddings"),
            line(
                "error",
                "StripeConnectionError: request to https://api.stripe.com/v1/charges failed",
            ),
            line("error", "connect ECONNREFUSED api.twilio.com:443"),
            line("info", "Error: getaddrinfo ENOTFOUND api.anthropic.com"),
        ],
        http: vec![HttpLogLine {
            timestamp: "2026-11-23T09:00:00Z".into(),
            method: "POST".into(),
            path: "/checkout".into(),
            status: 502,
            total_duration_ms: 30_000,
            upstream_duration_ms: None,
            response_details: Some("upstream hooks.slack.com timed out".into()),
            request_id: None,
        }],
        ..Default::default()
    };
    let hosts = hosts_in_logs(&logs);
    assert!(hosts.contains("api.stripe.com"));
    assert!(hosts.contains("hooks.slack.com"));
    assert!(
        !hosts.contains("api.openai.com"),
        "info line without error words"
    );
    assert!(
        !hosts.contains("api.twilio.com"),
        "ECONNREFUSED lines are skipped"
    );
    let found = providers_in_hosts(&t, &hosts);
    assert_eq!(keys(&found), ["stripe", "anthropic"]);
    assert_eq!(found[0].1, "log-host:api.stripe.com");
}

#[test]
fn host_suffix_match_needs_a_dot_boundary() {
    let t = ProviderTable::builtin();
    let hosts: BTreeSet<String> = ["notstripe.com".to_owned(), "xsupabase.co".to_owned()].into();
    assert!(providers_in_hosts(&t, &hosts).is_empty());
    let hosts: BTreeSet<String> = ["abc123.supabase.co".to_owned()].into();
    assert_eq!(keys(&providers_in_hosts(&t, &hosts)), ["supabase"]);
}

#[test]
fn table_extends_and_overrides_from_json() {
    let json = r#"[
        {"key":"acme-pay","name":"Acme Pay","packages":{"npm":["@acme/pay"]},"hosts":["API.AcmePay.com."],"status_page":"https://status.acmepay.com"},
        {"key":"acme-cards","name":"Acme Cards","hosts":["cards.acme.com"],"status_page":"https://status.acme.com","status_api":"stripe_current"},
        {"key":"stripe","name":"Stripe (mirror)","hosts":["stripe.com"],"status_page":"https://stripe-status.example"}
    ]"#;
    let t = ProviderTable::builtin().with_extra_json(json).unwrap();
    let acme = t.get("acme-pay").unwrap();
    assert_eq!(acme.hosts, ["api.acmepay.com"]);
    assert_eq!(t.get("stripe").unwrap().name, "Stripe (mirror)");
    assert_eq!(
        t.get("acme-cards").unwrap().status_api,
        StatusApi::StripeCurrent
    );
    assert_eq!(acme.status_api, StatusApi::Statuspage);
    assert_eq!(
        t.providers().len(),
        ProviderTable::builtin().providers().len() + 2
    );

    for bad in [
        r#"[{"key":"Bad Key","name":"x"}]"#,
        r#"[{"key":"x","name":""}]"#,
        r#"[{"key":"x","name":"X","hosts":["http://x.com/"]}]"#,
        r#"[{"key":"x","name":"X","status_page":"ftp://x.com"}]"#,
        r#"[{"key":"x","name":"X","homepage":"typo"}]"#,
        r#"{"key":"x"}"#,
        r#"[{"key":"x","name":"X","status_api":"rss"}]"#,
    ] {
        assert!(
            ProviderTable::builtin().with_extra_json(bad).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn status_override_rewrites_every_provider() {
    let t = ProviderTable::builtin()
        .with_status_base_override(Url::parse("http://127.0.0.1:9/").unwrap());
    for p in t.providers() {
        assert_eq!(
            p.status_page.as_ref().unwrap().as_str(),
            format!("http://127.0.0.1:9/{}", p.key)
        );
    }
    let base = Url::parse("http://127.0.0.1:9/stripe").unwrap();
    assert_eq!(
        document_url(&base, STATUSPAGE_STATUS_PATH).as_str(),
        "http://127.0.0.1:9/stripe/api/v2/status.json"
    );
    let base = Url::parse("https://status.openai.com").unwrap();
    assert_eq!(
        document_url(&base, STATUSPAGE_STATUS_PATH).as_str(),
        "https://status.openai.com/api/v2/status.json"
    );
}

fn status(indicator: &str) -> Result<StatuspageStatus, &'static str> {
    Ok(StatuspageStatus {
        status: StatuspageIndicator {
            indicator: indicator.into(),
        },
    })
}

fn incidents(names: &[&str]) -> Result<StatuspageIncidents, &'static str> {
    Ok(StatuspageIncidents {
        incidents: names
            .iter()
            .map(|n| StatuspageIncident {
                name: (*n).into(),
                impact: Some("major".into()),
                status: Some("investigating".into()),
            })
            .collect(),
    })
}

#[test]
fn stripe_current_is_read_like_the_stripe_cli_does() {
    let doc = |status: &str, message: &str| -> Result<_, &str> {
        Ok(StripeCurrent {
            largestatus: status.into(),
            message: Some(message.into()),
        })
    };
    let r = stripe_reading("Stripe", doc("down", "API requests are failing"));
    assert_eq!(
        (r.health, r.incidents),
        (
            UpstreamHealth::Incident,
            vec!["API requests are failing".to_owned()]
        )
    );
    let r = stripe_reading("Stripe", doc("degraded", "Elevated latency"));
    assert_eq!(r.health, UpstreamHealth::Degraded);
    let r = stripe_reading("Stripe", doc("up", "Everything operating normally"));
    assert_eq!(
        (r.health, r.incidents.len()),
        (UpstreamHealth::Operational, 0)
    );
    let r = stripe_reading::<&str>("Stripe", Err("HTTP 503"));
    assert_eq!(r.health, UpstreamHealth::Unknown);
    assert_eq!(
        ProviderTable::builtin().get("stripe").unwrap().status_api,
        StatusApi::StripeCurrent
    );
}

#[test]
fn readings_combine_indicator_and_incidents() {
    let r = statuspage_reading(
        "Stripe",
        status("major"),
        incidents(&["# Elevated \u{1b}[31merrors"]),
    );
    assert_eq!(r.health, UpstreamHealth::Incident);
    assert_eq!(r.incidents, ["\\# Elevated errors (major, investigating)"]);

    assert_eq!(
        statuspage_reading("X", status("none"), incidents(&[])).health,
        UpstreamHealth::Operational
    );
    assert_eq!(
        statuspage_reading("X", status("minor"), incidents(&[])).health,
        UpstreamHealth::Degraded
    );
    assert_eq!(
        statuspage_reading("X", status("none"), Err("HTTP 500")).health,
        UpstreamHealth::Operational,
        "the overall indicator is enough"
    );
    let r = statuspage_reading("X", Err("timed out after 3s"), Err("HTTP 500"));
    assert_eq!(r.health, UpstreamHealth::Unknown);
    assert_eq!(
        r.note.as_deref(),
        Some("status page of X unreadable: timed out after 3s")
    );
}

/// A manifest of `eco` that declares `package`, in the file the ecosystem uses.
fn manifest_declaring(eco: Ecosystem, package: &str) -> (&'static str, String) {
    match eco {
        Ecosystem::Npm => (
            "package.json",
            format!(r#"{{"dependencies":{{"{package}":"1"}}}}"#),
        ),
        Ecosystem::Pypi => ("requirements.txt", format!("{package}>=1\n")),
        Ecosystem::Cargo => (
            "Cargo.toml",
            format!("[dependencies]\n\"{package}\" = \"1\"\n"),
        ),
        Ecosystem::Go => ("go.mod", format!("module x\n\nrequire {package} v1.0.0\n")),
        Ecosystem::Gem => ("Gemfile", format!("gem '{package}'\n")),
    }
}

#[test]
fn the_built_in_data_file_parses_and_every_row_is_reachable() {
    // The data file is read by the same parser as AUTOFIX_PROVIDERS_JSON; a malformed row fails
    // here, with its reason, instead of in production.
    let parsed = parse_providers(BUILTIN_JSON).unwrap_or_else(|e| panic!("providers.json: {e}"));
    let rows: Vec<serde_json::Value> = serde_json::from_str(BUILTIN_JSON).unwrap();
    let table = ProviderTable::builtin();
    assert_eq!(table.providers(), parsed.as_slice());
    assert_eq!(rows.len(), table.providers().len(), "every row parsed");
    let keys: BTreeSet<&str> = table.providers().iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys.len(), rows.len(), "keys are unique");
    for p in table.providers() {
        assert!(!p.hosts.is_empty(), "{}: no host", p.key);
        for host in &p.hosts {
            let found = providers_in_hosts(&table, &BTreeSet::from([host.clone()]));
            assert!(found.iter().any(|(k, _)| *k == p.key), "{}: {host}", p.key);
        }
        for (_, eco) in MANIFESTS {
            for package in p.packages.of(eco) {
                let (file, text) = manifest_declaring(eco, package);
                let found = providers_in_manifest(&table, file, &text);
                assert!(
                    found.iter().any(|(k, _)| *k == p.key),
                    "{}: {package} in {file}",
                    p.key
                );
            }
        }
    }

    // The check above is not vacuous: the same data with one misspelt field, or one bad host, is
    // refused by the parser the built-in table goes through.
    let misspelt = BUILTIN_JSON.replacen("\"status_page\"", "\"statuspage\"", 1);
    assert!(parse_providers(&misspelt).is_err());
    let bad_host = BUILTIN_JSON.replacen("\"stripe.com\"", "\"https://stripe.com/\"", 1);
    assert!(parse_providers(&bad_host).is_err());
}

fn provider_logs(hosts: &[&str]) -> ServiceLogs {
    ServiceLogs {
        deploy: hosts
            .iter()
            .map(|h| line("error", &format!("request to https://{h}/v1 failed")))
            .collect(),
        ..Default::default()
    }
}

#[test]
fn selection_checks_log_providers_first_and_names_what_the_cap_left_out() {
    let t = ProviderTable::builtin();
    let logs = provider_logs(&["api.stripe.com", "api.openai.com"]);
    let mut s = Selection::from_logs(&t, &logs, 2);
    assert_eq!(s.log_providers(), ["stripe", "openai"], "in table order");
    // The manifests confirm one and add two more: no room is left for them.
    let second = s.add_manifests(vec![
        ("stripe".into(), "manifest:package.json (stripe)".into()),
        ("twilio".into(), "manifest:package.json (twilio)".into()),
        (
            "sentry".into(),
            "manifest:package.json (@sentry/node)".into(),
        ),
    ]);
    assert!(second.is_empty(), "{second:?}");
    let reading = |health| PageReading {
        health,
        incidents: Vec::new(),
        note: None,
    };
    let (statuses, notes) = s.statuses([
        (
            t.get("openai").unwrap(),
            reading(UpstreamHealth::Operational),
        ),
        (t.get("stripe").unwrap(), reading(UpstreamHealth::Incident)),
    ]);
    assert_eq!(notes, ["2 more providers not checked: sentry, twilio"]);
    assert_eq!(statuses[0].provider, "stripe", "worst health first");
    assert_eq!(
        statuses[0].evidence,
        ["log-host:api.stripe.com", "manifest:package.json (stripe)"]
    );

    // With room, manifest-only providers are the second batch; a cap of 0 still checks one.
    let mut s = Selection::from_logs(&t, &provider_logs(&["api.stripe.com"]), 3);
    let second = s.add_manifests(vec![
        ("twilio".into(), "manifest:go.mod (twilio)".into()),
        ("sentry".into(), "manifest:go.mod (sentry)".into()),
        ("openai".into(), "manifest:go.mod (openai)".into()),
    ]);
    assert_eq!(second, ["openai", "sentry"]);
    assert_eq!(Selection::from_logs(&t, &logs, 0).log_providers().len(), 1);
}

#[test]
fn manifest_paths_include_the_service_root_directory() {
    assert_eq!(manifest_paths(None).len(), MANIFESTS.len());
    assert_eq!(manifest_paths(Some("/")).len(), MANIFESTS.len());
    assert_eq!(manifest_paths(Some(".")).len(), MANIFESTS.len());
    let paths = manifest_paths(Some("/services/api/"));
    assert_eq!(paths.len(), 2 * MANIFESTS.len());
    assert!(paths.contains(&"services/api/go.mod".to_owned()));
}
