//! Charts a reviewer sees: the Mermaid blocks of the demo's PR bodies, parsed by the official
//! `mermaid` package.

use std::sync::Arc;

use autofix_tests::harness::offline_deps;
use autofix_tests::node_checks::{mermaid_blocks, parse_mermaid};
use serde_json::json;

/// The dry-run fixes of one in-process cycle over the demo project.
async fn demo_fixes() -> Vec<pipeline::FixOutcome> {
    let snapshot = demo::demo_project(pipeline::system_now());
    let deps = offline_deps(railway::Source::Static(Box::new(snapshot)), true);
    let runner = inngest::InlineRunner::new(pipeline::functions(Arc::new(deps)).unwrap());
    let start = inngest::Event::new("autofix/health.check.requested", json!({})).unwrap();
    runner
        .run(start)
        .await
        .into_iter()
        .filter(|r| r.function_id == pipeline::FIX_FN)
        .map(|r| serde_json::from_value(r.output.expect("fix run completes")).unwrap())
        .collect()
}

/// The text the agent is told to use as the PR body.
fn pr_body(prompt: &str) -> &str {
    prompt
        .split_once("## Pull request body")
        .map(|(_, b)| b)
        .expect("the task carries the PR body")
}

#[tokio::test]
async fn the_demo_pr_bodies_carry_one_valid_mermaid_chart_per_incident() {
    let fixes = demo_fixes().await;
    let dry: Vec<&pipeline::FixOutcome> = fixes
        .iter()
        .filter(|f| f.status == pipeline::FixStatus::DryRun)
        .collect();
    assert_eq!(dry.len(), 2, "leak and slow queries get a task: {fixes:#?}");
    let mut all = Vec::new();
    for f in dry {
        let task = f.task.as_ref().unwrap();
        let body = pr_body(&task.prompt_text);
        let blocks = mermaid_blocks(body);
        let repo = f.repo.as_deref().unwrap();
        let incidents: Vec<&str> = f
            .analysis
            .as_ref()
            .expect("a dry run has an analysis")
            .affected_services
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(
            blocks.len(),
            1,
            "{repo}: one incident, one chart ({incidents:?}):\n{body}"
        );
        assert!(blocks[0].starts_with("xychart-beta\n"), "{}", blocks[0]);
        all.extend(blocks);
    }
    let Some(parsed) = parse_mermaid(&all) else {
        return;
    };
    for (src, result) in all.iter().zip(&parsed) {
        assert_eq!(result.as_deref(), Ok("xychart"), "{src}");
    }

    // The parser does reject a broken chart, so the check above can fail.
    let broken = all[0].replacen("x-axis [", "x-axis ", 1);
    let parsed = parse_mermaid(&[broken]).unwrap();
    assert!(parsed[0].is_err(), "{parsed:?}");
}
