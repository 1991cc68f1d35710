//! Checks our request bodies and the response fields we read against the OpenAPI document
//! served by the pinned OpenCode (1.18.33). The document is a data file outside the project
//! (`../shared/opencode/openapi-1.18.33.json`); without it the test is skipped with a note, and
//! fails under CI.
//! `OPENCODE_OPENAPI_JSON` points at another copy.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::types::{ModelRef, PromptRequest};

fn load() -> Option<Value> {
    let path = match std::env::var_os("OPENCODE_OPENAPI_JSON") {
        Some(path) => PathBuf::from(path),
        None => test_data::shared_file("opencode/openapi-1.18.33.json")?,
    };
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read the OpenAPI document {}: {e}", path.display()));
    Some(serde_json::from_slice(&bytes).expect("OpenAPI document is JSON"))
}

struct Doc(Value);

impl Doc {
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/components/schemas/").expect("local ref");
                self.resolve(&self.0["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// The schema variants of a (possibly `anyOf`) schema, refs resolved, flattened.
    fn variants<'a>(&'a self, schema: &'a Value) -> Vec<&'a Value> {
        let schema = self.resolve(schema);
        match schema.get("anyOf").and_then(Value::as_array) {
            Some(list) => list.iter().flat_map(|s| self.variants(s)).collect(),
            None => vec![schema],
        }
    }

    /// The variant whose `field` is the constant `value` (e.g. `type` = `text`).
    fn variant<'a>(&'a self, schema: &'a Value, field: &str, value: &str) -> &'a Value {
        self.variants(schema)
            .into_iter()
            .find(|v| v["properties"][field]["enum"] == json!([value]))
            .unwrap_or_else(|| panic!("no variant with {field} = {value}"))
    }

    fn operation(&self, path: &str, method: &str) -> &Value {
        let op = &self.0["paths"][path][method];
        assert!(
            op.is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
        op
    }

    fn json_response(&self, path: &str, method: &str, status: &str) -> &Value {
        let schema = &self.operation(path, method)["responses"][status]["content"]["application/json"]
            ["schema"];
        assert!(
            !schema.is_null(),
            "{method} {path} has no {status} JSON response"
        );
        self.resolve(schema)
    }

    fn request_schema(&self, path: &str, method: &str) -> &Value {
        self.resolve(
            &self.operation(path, method)["requestBody"]["content"]["application/json"]["schema"],
        )
    }
}

fn assert_has(schema: &Value, fields: &[&str], what: &str) {
    for field in fields {
        assert!(
            schema["properties"].get(*field).is_some(),
            "{what}: field {field:?} not in schema"
        );
    }
}

/// A value conforms to a schema as far as we care: no unknown keys where
/// `additionalProperties` is false, required keys present, nested values checked too.
fn conforms(doc: &Doc, schema: &Value, value: &Value, what: &str) -> Result<(), String> {
    let schema = doc.resolve(schema);
    if let Some(variants) = schema.get("anyOf").and_then(Value::as_array) {
        return if variants
            .iter()
            .any(|v| conforms(doc, v, value, what).is_ok())
        {
            Ok(())
        } else {
            Err(format!("{what}: {value} matches no variant"))
        };
    }
    match (schema.get("type").and_then(Value::as_str), value) {
        (Some("object"), Value::Object(map)) => {
            let props = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            if schema.get("additionalProperties") == Some(&Value::Bool(false))
                && let Some(key) = map.keys().find(|k| !props.contains_key(*k))
            {
                return Err(format!("{what}: unknown key {key:?}"));
            }
            for req in schema["required"].as_array().into_iter().flatten() {
                let req = req.as_str().unwrap_or_default();
                if !map.contains_key(req) {
                    return Err(format!("{what}: required key {req:?} missing"));
                }
            }
            for (key, v) in map {
                if let Some(s) = props.get(key) {
                    conforms(doc, s, v, &format!("{what}.{key}"))?;
                }
            }
            Ok(())
        }
        (Some("array"), Value::Array(items)) => {
            items.iter().enumerate().try_for_each(|(i, item)| {
                conforms(doc, &schema["items"], item, &format!("{what}[{i}]"))
            })
        }
        (Some("string"), Value::String(_)) | (Some("boolean"), Value::Bool(_)) => {
            match schema.get("enum").and_then(Value::as_array) {
                Some(allowed) if !allowed.contains(value) => {
                    Err(format!("{what}: {value} not in {allowed:?}"))
                }
                _ => Ok(()),
            }
        }
        (None, _) => Ok(()),
        (Some(other), v) => Err(format!("{what}: expected {other}, got {v}")),
    }
}

fn assert_conforms(doc: &Doc, schema: &Value, value: &Value, what: &str) {
    if let Err(e) = conforms(doc, schema, value, what) {
        panic!("{e}");
    }
}

#[test]
fn our_calls_match_the_pinned_openapi_document() {
    let Some(raw) = load() else { return };
    let doc = Doc(raw);

    // Every route we call exists, and session routes take the `directory` query parameter.
    for (path, method) in [
        ("/session", "post"),
        ("/session/{sessionID}/prompt_async", "post"),
        ("/session/status", "get"),
        ("/session/{sessionID}/message", "get"),
        ("/session/{sessionID}/abort", "post"),
        ("/session/{sessionID}", "delete"),
    ] {
        let params = doc.operation(path, method)["parameters"]
            .as_array()
            .unwrap();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "directory" && p["in"] == "query"),
            "{method} {path} lacks ?directory"
        );
    }
    assert!(
        doc.operation("/session/{sessionID}/prompt_async", "post")["responses"]["204"].is_object()
    );
    let message_params = doc.operation("/session/{sessionID}/message", "get")["parameters"]
        .as_array()
        .unwrap();
    assert!(
        message_params
            .iter()
            .any(|p| p["name"] == "limit" && p["in"] == "query")
    );

    // Request bodies: exactly what the client sends.
    let create = doc.request_schema("/session", "post");
    assert_conforms(
        &doc,
        create,
        &json!({"title": "Autofix: api crash loop"}),
        "create body",
    );
    let prompt_schema = doc.request_schema("/session/{sessionID}/prompt_async", "post");
    let full = PromptRequest {
        text: "fix".into(),
        model: Some(ModelRef::new("fake", "fake-model")),
        agent: Some("build".into()),
        system: Some("extra".into()),
    };
    for req in [full, PromptRequest::new("fix")] {
        let body = serde_json::to_value(req.body()).unwrap();
        assert_conforms(&doc, prompt_schema, &body, "prompt body");
    }
    // The checker itself must reject what the server would answer with `400 BadRequest`.
    for rejected in [
        json!({"parts": [], "temperature": 1}),
        json!({"model": {"providerID": "a"}}),
        json!({"parts": [{"type": "text"}]}),
    ] {
        assert!(
            conforms(&doc, prompt_schema, &rejected, "x").is_err(),
            "{rejected}"
        );
    }

    // Responses: every field we read is declared.
    assert_has(
        doc.json_response("/global/health", "get", "200"),
        &["healthy", "version"],
        "health",
    );
    assert_has(
        doc.json_response("/config", "get", "200"),
        &["model"],
        "Config",
    );
    let session = doc.json_response("/session", "post", "200");
    assert_has(
        session,
        &["id", "slug", "projectID", "directory", "title", "version"],
        "Session",
    );

    let status = doc.json_response("/session/status", "get", "200");
    let entry = &status["additionalProperties"];
    doc.variant(entry, "type", "idle");
    doc.variant(entry, "type", "busy");
    assert_has(
        doc.variant(entry, "type", "retry"),
        &["attempt", "message"],
        "retry status",
    );

    let messages = doc.json_response("/session/{sessionID}/message", "get", "200");
    let item = doc.resolve(&messages["items"]);
    assert_has(item, &["info", "parts"], "message item");
    let assistant = doc.variant(&item["properties"]["info"], "role", "assistant");
    assert_has(
        assistant,
        &[
            "id",
            "role",
            "parentID",
            "time",
            "finish",
            "error",
            "providerID",
            "modelID",
        ],
        "AssistantMessage",
    );
    assert_has(
        doc.resolve(&assistant["properties"]["time"]),
        &["completed"],
        "time",
    );
    // `data.message` is optional for us: MessageOutputLengthError has an empty `data`.
    let errors = doc.variants(&assistant["properties"]["error"]);
    assert!(errors.len() >= 8, "error variants: {}", errors.len());
    for error in errors {
        assert_has(error, &["name", "data"], "message error");
        assert_eq!(doc.resolve(&error["properties"]["data"])["type"], "object");
    }
    doc.variant(&item["properties"]["info"], "role", "user");
    let parts = &item["properties"]["parts"]["items"];
    assert_has(
        doc.variant(parts, "type", "text"),
        &["text", "synthetic", "ignored"],
        "TextPart",
    );
    let tool = doc.variant(parts, "type", "tool");
    assert_has(tool, &["tool", "state"], "ToolPart");
    for state in doc.variants(&tool["properties"]["state"]) {
        assert_has(state, &["status"], "ToolState");
    }

    // Error bodies the client parses.
    let schemas = &doc.0["components"]["schemas"];
    assert_has(
        &schemas["NotFoundError"],
        &["name", "data"],
        "NotFoundError",
    );
    assert_has(
        &schemas["UnknownError"]["properties"]["data"],
        &["message", "ref"],
        "UnknownError",
    );
    assert_has(
        &schemas["InvalidRequestError"],
        &["_tag", "message", "field"],
        "InvalidRequestError",
    );
}
