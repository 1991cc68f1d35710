//! Root-cause analysis of an incident and the plan that follows from it.
//!
//! - [`analyze`]: one structured LLM call over a budgeted prompt ([`build_prompt`]), validated
//!   against the plan schema, with exactly one repair attempt; without an LLM, [`rule_based`].
//! - [`markdown`]: an [`Analysis`] rendered for run outputs and `autofix check`.
//!
//! What happens with the plan (the guards, the coding agent's task, the PR body) is the
//! `fix-plan` crate's job.
//!
//! Repositories only ever come from Railway's service config ([`ServiceRef::repo`]); model output
//! can choose an action for a repository the input names, never introduce one.

#![warn(missing_docs)]

mod plan;
mod prompt;
mod render;
mod rules;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use plan::{SCHEMA_NAME, plan_schema, validate_plan};
pub use prompt::{
    Prompt, PromptBudget, build_prompt, diff_block, diff_id, estimate_tokens, evidence_ids, fence,
    http_id, http_line, informative_samples, is_error_level, log_id, one_line, pattern_line,
};
pub use render::markdown;
pub use rules::rule_based;

use detect::Finding;
use evidence::ServiceContext;

/// A service as Railway configures it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRef {
    /// Railway service id.
    pub id: String,
    /// Railway service name.
    pub name: String,
    /// `owner/name` from Railway's service source; `None` for image-based services.
    pub repo: Option<String>,
}

/// Everything the analysis looks at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisInput {
    /// The incident findings to explain.
    pub findings: Vec<Finding>,
    /// Evidence of the affected services and the databases they may use.
    pub contexts: Vec<ServiceContext>,
    /// A few lines describing the project's services, databases and volumes.
    pub architecture_summary: String,
    /// The services the findings and contexts are about.
    pub services: Vec<ServiceRef>,
    /// Each incident's signal over the window, for the PR body (not sent to the model).
    #[serde(default)]
    pub charts: Vec<charts::Chart>,
}

impl AnalysisInput {
    /// The service a finding, context or model answer names, by id or by name.
    pub fn service(&self, id_or_name: &str) -> Option<&ServiceRef> {
        self.services
            .iter()
            .find(|s| s.id == id_or_name)
            .or_else(|| self.services.iter().find(|s| s.name == id_or_name))
    }

    /// Distinct repositories of the input's services, sorted.
    pub fn repos(&self) -> Vec<String> {
        let set: std::collections::BTreeSet<String> = self
            .services
            .iter()
            .filter_map(|s| s.repo.clone())
            .collect();
        set.into_iter().collect()
    }

    /// Incident findings (warning or critical) on the services deployed from `repo`.
    pub fn findings_for_repo(&self, repo: &str) -> Vec<Finding> {
        self.findings
            .iter()
            .filter(|f| f.is_incident())
            .filter(|f| {
                self.service(&f.service_id)
                    .is_some_and(|s| s.repo.as_deref() == Some(repo))
            })
            .cloned()
            .collect()
    }
}

/// Who produced an analysis. Serialised as `"rule-based"` or `{"llm": {"provider", "model"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnalysisSource {
    /// A model answered.
    Llm {
        /// `openai-compatible` or `anthropic`.
        provider: String,
        /// The model name.
        model: String,
    },
    /// No model: [`rule_based`] produced it.
    RuleBased,
}

impl AnalysisSource {
    /// `rule-based` or `llm (anthropic claude-…)`, for logs and PR bodies.
    pub fn label(&self) -> String {
        match self {
            Self::Llm { provider, model } => format!("llm ({provider} {model})"),
            Self::RuleBased => "rule-based".to_owned(),
        }
    }
}

/// What to do with one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Change the code: the cause is in this repository and the fix is clear enough.
    Fix,
    /// Do nothing now: the cause is outside (an upstream provider incident, a platform problem).
    Wait,
    /// A human should look: the evidence does not point at a code change yet.
    Investigate,
}

impl Action {
    /// The stable `snake_case` name, the same as the serialised form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fix => "fix",
            Self::Wait => "wait",
            Self::Investigate => "investigate",
        }
    }
}

/// One cause the analysis found, with what supports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCause {
    /// The cause, in a sentence or two.
    pub cause: String,
    /// Evidence ids (see [`evidence_ids`]): finding fingerprints, `log:<service>#<n>`, …
    pub evidence: Vec<String>,
    /// Service names.
    pub services: Vec<String>,
}

