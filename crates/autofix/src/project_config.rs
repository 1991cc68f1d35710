//! `AUTOFIX_CONFIG`: per-project overrides of the window, thresholds and ignored services in
//! workspace mode, one `[[project]]` table per group of targets:
//!
//! ```toml
//! [[project]]
//! select = "shop/production"        # AUTOFIX_PROJECTS syntax
//! window_minutes = 60
//! ignore_services = ["batch-*"]
//! thresholds = { cpu_warning_pct = 60, rate_5xx_warning_pct = 5 }
//! ```
//!
//! The first entry selecting a target applies; every error names the file, the entry and the
//! key.

use serde::Deserialize;

use crate::config::{ConfigError, err, merge_thresholds};

const VARIABLE: &str = "AUTOFIX_CONFIG";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    project: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    select: String,
    window_minutes: Option<u32>,
    #[serde(default)]
    ignore_services: Vec<String>,
    thresholds: Option<toml::Table>,
}

/// Parses and validates the file's text; `file` is how errors name it.
pub fn parse(
    text: &str,
    file: &str,
    base: &detect::Thresholds,
) -> Result<Vec<pipeline::ProjectSettings>, ConfigError> {
    let parsed: File = toml::from_str(text).map_err(|e| {
        // toml's message names the key and quotes the line; one line reads better in a log.
        let message = e.message().to_owned();
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        err(VARIABLE, format!("{file}{at}: {message}"))
    })?;
    parsed
        .project
        .into_iter()
        .enumerate()
        .map(|(i, entry)| entry_settings(entry, &format!("{file} [[project]] #{}", i + 1), base))
        .collect()
}

fn entry_settings(
    entry: Entry,
    origin: &str,
    base: &detect::Thresholds,
) -> Result<pipeline::ProjectSettings, ConfigError> {
    let bad = |key: &str, problem: String| err(VARIABLE, format!("{origin}: {key}: {problem}"));
    let selection = pipeline::Selection::parse(&entry.select).map_err(|p| bad("select", p))?;
    let range = pipeline::settings::defaults::WINDOW_MINUTES_RANGE;
    if let Some(m) = entry.window_minutes.filter(|m| !range.contains(m)) {
        return Err(bad(
            "window_minutes",
            format!("must be {}..={}, got {m}", range.start(), range.end()),
        ));
    }
    if let Some(blank) = entry
        .ignore_services
        .iter()
        .position(|p| p.trim().is_empty())
    {
        return Err(bad(
            "ignore_services",
            format!("entry {} is blank", blank + 1),
        ));
    }
    let thresholds = match entry.thresholds {
        None => None,
        Some(table) => {
            let overrides = match serde_json::to_value(table) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => return Err(bad("thresholds", "must be a table".into())),
            };
            Some(merge_thresholds(base, overrides).map_err(|p| bad("thresholds", p))?)
        }
    };
    Ok(pipeline::ProjectSettings {
        selection,
        window_minutes: entry.window_minutes,
        thresholds,
        ignore_services: entry.ignore_services,
        origin: origin.to_owned(),
    })
}

