//! Unit tests over plain data: prompt budget, schema, validation, rules.

use detect::{FindingKind, Severity};
use evidence::{UpstreamHealth, UpstreamStatus};
use serde_json::{Value, json};

use crate::test_support::*;
use crate::*;

fn valid_plan(input: &AnalysisInput) -> Value {
    json!({
        "summary": "The api leaks memory in its request cache.",
        "root_causes": [{"cause": "unbounded cache", "evidence": [input.findings[0].fingerprint, "log:api#2"], "services": ["api"]}],
        "affected_services": ["api"],
        "actions": [{"repo": "acme/api", "action": "fix", "rationale": "bound the request cache"}],
        "recommendations": ["bound the cache"],
        "debugging_steps": ["heap snapshot"],
        "confidence": 0.8
    })
}

// ---------------------------------------------------------------- prompt budget

#[test]
fn generous_budget_keeps_everything() {
    let input = leak_input();
    let p = build_prompt(&input, &PromptBudget::default());
    assert!(p.dropped.is_empty(), "{:?}", p.dropped);
    for needle in [
        "[log:api#1]",
        "[log:api#3]",
        "[http:api#1]",
        "Samples of [log:api#3]",
        "upstream connection reset",
        "acme/api",
        &input.findings[0].fingerprint,
    ] {
        assert!(p.user.contains(needle), "missing {needle}");
    }
    assert!(p.tokens_estimate <= PromptBudget::default().max_prompt_tokens);
    assert_eq!(
        p.tokens_estimate,
        estimate_tokens(&p.system)
            + estimate_tokens(&p.user)
            + estimate_tokens(&p.schema.to_string())
    );
}

#[test]
fn tight_budget_drops_samples_first_and_never_cuts_lines() {
    let input = leak_input();
    let full = build_prompt(&input, &PromptBudget::default());
    // Room for everything except the sample blocks: they go first.
    let without_samples = full.tokens_estimate - 60;
    let p = build_prompt(
        &input,
        &PromptBudget {
            max_prompt_tokens: without_samples,
            max_output_tokens: 100,
        },
    );
    assert!(
        p.tokens_estimate <= without_samples,
        "{} > {without_samples}",
        p.tokens_estimate
    );
    assert!(p.user.contains("[log:api#1]") && p.user.contains("[http:api#1]"));
    assert!(
        p.dropped
            .iter()
            .any(|d| d.contains("sample") || d.contains("detail")),
        "{:?}",
        p.dropped
    );
    assert!(
        p.dropped.iter().all(|d| !d.contains("error/warning")),
        "{:?}",
        p.dropped
    );

    let full_lines: std::collections::BTreeSet<&str> = full.user.lines().collect();
    for line in p.user.lines() {
        let is_trailer = line.starts_with("- api:") || line.starts_with("## Left out");
        assert!(
            is_trailer || full_lines.contains(line),
            "line was cut or invented: {line:?}"
        );
    }
}

#[test]
fn tiny_budget_keeps_findings_and_records_the_overrun() {
    let input = leak_input();
    let p = build_prompt(
        &input,
        &PromptBudget {
            max_prompt_tokens: 50,
            max_output_tokens: 100,
        },
    );
    assert!(p.user.contains(&input.findings[0].fingerprint));
    assert!(p.user.contains("memory +310 MB/h"));
    assert!(!p.user.contains("[log:api#1]"));
    assert!(p.dropped[0].starts_with("over budget"), "{:?}", p.dropped);
    assert!(
        p.dropped
            .iter()
            .any(|d| d == "api: 2 error/warning log patterns"),
        "{:?}",
        p.dropped
    );
    assert!(
        p.dropped.iter().any(|d| d == "api: 3 log sample blocks"),
        "{:?}",
        p.dropped
    );
}

#[test]
fn priority_order_error_patterns_before_http_before_others() {
    let input = leak_input();
    let full = build_prompt(&input, &PromptBudget::default());
    let mut kept_http_without_all_errors = false;
    for cap in (full.tokens_estimate.saturating_sub(400)..=full.tokens_estimate).step_by(5) {
        let p = build_prompt(
            &input,
            &PromptBudget {
                max_prompt_tokens: cap,
                max_output_tokens: 100,
            },
        );
        assert!(
            p.tokens_estimate <= cap
                || p.dropped
                    .first()
                    .is_some_and(|d| d.starts_with("over budget"))
        );
        if p.user.contains("[http:api#1]") && !p.user.contains("[log:api#2]") {
            kept_http_without_all_errors = true;
        }
        if p.user.contains("Samples of") {
            assert!(
                p.user.contains("[log:api#3]"),
                "samples kept while an info pattern was dropped at cap {cap}"
            );
        }
    }
    assert!(!kept_http_without_all_errors);
}

