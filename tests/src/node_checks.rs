//! The official reference implementations in `tests/node-checks` (installed by `tests/run.sh`):
//! the `mermaid` parser and the `standardwebhooks` verifier, run through `node`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node-checks")
}

/// Why the checks cannot run here, if they cannot.
fn missing() -> Option<String> {
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok {
        return Some("`node` is not on PATH".into());
    }
    for package in ["mermaid", "standardwebhooks", "jsdom"] {
        if !dir()
            .join("node_modules")
            .join(package)
            .join("package.json")
            .is_file()
        {
            return Some(format!("tests/node-checks has no node_modules/{package}"));
        }
    }
    None
}

/// Runs `tests/node-checks/<script>` with `input` as JSON on stdin and returns its JSON output.
/// `None` (with a note) when the packages are not installed on a developer machine; under CI
/// (`CI` set) a missing install panics, so the check can never be silently skipped there.
pub fn run(script: &str, input: &Value) -> Option<Value> {
    if let Some(why) = missing() {
        test_data::unavailable(
            &format!("the node cross-check cannot run: {why}"),
            "run `npm ci --prefix tests/node-checks`",
        );
        return None;
    }
    let mut child = Command::new("node")
        .arg(dir().join(script))
        .current_dir(dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write to node");
    let out = child.wait_with_output().expect("node finishes");
    assert!(
        out.status.success(),
        "node {script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "node {script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    }))
}

/// Parses each Mermaid source with the official parser: `Ok(diagram type)` or the parse error.
pub fn parse_mermaid(sources: &[String]) -> Option<Vec<Result<String, String>>> {
    let out = run("mermaid-parse.mjs", &serde_json::json!(sources))?;
    Some(
        out.as_array()
            .expect("one result per source")
            .iter()
            .map(|r| {
                if r["ok"] == true {
                    Ok(r["diagramType"].as_str().unwrap_or_default().to_owned())
                } else {
                    Err(r["error"].as_str().unwrap_or_default().to_owned())
                }
            })
            .collect(),
    )
}

/// Every fenced ```` ```mermaid ```` block of a markdown text.
pub fn mermaid_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start().starts_with("```mermaid") => current = Some(String::new()),
            Some(b) if line.trim_start().starts_with("```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    blocks
}