/// The entries whose `select` matches none of `targets` (the workspace as listed at start):
/// a misspelt project name fails the start instead of silently keeping the defaults.
pub fn unmatched<'a>(
    entries: &'a [pipeline::ProjectSettings],
    targets: &[railway::workspace::Target],
) -> Vec<&'a pipeline::ProjectSettings> {
    entries
        .iter()
        .filter(|e| !targets.iter().any(|t| e.selection.matches(t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "autofix.toml";

    fn parse_ok(text: &str) -> Vec<pipeline::ProjectSettings> {
        parse(text, FILE, &detect::Thresholds::default()).unwrap()
    }

    fn problem(text: &str) -> String {
        let e = parse(text, FILE, &detect::Thresholds::default()).unwrap_err();
        assert_eq!(e.variable, VARIABLE);
        e.problem
    }

    #[test]
    fn entries_merge_over_the_worker_thresholds() {
        let base = detect::Thresholds {
            memory_warning_pct: 70.0,
            ..Default::default()
        };
        let parsed = parse(
            r#"
            [[project]]
            select = "shop*/production"
            window_minutes = 60
            ignore_services = ["batch-*"]
            thresholds = { cpu_warning_pct = 80 }

            [[project]]
            select = "all"
            "#,
            FILE,
            &base,
        )
        .unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].window_minutes, Some(60));
        assert_eq!(parsed[0].ignore_services, ["batch-*"]);
        assert_eq!(parsed[0].origin, "autofix.toml [[project]] #1");
        let t = parsed[0].thresholds.as_ref().unwrap();
        assert_eq!(t.cpu_warning_pct, 80.0);
        assert_eq!(
            t.memory_warning_pct, 70.0,
            "merged over the worker's thresholds"
        );
        assert!(parsed[1].thresholds.is_none() && parsed[1].window_minutes.is_none());
        assert!(parse_ok("").is_empty(), "an empty file overrides nothing");
    }

    #[test]
    fn errors_name_the_file_the_entry_the_key_and_the_problem() {
        for (text, needles) in [
            (
                "[[project]]\nselect = \"a\"\nwindow = 5",
                &[
                    "autofix.toml (line 3)",
                    "unknown field `window`",
                    "window_minutes",
                ][..],
            ),
            (
                "[[projects]]\nselect = \"a\"",
                &["unknown field `projects`"][..],
            ),
            (
                "[[project]]\nwindow_minutes = 60",
                &["missing field `select`"][..],
            ),
            (
                "[[project]]\nselect = \"a\"\nwindow_minutes = \"60\"",
                &["(line 3)", "invalid type"][..],
            ),
            (
                "[[project]]\nselect = \"a/\"",
                &["autofix.toml [[project]] #1: select:", "`a/`"][..],
            ),
            (
                "[[project]]\nselect = \"a\"\n[[project]]\nselect = \"b\"\nwindow_minutes = 2",
                &["[[project]] #2: window_minutes: must be 5..=1440, got 2"][..],
            ),
            (
                "[[project]]\nselect = \"a\"\nthresholds = { cpu_warnin_pct = 1 }",
                &[
                    "#1: thresholds: unknown threshold `cpu_warnin_pct`",
                    "cpu_warning_pct",
                ][..],
            ),
            (
                "[[project]]\nselect = \"a\"\nthresholds = { cpu_warning_pct = 0.8 }",
                &["thresholds:", "cpu_warning_pct", "percentage"][..],
            ),
            (
                "[[project]]\nselect = \"a\"\nignore_services = [\"x\", \" \"]",
                &["ignore_services: entry 2 is blank"][..],
            ),
            ("[[project]\nselect = 1", &["autofix.toml (line 1)"][..]),
        ] {
            let p = problem(text);
            for needle in needles {
                assert!(
                    p.contains(needle),
                    "{text:?}: `{p}` should mention `{needle}`"
                );
            }
        }
    }

    #[test]
    fn entries_selecting_no_listed_target_are_reported() {
        use railway::model::{EnvironmentRef, ProjectRef};
        let parsed = parse_ok(
            "[[project]]\nselect = \"shop\"\n[[project]]\nselect = \"shpo\"\n[[project]]\nselect = \"*/staging\"",
        );
        let targets = [railway::workspace::Target {
            project: ProjectRef {
                id: "p1".into(),
                name: "Shop".into(),
            },
            environment: EnvironmentRef {
                id: "e1".into(),
                name: "production".into(),
            },
        }];
        let missing: Vec<&str> = unmatched(&parsed, &targets)
            .iter()
            .map(|e| e.origin.as_str())
            .collect();
        assert_eq!(
            missing,
            ["autofix.toml [[project]] #2", "autofix.toml [[project]] #3"]
        );
    }
}
