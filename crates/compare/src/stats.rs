//! Two-sample statistics for "did the metric go down": the Mann-Whitney U test (as Kayenta's
//! canary judge uses it), Cliff's delta and the Hodges-Lehmann shift, and Noether's sample size.

use serde::{Deserialize, Serialize};

/// The Mann-Whitney U test of `before` against `after`, normal approximation with the tie
/// correction and a continuity correction (scipy's `method="asymptotic"`, `use_continuity=True`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// U of `before`: pairs where the before value is larger, ties counting one half.
    pub u_before: f64,
    /// One-sided p-value of "before is stochastically larger than after" (the metric went down).
    pub p_decrease: f64,
    /// One-sided p-value of "before is stochastically smaller" (the metric went up).
    pub p_increase: f64,
    /// Two-sided p-value.
    pub p_two_sided: f64,
}

/// `None` when a sample is empty or every value is the same (no variance to test).
pub fn mann_whitney(before: &[f64], after: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (before.len(), after.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> = before
        .iter()
        .map(|&v| (v, true))
        .chain(after.iter().map(|&v| (v, false)))
        .collect();
    if all.iter().any(|(v, _)| !v.is_finite()) {
        return None;
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mid-ranks for ties, and the tie term sum(t^3 - t).
    let n = all.len();
    let mut rank_sum_before = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_before += mid_rank * all[i..=j].iter().filter(|(_, b)| *b).count() as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u_before = rank_sum_before - n1f * (n1f + 1.0) / 2.0;
    let mu = n1f * n2f / 2.0;
    let variance = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if variance <= 0.0 {
        return None;
    }
    let sd = variance.sqrt();
    let p_decrease = normal_sf((u_before - mu - 0.5) / sd);
    let p_increase = normal_sf((mu - u_before - 0.5) / sd);
    let p_two_sided = (2.0 * normal_sf(((u_before - mu).abs() - 0.5) / sd)).min(1.0);
    Some(MannWhitney {
        u_before,
        p_decrease,
        p_increase,
        p_two_sided,
    })
}

/// Cliff's delta: P(before > after) − P(before < after), in [-1, 1]; positive = went down.
pub fn cliffs_delta(before: &[f64], after: &[f64]) -> Option<f64> {
    if before.is_empty() || after.is_empty() {
        return None;
    }
    let mut score = 0i64;
    for b in before {
        for a in after {
            score += match b.partial_cmp(a) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
        }
    }
    Some(score as f64 / (before.len() * after.len()) as f64)
}

/// Hodges-Lehmann estimate of the shift: the median of every `before[i] - after[j]`, in the
/// metric's unit; positive = went down by that much.
pub fn hodges_lehmann(before: &[f64], after: &[f64]) -> Option<f64> {
    let mut diffs: Vec<f64> = before
        .iter()
        .flat_map(|b| after.iter().map(move |a| b - a))
        .filter(|d| d.is_finite())
        .collect();
    median_in_place(&mut diffs)
}

/// Median of the finite values (NaN and infinities dropped); `None` when none is left.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    median_in_place(&mut v)
}

fn median_in_place(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// Upper tail of the standard normal distribution.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// z for a one-sided α of 0.05.
pub const Z_ALPHA_05: f64 = 1.644_853_626_951_472_2;
/// z for a power of 0.8.
pub const Z_POWER_80: f64 = 0.841_621_233_572_914_3;

/// Samples per group the Mann-Whitney test needs to detect an effect of size `auc`
/// (P(before > after) + ½ P(tie)) with one-sided α = 0.05 and power 0.8, equal groups
/// (Noether 1987: N = (z_α + z_β)² / (12 c (1 − c) (AUC − ½)²), c = ½). `None` when there is
/// no effect in the tested direction.
pub fn samples_needed_per_group(auc: f64) -> Option<u64> {
    let effect = auc - 0.5;
    if !effect.is_finite() || effect <= 0.0 {
        return None;
    }
    let total = (Z_ALPHA_05 + Z_POWER_80).powi(2) / (3.0 * effect * effect);
    Some((total / 2.0).ceil() as u64)
}
