//! An [`Analysis`] as compact markdown, readable in the Inngest UI and in `autofix check`.

use crate::Analysis;

/// The analysis as compact markdown, for `autofix check` and run outputs.
pub fn markdown(a: &Analysis) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "**{}** (confidence {:.2}, {})",
        a.summary.trim(),
        a.confidence,
        a.source.label()
    );
    if !a.root_causes.is_empty() {
        let _ = writeln!(out, "Root causes:");
        for c in &a.root_causes {
            let _ = writeln!(
                out,
                "- {} [services: {}; evidence: {}]",
                c.cause,
                c.services.join(", "),
                c.evidence.join(", ")
            );
        }
    }
    if !a.actions.is_empty() {
        let _ = writeln!(out, "Actions:");
        for act in &a.actions {
            let _ = writeln!(
                out,
                "- {}: **{}** — {}",
                act.repo,
                act.action.as_str(),
                act.rationale
            );
        }
    }
    for (title, items) in [
        ("Recommendations", &a.recommendations),
        ("Debugging steps", &a.debugging_steps),
    ] {
        if !items.is_empty() {
            let _ = writeln!(out, "{title}:");
            for item in items {
                let _ = writeln!(out, "- {item}");
            }
        }
    }
    if a.prompt_tokens_estimate > 0 {
        let _ = writeln!(out, "Prompt: ~{} tokens", a.prompt_tokens_estimate);
    }
    if !a.dropped_context.is_empty() {
        let _ = writeln!(
            out,
            "Left out by the prompt budget: {}",
            a.dropped_context.join("; ")
        );
    }
    out
}
