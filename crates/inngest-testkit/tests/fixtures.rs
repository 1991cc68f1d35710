//! Replay the recorded TS SDK exchanges (`shared/fixtures/inngest-ts-sdk/`)
//! through the wire-shape reducer and the signature code. Skipped with a note when
//! the shared directory is absent, except under CI (which has it beside the repository).

use inngest_testkit::{
    ExchangeKind, WireShape, canonical_json, hashed_signing_key, load_transcript, step_id_hash,
    verify_signature_header,
};
use std::path::PathBuf;

/// The signing key the cloud recording was made with (a test key).
const RECORDED_KEY: &str =
    "signkey-test-5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";

fn fixture(name: &str) -> Option<PathBuf> {
    test_data::shared_file(&format!("fixtures/inngest-ts-sdk/{name}"))
}

fn ops(call: &inngest_testkit::shape::CallShape) -> Vec<String> {
    call.ops
        .iter()
        .map(|o| format!("{}:{}", o.op, o.display_name.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn dev_recording_reduces_to_the_expected_shape() {
    let Some(path) = fixture("ts-sdk-4.24.0.jsonl") else {
        return;
    };
    let exchanges = load_transcript(&path).unwrap();
    assert_eq!(exchanges.len(), 25);
    let shape = WireShape::from_exchanges(&exchanges);

    let reg = &shape.register[0];
    assert_eq!(reg.deploy_type.as_deref(), Some("ping"));
    assert!(reg.sdk_header_ok);
    assert_eq!(reg.expected_server_kind.as_deref(), Some("dev"));
    assert_eq!(reg.sync_kind.as_deref(), Some("out_of_band"));
    let ids: Vec<&str> = reg.functions.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "{app}-generate-fix",
            "{app}-monitor-project-health",
            "{app}-pull-service-context"
        ]
    );
    for f in &reg.functions {
        assert_eq!(f.url_fn_id.as_deref(), Some(f.id.as_str()));
        assert_eq!(f.url_step_id.as_deref(), Some("step"));
        assert_eq!(f.url_path.as_deref(), Some("/api/inngest"));
        assert_eq!(f.runtime_type.as_deref(), Some("http"));
    }
    assert_eq!(reg.functions[0].retries, Some(2));

    let fns: Vec<&str> = shape.runs.iter().map(|r| r.fn_id.as_str()).collect();
    assert_eq!(
        fns,
        [
            "{app}-generate-fix",
            "{app}-monitor-project-health",
            "{app}-pull-service-context"
        ]
    );

    let fix = &shape.runs[0];
    let attempts: Vec<u64> = fix.calls.iter().map(|c| c.attempt.unwrap()).collect();
    assert_eq!(attempts, [0, 1, 0, 0]);
    assert_eq!(ops(&fix.calls[0]), ["StepError:draft-patch"]);
    assert_eq!(fix.calls[0].headers.no_retry.as_deref(), Some("false"));
    assert_eq!(fix.calls[0].ops[0].error.as_deref(), Some("Error"));
    assert_eq!(ops(&fix.calls[1]), ["StepRun:draft-patch"]);
    assert_eq!(fix.calls[3].status, Some(200));

    let monitor = &shape.runs[1];
    assert_eq!(
        monitor.trigger.as_deref(),
        Some("autofix/project.health.check.requested")
    );
    assert_eq!(
        ops(&monitor.calls[1]),
        [
            "StepPlanned:check-ci-status",
            "StepPlanned:check-error-rate",
            "StepPlanned:check-dependencies"
        ]
    );
    for c in &monitor.calls[2..5] {
        assert_eq!(c.disable_immediate_execution, Some(true));
        assert_eq!(
            c.ops[0].id, c.step_id,
            "a planned call answers for exactly its step"
        );
    }
    assert_eq!(monitor.calls[5].disable_immediate_execution, Some(false));
    let send = &monitor.calls[6].ops[0];
    assert_eq!(send.name.as_deref(), Some("sendEvent"));
    assert_eq!(
        send.opts,
        Some(serde_json::json!({"type": "step.sendEvent"}))
    );
    assert_eq!(send.data, Some(serde_json::json!({"ids": ["string"]})));

    let pull = &shape.runs[2];
    let first: Vec<&str> = pull.calls[0].ops.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(
        first,
        [
            step_id_hash("fetch-service", 0),
            step_id_hash("fetch-service", 1)
        ]
    );

    // Version -1 only before the SDK declared 2; every answer carries the headers.
    for run in &shape.runs {
        assert_eq!(run.calls[0].request_version, Some(-1));
        assert!(run.calls[1..].iter().all(|c| c.request_version == Some(2)));
        for c in &run.calls {
            assert!(c.headers.sdk && c.headers.json && !c.headers.signed);
            assert_eq!(c.headers.req_version.as_deref(), Some("2"));
        }
    }
    let sent: Vec<&str> = shape.events_sent.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        sent,
        ["autofix/fix.requested", "autofix/service.context.requested"]
    );
}

#[test]
fn cloud_recording_has_the_dev_shape_plus_signatures() {
    let (Some(dev), Some(cloud)) = (
        fixture("ts-sdk-4.24.0.jsonl"),
        fixture("ts-sdk-4.24.0-cloud.jsonl"),
    ) else {
        return;
    };
    let dev = WireShape::from_exchanges(&load_transcript(&dev).unwrap());
    let cloud_ex = load_transcript(&cloud).unwrap();
    let mut cloud = WireShape::from_exchanges(&cloud_ex);
    for run in &mut cloud.runs {
        for c in &mut run.calls {
            assert!(c.headers.signed, "JS signs every verified cloud response");
            c.headers.signed = false;
        }
    }
    cloud.register[0].expected_server_kind = Some("dev".into());
    cloud.assert_same_as(&dev);

    // Our signature code agrees with what the SDK accepted and produced.
    let mut checked = 0;
    for e in cloud_ex.iter().filter(|e| e.kind == ExchangeKind::Call) {
        let req_sig = &e.request.headers["x-inngest-signature"];
        let canonical = canonical_json(&e.request.body);
        assert_eq!(
            canonical, e.request.raw_body,
            "the recorder sent canonical JSON"
        );
        assert!(verify_signature_header(
            req_sig,
            canonical.as_bytes(),
            RECORDED_KEY
        ));
        let resp = e.response.as_ref().unwrap();
        let resp_sig = &resp.headers["x-inngest-signature"];
        assert!(!verify_signature_header(
            resp_sig,
            resp.raw_body.as_bytes(),
            "signkey-test-00"
        ));
        // The one StepError answer carries a stack trace whose file paths were
        // rewritten after recording, so its bytes no longer match the MAC.
        if resp.raw_body.contains("\"stack\"") {
            continue;
        }
        assert!(
            verify_signature_header(resp_sig, resp.raw_body.as_bytes(), RECORDED_KEY),
            "response of call {}",
            e.seq
        );
        checked += 1;
    }
    assert_eq!(checked, 20);
    // The register request's bearer is the hashed key (recorded before redaction
    // in the raw transcript; compare the documented prefix of the hash).
    let hashed = hashed_signing_key(RECORDED_KEY).unwrap();
    assert!(
        hashed.starts_with("signkey-test-4df293b84b7caa34"),
        "{hashed}"
    );
}
