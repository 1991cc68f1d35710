//! Did the fix work? The before/after comparison of the metrics behind an incident, the way
//! canary judges compare a baseline with a canary (Kayenta's Mann-Whitney U judge, Argo Rollouts
//! and Keptn analysis runs): per metric the two distributions, a significance test, an effect
//! size, and a verdict — `fixed`, `improved`, `inconclusive` (with how many more samples would
//! decide) or `not_fixed`.
//!
//! Pure functions over plain types and Railway's reports; no I/O.

#![warn(missing_docs)]

pub mod samples;
pub mod stats;
mod verdict;

pub use verdict::{
    MetricComparison, MetricInput, Policy, SampleSummary, Verdict, judge, judge_state, overall,
};

#[cfg(test)]
mod tests;
