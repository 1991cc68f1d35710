use crate::stats::{cliffs_delta, hodges_lehmann, mann_whitney, samples_needed_per_group};
use crate::{MetricInput, Policy, Verdict, judge, judge_state, overall};

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}

/// Reference values from scipy 1.17.1 (PyPI), computed on this machine with
/// `scipy.stats.mannwhitneyu(x, y, alternative=…, method="asymptotic", use_continuity=True)`
/// and `numpy.median(numpy.subtract.outer(x, y))` for the Hodges-Lehmann shift.
/// Columns: name, x (before), y (after), U1, p greater, p two-sided, p less, HL shift.
#[allow(
    clippy::type_complexity,
    reason = "one literal row per scipy call reads best"
)]
const SCIPY: &[(&str, &[f64], &[f64], f64, f64, f64, f64, f64)] = &[
    (
        "distinct",
        &[12.0, 15.0, 11.0, 18.0, 14.0, 16.0, 13.0, 17.0],
        &[9.0, 10.0, 8.5, 11.5, 7.0, 9.5, 10.5],
        55.0,
        0.0010818935644351531,
        0.0021637871288703063,
        0.9992699690418789,
        5.0,
    ),
    (
        "ties",
        &[3.0, 3.0, 4.0, 5.0, 5.0, 5.0, 6.0, 7.0, 7.0, 8.0],
        &[1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0, 6.0],
        81.0,
        0.03442212832835114,
        0.06884425665670228,
        0.9706738808249906,
        2.0,
    ),
    (
        "overlap",
        &[61.0, 62.5, 60.2, 63.1, 64.0, 59.9, 62.2, 61.7, 60.8, 63.3],
        &[61.5, 60.1, 62.8, 59.5, 63.0, 61.1, 60.4, 62.0, 61.9, 60.7],
        63.0,
        0.1723521110034788,
        0.3447042220069576,
        0.8462552716906593,
        0.5500000000000007,
    ),
];

#[test]
fn mann_whitney_matches_scipy() {
    for (name, x, y, u, greater, two, less, hl) in SCIPY {
        let t = mann_whitney(x, y).unwrap();
        assert_eq!(t.u_before, *u, "{name}");
        assert!(close(t.p_decrease, *greater, 1e-9), "{name}: {t:?}");
        assert!(close(t.p_two_sided, *two, 1e-9), "{name}: {t:?}");
        assert!(close(t.p_increase, *less, 1e-9), "{name}: {t:?}");
        assert!(close(hodges_lehmann(x, y).unwrap(), *hl, 1e-12), "{name}");
    }
}

#[test]
fn effect_sizes_have_known_values() {
    // Every before value is above every after value: δ = 1; the reverse: −1; identical: 0.
    assert_eq!(cliffs_delta(&[5.0, 6.0], &[1.0, 2.0]), Some(1.0));
    assert_eq!(cliffs_delta(&[1.0, 2.0], &[5.0, 6.0]), Some(-1.0));
    assert_eq!(cliffs_delta(&[1.0, 2.0], &[1.0, 2.0]), Some(0.0));
    // δ = 2U/(n1 n2) − 1 with the U scipy reports for "distinct": 2·55/56 − 1.
    let (_, x, y, u, ..) = SCIPY[0];
    let d = cliffs_delta(x, y).unwrap();
    assert!(close(d, 2.0 * u / 56.0 - 1.0, 1e-12), "{d}");
    assert_eq!(cliffs_delta(&[], &[1.0]), None);
    assert!(
        mann_whitney(&[1.0, 1.0], &[1.0, 1.0]).is_none(),
        "no variance"
    );
}

#[test]
fn noether_sample_size_has_the_textbook_value() {
    // AUC 0.75: N = (1.6449 + 0.8416)² / (3 · 0.25²) = 32.97 → 33 in total, 17 per group.
    assert_eq!(samples_needed_per_group(0.75), Some(17));
    // Smaller effects need more: AUC 0.6 → N = 206.1 → 104 per group.
    assert_eq!(samples_needed_per_group(0.6), Some(104));
    assert_eq!(samples_needed_per_group(0.5), None);
    assert_eq!(samples_needed_per_group(0.3), None);
}

fn input(still_detected: bool, threshold: f64) -> MetricInput<'static> {
    MetricInput {
        service: "api",
        metric: "p95_ms",
        unit: "ms",
        threshold,
        incident_value: 3400.0,
        still_detected,
    }
}

fn spread(center: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| center + (i % 7) as f64 * 10.0).collect()
}

#[test]
fn verdicts_follow_detection_significance_and_threshold() {
    let p = Policy::default();
    let before = spread(3400.0, 30);
    let after = spread(400.0, 30);
    let fixed = judge(&input(false, 3000.0), &before, &after, &p);
    assert_eq!(fixed.verdict, Verdict::Fixed, "{fixed:?}");
    assert!(fixed.shift.unwrap() > 2900.0);

    // Significantly lower but still detected, or still over the threshold: improved.
    assert_eq!(
        judge(&input(true, 3000.0), &before, &after, &p).verdict,
        Verdict::Improved
    );
    assert_eq!(
        judge(&input(false, 300.0), &before, &after, &p).verdict,
        Verdict::Improved
    );

    // The same distribution, still detected: not fixed.
    let same = judge(&input(true, 3000.0), &before, &before, &p);
    assert_eq!(same.verdict, Verdict::NotFixed, "{same:?}");

    // Worse after the fix: not fixed even when detection stays quiet.
    let worse = judge(&input(false, 9000.0), &after, &before, &p);
    assert_eq!(worse.verdict, Verdict::NotFixed, "{worse:?}");

    // Gone, but the samples cannot tell: inconclusive, with the samples that would decide.
    let slightly = spread(3390.0, 8);
    let undecided = judge(&input(false, 3500.0), &before[..8], &slightly, &p);
    assert_eq!(undecided.verdict, Verdict::Inconclusive, "{undecided:?}");
    assert!(undecided.samples_needed.unwrap() > 8, "{undecided:?}");
    assert!(undecided.reason.contains("more after-samples"));

    // Too little traffic after the fix.
    let few = judge(&input(false, 3000.0), &before, &after[..3], &p);
    assert_eq!(few.verdict, Verdict::Inconclusive);
    assert_eq!(few.samples_needed, Some(3));
}

#[test]
fn the_worst_metric_decides_and_states_are_judged_by_detection() {
    let p = Policy::default();
    let fixed = judge(
        &input(false, 3000.0),
        &spread(3400.0, 30),
        &spread(400.0, 30),
        &p,
    );
    let crashed = judge_state(&MetricInput {
        metric: "deployment_status",
        ..input(true, 0.0)
    });
    assert_eq!(crashed.verdict, Verdict::NotFixed);
    assert_eq!(overall(std::slice::from_ref(&fixed)), Verdict::Fixed);
    assert_eq!(overall(&[fixed, crashed]), Verdict::NotFixed);
    assert_eq!(overall(&[]), Verdict::Inconclusive);
}
