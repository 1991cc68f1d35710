//! The README's reference sections stay true to the code.

const README: &str = include_str!("../../../README.md");

/// The `kind` values the README's `check --json` example lists.
fn documented_kinds() -> Vec<String> {
    let line = README
        .lines()
        .find(|l| l.contains("\"kind\":") && l.contains("//"))
        .expect("the README's check --json example documents `kind`");
    let list = line.split("//").nth(1).unwrap();
    list.split('|').map(|k| k.trim().to_owned()).collect()
}

#[test]
fn finding_kinds_serialise_as_the_readme_documents() {
    use detect::FindingKind::*;
    let all = [
        Cpu,
        Memory,
        MemoryTrend,
        ErrorRate5xx,
        ErrorRate4xx,
        Latency,
        Deployment,
        Scanners,
    ];
    let documented = documented_kinds();
    let serialised: Vec<String> = all
        .iter()
        .map(|k| {
            let json = serde_json::to_value(k).unwrap();
            let name = json.as_str().unwrap().to_owned();
            assert_eq!(
                name,
                k.as_str(),
                "JSON and fingerprint names differ for {k:?}"
            );
            name
        })
        .collect();
    assert_eq!(serialised, documented);
}

/// The README's `check --json` example block.
fn json_example() -> &'static str {
    let start = README
        .find("## `autofix check --json`")
        .expect("the check --json section");
    let rest = &README[start..];
    let rest = &rest[rest.find("```jsonc\n").expect("a jsonc block") + 9..];
    &rest[..rest.find("```").unwrap()]
}

/// Every `"key":` of a JSON-with-comments text.
fn keys_of(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        let name = &after[..close];
        let tail = after[close + 1..].trim_start();
        if tail.starts_with(':') {
            keys.push(name.to_owned());
        }
        rest = &after[close + 1..];
    }
    keys
}

fn collect(value: &serde_json::Value, keys: &mut std::collections::BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                keys.insert(k.clone());
                collect(v, keys);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, keys)),
        _ => {}
    }
}

#[test]
fn the_check_json_example_matches_real_output() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autofix"))
        .args(["check", "--json"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "error")
        // So the output has an ignored service, as the example does.
        .env("AUTOFIX_IGNORE_SERVICES", "postgres")
        .output()
        .expect("run autofix check --json");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let real: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let mut real_keys = std::collections::BTreeSet::new();
    collect(&real, &mut real_keys);
    let example = json_example();
    for key in keys_of(example) {
        assert!(
            real_keys.contains(&key),
            "the README names `{key}`, which check --json never emits"
        );
    }
    for key in real.as_object().unwrap().keys() {
        assert!(
            example.contains(&format!("\"{key}\"")),
            "the README's example lacks `{key}`"
        );
    }
    // The example's finding is a real one: same metric and unit for its kind.
    let finding = real["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "memory_trend")
        .expect("the demo has a memory trend");
    for field in ["metric", "unit"] {
        let value = finding[field].as_str().unwrap();
        assert!(
            example.contains(&format!("\"{field}\": \"{value}\"")),
            "the README's memory_trend example should say \"{field}\": \"{value}\""
        );
    }
}

/// The README's `AUTOFIX_CONFIG` example parses, and says what its comments claim.
#[test]
fn the_workspace_toml_example_is_a_valid_autofix_config() {
    let start = README
        .find("## A whole workspace")
        .expect("the workspace section");
    let rest = &README[start..];
    let rest = &rest[rest.find("```toml\n").expect("a toml block") + 8..];
    let example = &rest[..rest.find("```").unwrap()];
    let base = detect::Thresholds::default();
    let entries = autofix::project_config::parse(example, "README.md", &base)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].window_minutes, Some(60));
    assert_eq!(entries[0].ignore_services, ["batch-*", "legacy-api"]);
    let t = entries[0].thresholds.as_ref().unwrap();
    assert_eq!((t.cpu_warning_pct, t.p95_warning_ms), (60.0, 800.0));
    assert_eq!(entries[1].selection.items[0].project, "*");
}