#[test]
fn pattern_lines_carry_short_timestamps() {
    let mut p = pattern("error", "boom", &[]);
    p.first_seen = "2027-01-15T00:00:32.060965683Z".into();
    p.last_seen = "2027-01-15T00:10:00.5+02:00".into();
    assert_eq!(
        crate::prompt::pattern_line("log:api#1", &p),
        "- [log:api#1] error ×120 in deploy logs (2027-01-15T00:00:32Z … 2027-01-15T00:10:00+02:00): boom\n"
    );
    p.last_seen = "2027-01-15T00:00:32.1Z".into();
    assert!(crate::prompt::pattern_line("x", &p).contains("(at 2027-01-15T00:00:32Z)"));
}

#[test]
fn token_estimate_is_chars_over_four_rounded_up() {
    assert_eq!(estimate_tokens(""), 0);
    assert_eq!(estimate_tokens("abcd"), 1);
    assert_eq!(estimate_tokens("abcde"), 2);
    assert_eq!(estimate_tokens("ééééé"), 2);
}

// ---------------------------------------------------------------- schema & validation

fn assert_strict(schema: &Value, path: &str) {
    if schema.get("type") == Some(&json!("object")) {
        assert_eq!(schema["additionalProperties"], json!(false), "{path}");
        let props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort();
        let mut props: Vec<&str> = props.iter().map(|s| s.as_str()).collect();
        props.sort();
        assert_eq!(props, required, "{path}");
        for (k, v) in schema["properties"].as_object().unwrap() {
            assert_strict(v, &format!("{path}.{k}"));
        }
    }
    if let Some(items) = schema.get("items") {
        assert_strict(items, &format!("{path}[]"));
    }
}

#[test]
fn schema_follows_strict_mode_and_matches_the_plan_type() {
    let input = leak_input();
    let schema = plan_schema(&input);
    assert_strict(&schema, "$");
    assert_eq!(
        schema["properties"]["actions"]["items"]["properties"]["repo"]["enum"],
        json!(["acme/api"])
    );
    // Every property the schema requires is accepted by the Rust type, and vice versa.
    let plan = valid_plan(&input);
    let keys: Vec<&String> = plan.as_object().unwrap().keys().collect();
    let props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), props.len());
    assert!(validate_plan(&plan.to_string(), &input).is_ok());
}

#[test]
fn validation_reports_every_semantic_problem() {
    let input = leak_input();
    let mut plan = valid_plan(&input);
    plan["confidence"] = json!(1.5);
    plan["actions"] = json!([
        {"repo": "evil/repo", "action": "fix", "rationale": "x"},
        {"repo": "acme/api", "action": "fix", "rationale": "x"},
        {"repo": "acme/api", "action": "wait", "rationale": "x"}
    ]);
    plan["root_causes"][0]["evidence"] = json!(["log:api#99"]);
    plan["affected_services"] = json!(["billing"]);
    let problems = validate_plan(&plan.to_string(), &input).unwrap_err();
    let text = problems.join("\n");
    for needle in [
        "confidence must be between 0 and 1",
        "\"evil/repo\"",
        "more than once",
        "\"log:api#99\"",
        "\"billing\"",
    ] {
        assert!(text.contains(needle), "missing {needle} in {text}");
    }
}

