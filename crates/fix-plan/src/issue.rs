//! The GitHub issue for an incident Autofix will not fix by itself (`wait`, `investigate`): a
//! pure function of the analysis and the measured evidence, like the PR body. Model text is
//! cleaned and fenced as model-written, as in the PR body; the markers that find the issue again
//! are ours only.

use analysis::Analysis;
use detect::Finding;

use crate::model_text;
use crate::task::{cause_line, evidence_line, model_block, model_items, push_charts_and_marker};

/// Why there is no PR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueReason {
    /// The analysis blames an upstream outage: nothing to change in the code.
    Wait,
    /// Not safe to fix automatically (the analysis says so, or its confidence is too low).
    Investigate,
}

/// The HTML comment naming one finding (service + kind) an issue is about; recovery of that
/// finding closes the issue.
pub fn finding_marker(finding_fingerprint: &str) -> String {
    format!("<!-- autofix:finding={finding_fingerprint} -->")
}

/// The finding fingerprints an issue body names (see [`finding_marker`]).
pub fn findings_in(body: &str) -> Vec<String> {
    const OPEN: &str = "<!-- autofix:finding=";
    body.match_indices(OPEN)
        .filter_map(|(i, _)| {
            let rest = &body[i + OPEN.len()..];
            let end = rest.find(" -->")?;
            let fp = &rest[..end];
            (fp.len() <= 64 && fp.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
                .then(|| fp.to_owned())
        })
        .collect()
}

/// Text we did not write (the outcome's reason, finding evidence) on one line of our markdown.
fn clean(text: &str) -> String {
    model_text::clean(text).replace("<!--", "<! --")
}

/// The Railway project and environment an incident is in, by Railway's names. Workspace mode
/// names them in the issue: one repository can deploy to several projects and environments,
/// whose incidents would otherwise read alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Railway's project name.
    pub project: String,
    /// Railway's environment name.
    pub environment: String,
}

impl Place {
    /// `project/environment`, each name cleaned: whoever may edit the project chooses them.
    fn label(&self) -> String {
        format!(
            "{}/{}",
            evidence::sanitize::clean_line(&self.project, 80),
            evidence::sanitize::clean_line(&self.environment, 80)
        )
    }
}

/// `Autofix: memory growth on api — investigate`; with a place,
/// `Autofix: memory growth on api in shop/production — investigate`.
pub fn issue_title(reason: IssueReason, findings: &[Finding], place: Option<&Place>) -> String {
    let mut what: Vec<String> = findings
        .iter()
        .filter(|f| f.is_incident())
        .map(|f| format!("{} on {}", f.kind.as_str().replace('_', " "), f.service))
        .collect();
    what.dedup();
    let what = if what.is_empty() {
        "incident".to_owned()
    } else {
        what.join(", ")
    };
    let tail = match reason {
        IssueReason::Wait => "waiting on an upstream provider",
        IssueReason::Investigate => "needs investigation",
    };
    let title = match place {
        Some(p) => format!("Autofix: {what} in {} — {tail}", p.label()),
        None => format!("Autofix: {what} — {tail}"),
    };
    title.chars().take(200).collect()
}

/// The issue body: why there is no PR, the analysis, the measured evidence, one Mermaid chart
/// per incident finding, and the markers (incident fingerprint, one per finding).
#[expect(
    clippy::too_many_arguments,
    reason = "each input is a separate part of the body; the caller has them as separate values"
)]
pub fn issue_body(
    repo: &str,
    place: Option<&Place>,
    fingerprint: &str,
    reason: IssueReason,
    why: Option<&str>,
    analysis: &Analysis,
    findings: &[Finding],
    charts: &[charts::Chart],
) -> String {
    let mut b = String::new();
    b.push_str("## Autofix incident report\n\n");
    let headline = match reason {
        IssueReason::Wait => {
            "Autofix opened no pull request: the analysis points at an upstream provider, so there is nothing to change in this repository yet. This issue is closed when the incident recovers."
        }
        IssueReason::Investigate => {
            "Autofix opened no pull request: this incident is not safe to fix automatically. A person should look at it; this issue is closed when the incident recovers."
        }
    };
    b.push_str(headline);
    b.push_str("\n\n");
    b.push_str(&format!(
        "Repository `{repo}` · analysis: {} · confidence {:.2}\n",
        analysis.source.label(),
        analysis.confidence
    ));
    if let Some(p) = place {
        b.push_str(&format!("Railway project/environment: {}\n", p.label()));
    }
    if let Some(why) = why {
        b.push_str(&format!("\n**Why no PR:** {}\n", clean(why)));
    }
    let mut lines = vec![
        format!("Summary: {}", model_text::clean(&analysis.summary)),
        "Root causes:".to_owned(),
    ];
    lines.extend(model_items(analysis.root_causes.iter().map(cause_line)));
    lines.push("What to look at:".to_owned());
    lines.extend(model_items(analysis.debugging_steps.iter().cloned()));
    b.push('\n');
    b.push_str(&model_block(
        "### Analysis (model-written from the evidence below; not verified)",
        &lines,
    ));
    let list = |b: &mut String, title: &str, items: Vec<String>| {
        if items.is_empty() {
            return;
        }
        b.push_str(&format!("\n### {title}\n"));
        for i in items {
            b.push_str(&format!("- {i}\n"));
        }
    };
    let incidents: Vec<&Finding> = findings.iter().filter(|f| f.is_incident()).collect();
    list(
        &mut b,
        "Evidence (measured by Autofix)",
        incidents
            .iter()
            .map(|f| evidence_line(f, &clean(&f.evidence)))
            .collect(),
    );
    let own: Vec<&str> = incidents.iter().map(|f| f.fingerprint.as_str()).collect();
    push_charts_and_marker(&mut b, charts, &own, fingerprint);
    for fp in own {
        b.push_str(&finding_marker(fp));
        b.push('\n');
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_markers_round_trip_and_forged_ones_are_ignored() {
        let body = format!(
            "x {} y {}\n<!-- autofix:finding=bad\"> -->",
            finding_marker("af-0123456789ab"),
            finding_marker("af-ba9876543210")
        );
        assert_eq!(findings_in(&body), ["af-0123456789ab", "af-ba9876543210"]);
        assert!(findings_in("<!-- autofix:finding=af-1").is_empty());
    }

    #[test]
    fn a_place_is_named_on_one_cleaned_line_in_the_title() {
        let place = Place {
            project: "shop\n## injected <!-- x".into(),
            environment: "production".into(),
        };
        let title = issue_title(IssueReason::Wait, &[], Some(&place));
        assert!(!title.contains('\n') && !title.contains("<!--"), "{title}");
        assert!(
            title.contains(" in shop") && title.contains("/production — waiting"),
            "{title}"
        );
        assert_eq!(
            issue_title(IssueReason::Wait, &[], None),
            "Autofix: incident — waiting on an upstream provider"
        );
    }
}
