//! Small numeric helpers over plain slices.

/// Least-squares line `y = intercept + slope * x` and its coefficient of determination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearFit {
    /// Change of `y` per unit of `x`.
    pub slope: f64,
    /// Value of `y` at `x = 0`.
    pub intercept: f64,
    /// R² in `[0, 1]`; `0` when `y` is constant (nothing to explain).
    pub r2: f64,
}

impl LinearFit {
    /// The fitted `y` at `x`.
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

/// `None` with fewer than two points or when all `x` are equal.
pub fn linear_fit(points: &[(f64, f64)]) -> Option<LinearFit> {
    let n = points.len();
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for &(x, y) in points {
        let (dx, dy) = (x - mean_x, y - mean_y);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx <= f64::EPSILON {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let r2 = if syy <= f64::EPSILON {
        0.0
    } else {
        ((sxy * sxy) / (sxx * syy)).clamp(0.0, 1.0)
    };
    Some(LinearFit {
        slope,
        intercept,
        r2,
    })
}

/// The highest level that at least `share` of `values` reach: with `share = 0.5` that is the
/// median, and `share_at_or_above(values, level(values, s)) >= s` always holds. `None` when empty.
pub fn sustained_level(values: &[f64], share: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let needed = ((share * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[needed - 1])
}

/// Fraction of `values` at or above `level`; `0` when empty.
pub fn share_at_or_above(values: &[f64], level: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().filter(|v| **v >= level).count() as f64 / values.len() as f64
}

/// Nearest-rank percentile (`q` in `[0, 1]`); `None` when empty.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_line_and_rejects_noise() {
        let line: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 3.0 + 2.0 * i as f64)).collect();
        let fit = linear_fit(&line).unwrap();
        assert!((fit.slope - 2.0).abs() < 1e-9);
        assert!((fit.intercept - 3.0).abs() < 1e-9);
        assert!(fit.r2 > 0.999);

        // Alternating values: no trend worth the name.
        let zigzag: Vec<(f64, f64)> = (0..20)
            .map(|i| (i as f64, if i % 2 == 0 { 10.0 } else { 0.0 }))
            .collect();
        assert!(linear_fit(&zigzag).unwrap().r2 < 0.1);

        let flat: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, 1.0)).collect();
        assert_eq!(linear_fit(&flat).unwrap().r2, 0.0);
        assert!(linear_fit(&[(1.0, 1.0)]).is_none());
        assert!(linear_fit(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
    }

    #[test]
    fn sustained_level_is_consistent_with_share() {
        let v = [10.0, 95.0, 20.0, 96.0, 15.0, 12.0];
        let half = sustained_level(&v, 0.5).unwrap();
        // Three of six samples reach 20; fewer than half reach anything higher.
        assert_eq!(half, 20.0);
        assert!(share_at_or_above(&v, half) >= 0.5);
        assert!(share_at_or_above(&v, 20.5) < 0.5);
        assert_eq!(sustained_level(&v, 1.0), Some(10.0));
        assert_eq!(sustained_level(&[], 0.5), None);
        assert_eq!(percentile(&v, 1.0), Some(96.0));
        assert_eq!(percentile(&v, 0.5), Some(15.0));
    }
}