/// The decision for one repository, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoAction {
    /// `owner/name`: only repositories of the input's services are accepted.
    pub repo: String,
    /// What to do there.
    pub action: Action,
    /// Why, in a sentence or two; becomes part of the agent's task and the PR body.
    pub rationale: String,
}

/// The outcome of the analysis step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Who produced it.
    pub source: AnalysisSource,
    /// What happened and why, in a few sentences.
    pub summary: String,
    /// The causes found, most likely first.
    pub root_causes: Vec<RootCause>,
    /// Service names.
    pub affected_services: Vec<String>,
    /// One decision per repository of the input.
    pub actions: Vec<RepoAction>,
    /// What a person could change beyond the fix (limits, alerts, …).
    pub recommendations: Vec<String>,
    /// What to check by hand to confirm the cause.
    pub debugging_steps: Vec<String>,
    /// 0..=1.
    pub confidence: f64,
    /// Estimated prompt size sent to the model (0 for rule-based).
    pub prompt_tokens_estimate: usize,
    /// What the prompt budget cut, one line per kind of evidence and service.
    pub dropped_context: Vec<String>,
}

impl Analysis {
    /// The decision for `repo`, if the analysis made one.
    pub fn action_for(&self, repo: &str) -> Option<&RepoAction> {
        self.actions.iter().find(|a| a.repo == repo)
    }
}

/// Why an LLM analysis failed; the `analyze` step reports it as a step error (retriable when
/// the LLM error is).
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The LLM call failed.
    #[error("LLM call failed: {0}")]
    Llm(#[from] llm::LlmError),
    #[error(
        "the model's answer was invalid after one repair attempt ({calls} calls): {}",
        problems.join("; ")
    )]
    /// The model's answer broke the schema or the rules, also after the repair turn.
    InvalidOutput {
        /// LLM calls made (the first answer and the repair).
        calls: u32,
        /// What was wrong with the last answer.
        problems: Vec<String>,
    },
}

impl client_error::ClientError for AnalysisError {
    fn error_name(&self) -> &'static str {
        "AnalysisError"
    }

    /// Transport-level failures may succeed later; a model that cannot produce a valid plan twice
    /// in a row will not do better on a blind retry.
    fn is_retriable(&self) -> bool {
        match self {
            Self::Llm(e) => e.is_retriable(),
            Self::InvalidOutput { .. } => false,
        }
    }

    /// The provider's `Retry-After`, so a rate-limited analysis waits as long as it was told.
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Llm(e) => e.retry_after(),
            Self::InvalidOutput { .. } => None,
        }
    }
}

/// Runs the analysis: with an LLM, one structured call plus at most one repair call; without one,
/// the rule-based analysis.
pub async fn analyze(
    llm: Option<&llm::Llm>,
    input: &AnalysisInput,
    budget: &PromptBudget,
) -> Result<Analysis, AnalysisError> {
    let Some(llm) = llm else {
        return Ok(rule_based(input));
    };
    let prompt = build_prompt(input, budget);
    let source = AnalysisSource::Llm {
        provider: llm.provider().kind().to_owned(),
        model: llm.provider().model().to_owned(),
    };
    tracing::info!(
        llm = %llm.describe(),
        tokens_estimate = prompt.tokens_estimate,
        dropped = prompt.dropped.len(),
        "requesting root-cause analysis"
    );
    let first = llm
        .complete_json(
            &prompt.system,
            &prompt.user,
            SCHEMA_NAME,
            &prompt.schema,
            budget.max_output_tokens,
        )
        .await?;
    let problems = match validate_plan(&first, input) {
        Ok(plan) => return Ok(plan.into_analysis(source, &prompt)),
        Err(problems) => problems,
    };
    tracing::warn!(problems = ?problems, "LLM answer failed validation, asking for a repair");
    let history = [
        llm::Message::user(prompt.user.clone()),
        llm::Message::assistant(first),
        llm::Message::user(plan::repair_request(&problems)),
    ];
    let second = llm
        .complete_json_with_history(
            &prompt.system,
            &history,
            SCHEMA_NAME,
            &prompt.schema,
            budget.max_output_tokens,
        )
        .await?;
    match validate_plan(&second, input) {
        Ok(plan) => Ok(plan.into_analysis(source, &prompt)),
        Err(problems) => Err(AnalysisError::InvalidOutput { calls: 2, problems }),
    }
}
