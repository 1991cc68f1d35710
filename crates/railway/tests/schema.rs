//! Every operation we send validates against Railway's schema: the committed subset always, and
//! the full public schema from `../shared` (a developer without it is told; under CI it fails).

use std::collections::BTreeMap;
use std::path::PathBuf;

use railway::batch::{self, BatchEntry};
use railway::validate::Schema;
use serde_json::{Map, json};

fn full_schema() -> Option<String> {
    let path = test_data::shared_file("railway/schema.graphql")?;
    Some(std::fs::read_to_string(path).unwrap())
}

fn subset_schema() -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphql/schema.graphql"),
    )
    .unwrap()
}

/// Batched documents of 20 services as the client builds them, every field included.
fn generated_documents() -> Vec<(String, String)> {
    let entries = |fields: &[&'static str], with_service: bool| -> Vec<BatchEntry> {
        (0..5)
            .map(|i| {
                let mut vars = BTreeMap::from([("deploymentId", json!(format!("d{i}")))]);
                if with_service {
                    vars.insert("serviceId", json!(format!("s{i}")));
                }
                BatchEntry {
                    vars,
                    fields: fields.to_vec(),
                }
            })
            .collect()
    };
    let shared = Map::new();
    [
        (
            batch::HTTP_METRICS_TEMPLATE,
            entries(
                &[
                    "byStatus",
                    "latencyTimeline",
                    "latencyWindow",
                    "endpointLogs",
                ],
                true,
            ),
        ),
        (
            batch::HTTP_METRICS_TEMPLATE,
            entries(&["byStatus", "latencyTimeline", "latencyWindow"], true),
        ),
        (batch::HTTP_LOGS_TEMPLATE, entries(&["requests"], false)),
        (railway::BASELINE_TEMPLATE, entries(&["baseline"], true)),
        (
            batch::SERVICE_LOGS_TEMPLATE,
            entries(&["target", "build", "deploy", "http"], false),
        ),
        (railway::SERVICE_TARGETS_TEMPLATE, {
            let mut e = entries(&["instance"], true);
            e.insert(
                0,
                BatchEntry {
                    vars: BTreeMap::new(),
                    fields: vec!["project", "environment"],
                },
            );
            e
        }),
    ]
    .into_iter()
    .map(|(t, e)| {
        let doc = batch::build(t, &e, &shared).unwrap();
        (doc.operation, doc.query)
    })
    .collect()
}

/// Every committed operation file (all of `graphql/` but the schema subset itself).
fn operation_files() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphql");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "graphql")
                && p.file_name().is_some_and(|n| n != "schema.graphql")
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_operation_file_is_one_the_client_sends() {
    let mut sent: Vec<(String, String)> = railway::OPERATIONS
        .iter()
        .map(|(n, q)| ((*n).to_owned(), (*q).to_owned()))
        .collect();
    sent.sort();
    assert_eq!(operation_files(), sent);
}

fn check_all(schema: &Schema) {
    let mut docs = operation_files();
    docs.extend(generated_documents());
    for (name, query) in docs {
        let errors = schema.check(&query);
        assert!(errors.is_empty(), "{name} is invalid: {errors:#?}\n{query}");
    }
}

#[test]
fn operations_validate_against_the_committed_subset() {
    check_all(&Schema::parse(&subset_schema()).unwrap());
}

#[test]
fn operations_validate_against_the_full_schema() {
    let Some(full) = full_schema() else { return };
    check_all(&Schema::parse(&full).unwrap());
}

#[test]
fn a_wrong_query_fails_against_the_full_schema() {
    let sdl = full_schema().unwrap_or_else(subset_schema);
    let schema = Schema::parse(&sdl).unwrap();
    // The reference worker's httpLogs arguments (gone from the 2026 schema) and a misspelt field.
    let wrong = r#"query Wrong($d: String!) {
        httpLogs(deploymentId: $d, startDate: "2026-01-01T00:00:00Z") { timestamp httpStaus }
        metrics(measurements: [CPU_USAGE, GPU_USAGE], startDate: "x") { measurement }
    }"#;
    let errors = schema.check(wrong);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("unknown argument startDate")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("no field httpStaus")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("GPU_USAGE")), "{errors:?}");
}
