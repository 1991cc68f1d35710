//! The verdict on one metric, and on a whole fix, from the before and after samples.

use serde::{Deserialize, Serialize};

use crate::stats::{self, MannWhitney};

/// Ordered from best to worst, so the verdict over several metrics is the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The finding is gone and the metric is significantly lower and back under its threshold.
    Fixed,
    /// Significantly lower, but still detected or still over the threshold.
    Improved,
    /// Too little data, or no significant difference although the finding is gone.
    Inconclusive,
    /// Still detected with no significant improvement, or significantly worse.
    NotFixed,
}

impl Verdict {
    /// The stable `snake_case` name, the same as the serialised form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::Improved => "improved",
            Self::Inconclusive => "inconclusive",
            Self::NotFixed => "not_fixed",
        }
    }
}

/// How strict the judge is. Defaults: α = 0.05 one-sided, at least 6 samples a side, and an
/// effect that is at least "small" (|Cliff's δ| ≥ 0.147, Romano et al. 2006).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Significance level of each one-sided Mann–Whitney test (lower after, higher after).
    pub alpha: f64,
    /// Fewer finite samples than this on either side gives `inconclusive`.
    pub min_samples: usize,
    /// Smallest |Cliff's δ| counted as a real improvement, so a significant but negligible shift on
    /// a large sample is not called a fix.
    pub min_effect: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            min_samples: 6,
            min_effect: 0.147,
        }
    }
}

/// Summary of one sample, in the metric's unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleSummary {
    /// Finite samples counted (non-finite values are dropped).
    pub n: usize,
    /// `None` for an empty sample.
    pub median: Option<f64>,
    /// 95th percentile, linearly interpolated; `None` for an empty sample.
    pub p95: Option<f64>,
}

impl SampleSummary {
    /// Summarises `values`, ignoring NaN and infinities.
    pub fn of(values: &[f64]) -> Self {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let p95 = (!v.is_empty()).then(|| {
            let rank = 0.95 * (v.len() - 1) as f64;
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
        });
        Self {
            n: v.len(),
            median: stats::median(&v),
            p95,
        }
    }
}

/// One metric before and after the fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    /// Railway service name.
    pub service: String,
    /// The finding's metric name, e.g. `p95_ms`.
    pub metric: String,
    /// Unit of every value here, e.g. `ms`, `%`.
    pub unit: String,
    /// The detection threshold the incident crossed, in `unit`.
    pub threshold: f64,
    /// The value the incident was reported with.
    pub incident_value: f64,
    /// The samples from before the fix went live.
    pub before: SampleSummary,
    /// The samples from after the fix went live.
    pub after: SampleSummary,
    /// Whether detection, re-run over the after window, still reports this finding.
    pub still_detected: bool,
    /// One-sided Mann–Whitney U test of before > after; `None` when a side is too small.
    pub test: Option<MannWhitney>,
    /// P(before > after) − P(before < after); positive = lower after the fix.
    pub cliffs_delta: Option<f64>,
    /// Median of pairwise differences before − after, in `unit`; positive = lower after.
    pub shift: Option<f64>,
    /// The outcome for this metric.
    pub verdict: Verdict,
    /// One sentence an engineer can read.
    pub reason: String,
    /// For `inconclusive`: after-samples needed to decide (at the observed effect size).
    pub samples_needed: Option<u64>,
}

/// What is being compared, besides the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricInput<'a> {
    /// Railway service name.
    pub service: &'a str,
    /// The finding's metric name, e.g. `p95_ms`.
    pub metric: &'a str,
    /// Unit of the samples and of `threshold`.
    pub unit: &'a str,
    /// The detection threshold, in `unit`: `fixed` needs the after median back under it.
    pub threshold: f64,
    /// The value the incident was reported with, in `unit`.
    pub incident_value: f64,
    /// Whether detection over the after window still reports the finding.
    pub still_detected: bool,
}

