//! The structured answer the model must give: its JSON schema and its validation.
//!
//! The schema is written by hand rather than derived: it must follow the strict-mode subset that
//! OpenAI and Anthropic both accept (every object `additionalProperties: false`, every property
//! required, no numeric bounds), and it narrows `actions[].repo` to the input's repositories. A
//! unit test keeps it in step with [`PlanOutput`].

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::prompt::{Prompt, evidence_ids};
use crate::{Analysis, AnalysisInput, AnalysisSource, RepoAction, RootCause};

/// Name of the schema (OpenAI `json_schema.name`, Anthropic tool name).
pub const SCHEMA_NAME: &str = "incident_analysis";

/// The model's answer as sent; becomes an [`Analysis`] once validated.
/// Extra fields are ignored: non-strict servers (Ollama, older vLLM) sometimes add some.
#[derive(Debug, Clone, Deserialize)]
pub struct PlanOutput {
    pub summary: String,
    pub root_causes: Vec<RootCause>,
    pub affected_services: Vec<String>,
    pub actions: Vec<RepoAction>,
    pub recommendations: Vec<String>,
    pub debugging_steps: Vec<String>,
    pub confidence: f64,
}

fn string_array(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

/// The strict-mode JSON schema of the answer for this input.
pub fn plan_schema(input: &AnalysisInput) -> Value {
    let mut repo =
        json!({"type": "string", "description": "owner/name, one of the listed repositories"});
    let repos = input.repos();
    if !repos.is_empty() {
        repo["enum"] = json!(repos);
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["summary", "root_causes", "affected_services", "actions", "recommendations", "debugging_steps", "confidence"],
        "properties": {
            "summary": {"type": "string", "description": "What happened, in two to four sentences."},
            "root_causes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["cause", "evidence", "services"],
                    "properties": {
                        "cause": {"type": "string"},
                        "evidence": string_array("Ids of the findings, log patterns, HTTP groups or upstreams this cause rests on."),
                        "services": string_array("Names of the services concerned."),
                    },
                },
            },
            "affected_services": string_array("Names of the affected services."),
            "actions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["repo", "action", "rationale"],
                    "properties": {
                        "repo": repo,
                        "action": {"type": "string", "enum": ["fix", "wait", "investigate"]},
                        "rationale": {"type": "string", "description": "For `fix`: what to change in this repository and why."},
                    },
                },
            },
            "recommendations": string_array("Concrete recommendations, most important first."),
            "debugging_steps": string_array("Steps an engineer can take to confirm the root cause."),
            "confidence": {"type": "number", "description": "0 to 1."},
        },
    })
}

/// Parses and checks an answer; on failure returns every problem found, worded for the model.
pub fn validate_plan(raw: &str, input: &AnalysisInput) -> Result<PlanOutput, Vec<String>> {
    let plan: PlanOutput = serde_json::from_str(strip_code_fence(raw)).map_err(|e| {
        vec![format!(
            "the answer is not a JSON object matching the schema: {e}"
        )]
    })?;
    let mut problems = Vec::new();
    if !plan.confidence.is_finite() || !(0.0..=1.0).contains(&plan.confidence) {
        problems.push(format!(
            "confidence must be between 0 and 1, got {}",
            plan.confidence
        ));
    }
    if plan.summary.trim().is_empty() {
        problems.push("summary is empty".to_owned());
    }
    let repos: BTreeSet<String> = input.repos().into_iter().collect();
    let mut seen = BTreeSet::new();
    for a in &plan.actions {
        if !repos.contains(&a.repo) {
            let allowed = if repos.is_empty() {
                "none, so `actions` must be empty".to_owned()
            } else {
                repos.iter().cloned().collect::<Vec<_>>().join(", ")
            };
            problems.push(format!(
                "actions names repository {:?}, which is not in the input (allowed: {allowed})",
                a.repo
            ));
        } else if !seen.insert(a.repo.as_str()) {
            problems.push(format!(
                "actions names repository {:?} more than once",
                a.repo
            ));
        }
    }
    let ids = evidence_ids(input);
    for (i, rc) in plan.root_causes.iter().enumerate() {
        if rc.evidence.is_empty() {
            problems.push(format!("root_causes[{i}] cites no evidence"));
        }
        for e in &rc.evidence {
            if !ids.contains(e.trim_matches(['[', ']'])) {
                problems.push(format!("root_causes[{i}] cites unknown evidence id {e:?}"));
            }
        }
        for s in &rc.services {
            if input.service(s).is_none() {
                problems.push(format!("root_causes[{i}] names unknown service {s:?}"));
            }
        }
    }
    for s in &plan.affected_services {
        if input.service(s).is_none() {
            problems.push(format!("affected_services names unknown service {s:?}"));
        }
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

/// Some compatible servers wrap JSON in a Markdown fence even in JSON mode.
fn strip_code_fence(raw: &str) -> &str {
    let t = raw.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

/// The follow-up message of the single repair attempt.
pub(crate) fn repair_request(problems: &[String]) -> String {
    let mut s = String::from("Your previous answer is invalid:\n");
    for p in problems {
        s.push_str(&format!("- {p}\n"));
    }
    s.push_str("Answer again with the complete, corrected JSON object that follows the schema. Change only what is needed to fix these problems.");
    s
}

impl PlanOutput {
    pub(crate) fn into_analysis(self, source: AnalysisSource, prompt: &Prompt) -> Analysis {
        Analysis {
            source,
            summary: self.summary,
            root_causes: self
                .root_causes
                .into_iter()
                .map(|rc| RootCause {
                    evidence: rc
                        .evidence
                        .iter()
                        .map(|e| e.trim_matches(['[', ']']).to_owned())
                        .collect(),
                    ..rc
                })
                .collect(),
            affected_services: self.affected_services,
            actions: self.actions,
            recommendations: self.recommendations,
            debugging_steps: self.debugging_steps,
            confidence: self.confidence,
            prompt_tokens_estimate: prompt.tokens_estimate,
            dropped_context: prompt.dropped.clone(),
        }
    }
}
