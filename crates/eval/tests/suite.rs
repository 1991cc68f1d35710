//! The shipped scenario suite: every scenario matches its labels, the suite covers what the README
//! promises, and the README's table is the one this code produces.

use std::path::PathBuf;

use detect::Thresholds;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn suite() -> Vec<(String, demo::scenario_file::ScenarioFile)> {
    eval::load_dir(&root().join("tests/scenarios")).expect("tests/scenarios loads")
}

#[test]
fn every_shipped_scenario_matches_its_labels() {
    let scenarios = suite();
    assert!(scenarios.len() >= 40, "{} scenarios", scenarios.len());
    let result = eval::evaluate(&scenarios, &Thresholds::default());
    let misses: Vec<_> = result.scenarios.iter().filter(|s| !s.exact_match).collect();
    assert!(misses.is_empty(), "{}", eval::full_markdown(&result));
    assert!(result.all_exact());
    // Both sizes the issue asks for are in the suite.
    let sizes: Vec<usize> = result.scenarios.iter().map(|s| s.services).collect();
    assert!(sizes.contains(&40) && sizes.contains(&200), "{sizes:?}");
    // Every class is labelled somewhere: incidents, recoveries and observations.
    for kind in [
        "cpu",
        "memory",
        "memory_trend",
        "error_rate_5xx",
        "error_rate_4xx",
        "latency",
        "deployment",
        "error_rate_5xx:recovered",
        "cpu:recovered",
        "scanners:observation",
        "memory:observation",
        "latency:observation",
    ] {
        assert!(
            result.kinds.get(kind).is_some_and(|k| k.true_positives > 0),
            "no scenario labels {kind}"
        );
    }
}

#[test]
fn a_detection_regression_fails_the_evaluation() {
    // Saturation at 100 %: CPU pinned at 97 % is no longer an incident, and the suite says so.
    let t = Thresholds {
        cpu_saturation_pct: 100.0,
        ..Thresholds::default()
    };
    let result = eval::evaluate(&suite(), &t);
    assert!(!result.all_exact());
    let cpu = &result.kinds["cpu"];
    assert!(cpu.false_negatives > 0);
    assert!(cpu.recall.unwrap() < 1.0);
}

#[test]
fn the_readme_publishes_the_table_this_suite_produces() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = "<!-- eval-table:start (autofix eval tests/scenarios) -->\n";
    let end = "<!-- eval-table:end -->";
    let from = readme
        .find(start)
        .expect("README has the eval table markers")
        + start.len();
    let to = readme[from..].find(end).expect("end marker") + from;
    let published = &readme[from..to];
    let result = eval::evaluate(&suite(), &Thresholds::default());
    assert_eq!(
        published,
        eval::summary_markdown(&result),
        "README table is stale: paste the output of `autofix eval tests/scenarios` (summary part)"
    );
}