/// Judges one metric (lower is better for every metric Autofix detects on).
pub fn judge(
    input: &MetricInput<'_>,
    before: &[f64],
    after: &[f64],
    policy: &Policy,
) -> MetricComparison {
    let before_s = SampleSummary::of(before);
    let after_s = SampleSummary::of(after);
    let test = stats::mann_whitney(before, after);
    let delta = stats::cliffs_delta(before, after);
    let shift = stats::hodges_lehmann(before, after);
    let mut out = MetricComparison {
        service: input.service.to_owned(),
        metric: input.metric.to_owned(),
        unit: input.unit.to_owned(),
        threshold: input.threshold,
        incident_value: input.incident_value,
        before: before_s,
        after: after_s,
        still_detected: input.still_detected,
        test,
        cliffs_delta: delta,
        shift,
        verdict: Verdict::Inconclusive,
        reason: String::new(),
        samples_needed: None,
    };
    let need = policy.min_samples;
    if before_s.n < need || after_s.n < need {
        out.samples_needed = Some(need.saturating_sub(after_s.n) as u64).filter(|n| *n > 0);
        out.reason = format!(
            "too few samples to compare: {} before and {} after, at least {need} each are needed",
            before_s.n, after_s.n
        );
        if input.still_detected {
            // Detection saw enough to report the problem again: that is a verdict on its own.
            out.verdict = Verdict::NotFixed;
            out.reason = format!("still detected after the fix; {}", out.reason);
        }
        return out;
    }
    let delta_v = delta.unwrap_or(0.0);
    let (p_down, p_up) = test.map_or((1.0, 1.0), |t| (t.p_decrease, t.p_increase));
    let lower = p_down < policy.alpha && delta_v >= policy.min_effect;
    let higher = p_up < policy.alpha && -delta_v >= policy.min_effect;
    let under_threshold = after_s.median.is_some_and(|m| m < input.threshold);
    let figures = format!("p = {p_down:.3}, Cliff's δ = {delta_v:.2}");
    (out.verdict, out.reason) = if higher {
        (
            Verdict::NotFixed,
            format!("significantly higher after the fix (p = {p_up:.3}, Cliff's δ = {delta_v:.2})"),
        )
    } else if lower && !input.still_detected && under_threshold {
        (
            Verdict::Fixed,
            format!("no longer detected, significantly lower ({figures}) and under the threshold"),
        )
    } else if lower {
        let why = if input.still_detected {
            "but still detected"
        } else {
            "but not under the threshold"
        };
        (
            Verdict::Improved,
            format!("significantly lower ({figures}), {why}"),
        )
    } else if input.still_detected {
        (
            Verdict::NotFixed,
            format!("still detected, no significant decrease ({figures})"),
        )
    } else {
        let auc = (delta_v + 1.0) / 2.0;
        out.samples_needed = stats::samples_needed_per_group(auc)
            .map(|per_group| per_group.saturating_sub(after_s.n as u64).max(1));
        let more = match out.samples_needed {
            Some(n) => format!(
                "; at the observed effect about {n} more after-samples would be needed to decide"
            ),
            None => "; the after samples are not lower at all".to_owned(),
        };
        (
            Verdict::Inconclusive,
            format!("no longer detected, but the difference is not significant ({figures}){more}"),
        )
    };
    out
}

/// The verdict over every compared metric: the worst one (a fix that leaves one problem is not a
/// fix). No metric at all is `inconclusive`.
pub fn overall(metrics: &[MetricComparison]) -> Verdict {
    metrics
        .iter()
        .map(|m| m.verdict)
        .max()
        .unwrap_or(Verdict::Inconclusive)
}

/// A finding that is a state, not a series (a crashed or failed deployment): fixed when
/// detection no longer reports it after the fix.
pub fn judge_state(input: &MetricInput<'_>) -> MetricComparison {
    let (verdict, reason) = if input.still_detected {
        (Verdict::NotFixed, "still detected after the fix".to_owned())
    } else {
        (
            Verdict::Fixed,
            "no longer detected after the fix".to_owned(),
        )
    };
    let empty = SampleSummary::of(&[]);
    MetricComparison {
        service: input.service.to_owned(),
        metric: input.metric.to_owned(),
        unit: input.unit.to_owned(),
        threshold: input.threshold,
        incident_value: input.incident_value,
        before: empty,
        after: empty,
        still_detected: input.still_detected,
        test: None,
        cliffs_delta: None,
        shift: None,
        verdict,
        reason,
        samples_needed: None,
    }
}
