//! One fix attempt, planned from an analysis.
//!
//! - [`naming`]: the incident fingerprint, its group key, and the branch, PR marker and working
//!   directory derived from the fingerprint — each wire name written once.
//! - [`decide`]: the guards for one repository: proceed, or skip with every reason that applies.
//! - [`model_text`]: the analysis's text checked (no other repository, URLs or commands outside
//!   code) and cleaned before it reaches the task or the PR body, always fenced as model-written.
//! - [`agent_task`]: the coding agent's whole task text (working directory, rules, steps, what to
//!   fix, untrusted log excerpts, the PR body to use).
//!
//! Everything here is a pure function of plain data, so a dry run shows exactly what would be
//! sent. Repositories only ever come from Railway's service config; model output can choose an
//! action for a repository the input names, never introduce one.

#![warn(missing_docs)]

pub mod commands;
mod guard;
pub mod issue;
pub mod model_text;
pub mod naming;
mod task;
#[cfg(test)]
mod tests;

pub use guard::{Decision, GuardPolicy, Target, decide};
pub use task::{AgentTask, agent_task};