#[test]
fn validation_rejects_malformed_json_and_accepts_a_fenced_answer() {
    let input = leak_input();
    let err = validate_plan("{\"summary\": \"x\"", &input).unwrap_err();
    assert!(
        err[0].contains("not a JSON object matching the schema"),
        "{err:?}"
    );
    let missing = validate_plan(r#"{"summary":"x"}"#, &input).unwrap_err();
    assert!(missing[0].contains("missing field"), "{missing:?}");
    let fenced = format!("```json\n{}\n```", valid_plan(&input));
    assert!(validate_plan(&fenced, &input).is_ok());
}

// ---------------------------------------------------------------- rule-based

#[test]
fn rule_based_leak_means_fix_with_conservative_confidence() {
    let input = leak_input();
    let a = rule_based(&input);
    assert_eq!(a.source, AnalysisSource::RuleBased);
    assert_eq!(
        serde_json::to_value(&a.source).unwrap(),
        json!("rule-based")
    );
    assert_eq!(
        a.actions,
        vec![RepoAction {
            repo: "acme/api".into(),
            action: Action::Fix,
            rationale: a.actions[0].rationale.clone()
        }]
    );
    assert!(a.actions[0].rationale.contains("unbounded caches"));
    assert_eq!(a.confidence, 0.65);
    assert_eq!(
        a.affected_services,
        vec!["api".to_string()],
        "observations are not incidents"
    );
    assert!(
        a.root_causes[0]
            .evidence
            .contains(&input.findings[0].fingerprint)
    );
    assert!(
        a.root_causes[0].evidence.contains(&"log:api#1".to_string()),
        "heap error cited"
    );
    // Its own output passes the validation an LLM answer must pass.
    let as_plan = json!({
        "summary": a.summary, "root_causes": a.root_causes, "affected_services": a.affected_services,
        "actions": a.actions, "recommendations": a.recommendations, "debugging_steps": a.debugging_steps,
        "confidence": a.confidence
    });
    validate_plan(&as_plan.to_string(), &input).unwrap();
}

#[test]
fn rule_based_upstream_incident_means_wait() {
    let mut input = leak_input();
    input.findings = vec![finding(
        "svc-api",
        "api",
        FindingKind::ErrorRate5xx,
        Severity::Critical,
        "5xx 12% of 4000 requests",
    )];
    input.contexts[0].upstreams = vec![UpstreamStatus {
        provider: "stripe".into(),
        name: "Stripe".into(),
        evidence: vec!["manifest:package.json".into()],
        health: UpstreamHealth::Incident,
        incidents: vec!["Elevated API errors".into()],
    }];
    let a = rule_based(&input);
    assert_eq!(a.actions[0].action, Action::Wait);
    assert!(a.actions[0].rationale.contains("Stripe"));
    assert!(
        a.root_causes[0]
            .evidence
            .contains(&"upstream:stripe".to_string())
    );
}

#[test]
fn rule_based_latency_with_slow_queries_means_fix_and_without_means_investigate() {
    let mut input = leak_input();
    input.findings = vec![finding(
        "svc-api",
        "api",
        FindingKind::Latency,
        Severity::Warning,
        "p95 2.4 s",
    )];
    let a = rule_based(&input);
    assert_eq!(a.actions[0].action, Action::Investigate);
    input.contexts[0].log_patterns.push(pattern(
        "warn",
        "slow query: SELECT * FROM orders WHERE user_id = <n> took <n>ms",
        &[],
    ));
    let a = rule_based(&input);
    assert_eq!(a.actions[0].action, Action::Fix);
    assert!(a.actions[0].rationale.contains("index"));
    assert!(a.root_causes[0].evidence.contains(&"log:api#4".to_string()));
}

#[test]
fn rule_based_latency_cites_slow_statements_logged_by_the_database() {
    let mut input = leak_input();
    input.findings = vec![finding(
        "svc-api",
        "api",
        FindingKind::Latency,
        Severity::Critical,
        "p95 5.2 s",
    )];
    let mut pg = context("svc-pg", "postgres", None);
    pg.log_patterns = vec![pattern(
        "info",
        "<ts> UTC [<n>] LOG:  duration: <n> ms  statement: SELECT * FROM orders WHERE account_id = $<n>",
        &[],
    )];
    input.contexts.push(pg);
    let a = rule_based(&input);
    assert_eq!(a.actions[0].action, Action::Fix);
    assert!(
        a.root_causes[0]
            .evidence
            .contains(&"log:postgres#1".to_string()),
        "{:?}",
        a.root_causes
    );
}

#[test]
fn rule_based_crash_depends_on_the_logs_and_nothing_means_nothing() {
    let mut input = leak_input();
    input.findings = vec![finding(
        "svc-api",
        "api",
        FindingKind::Deployment,
        Severity::Critical,
        "deployment CRASHED",
    )];
    input.contexts[0].log_patterns = vec![pattern("error", "connection refused to <ip>:<n>", &[])];
    assert_eq!(rule_based(&input).actions[0].action, Action::Investigate);
    input.contexts[0].log_patterns.push(pattern(
        "error",
        "TypeError: Cannot read properties of undefined (reading 'id')",
        &[],
    ));
    let a = rule_based(&input);
    assert_eq!(a.actions[0].action, Action::Fix);
    assert!(a.confidence <= 0.65);

    input.findings.clear();
    let a = rule_based(&input);
    assert!(a.actions.is_empty() && a.root_causes.is_empty());
    assert_eq!(a.confidence, 0.0);
}

#[test]
fn samples_equal_to_their_pattern_are_not_repeated() {
    let mut input = leak_input();
    input.contexts[0].log_patterns = vec![pattern("warn", "slow request", &["slow request"])];
    let p = build_prompt(&input, &PromptBudget::default());
    assert!(!p.user.contains("Samples of"), "{}", p.user);
}

#[test]
fn fence_outgrows_backticks_in_content() {
    assert_eq!(fence("plain"), "```");
    assert_eq!(fence("a ``` b"), "````");
    assert_eq!(fence("`````"), "``````");
}
