//! Mermaid `xychart-beta`, the chart GitHub renders inside issues, PRs and comments.

use crate::{Chart, downsample, hh_mm, num};

/// Points per chart: more categories than this make the x axis unreadable in a PR body.
pub const MAX_MERMAID_POINTS: usize = 30;

/// The chart as Mermaid source (no fence): the signal as a line, the threshold as a second,
/// flat line, and each deployment as a full-height bar in the slot it happened in (xychart has
/// no vertical markers; a bar is the closest thing that renders everywhere).
pub fn mermaid(chart: &Chart) -> String {
    let points = downsample(&chart.points, MAX_MERMAID_POINTS);
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    let (lo, hi) = y_range(&values, chart.threshold);
    let list = |vs: &mut dyn Iterator<Item = f64>| vs.map(num).collect::<Vec<_>>().join(", ");
    let mut out = String::from("xychart-beta\n");
    out.push_str(&format!("    title \"{}\"\n", text(&chart.title())));
    let labels: Vec<String> = points
        .iter()
        .map(|p| format!("\"{}\"", hh_mm(p.ts)))
        .collect();
    out.push_str(&format!("    x-axis [{}]\n", labels.join(", ")));
    out.push_str(&format!(
        "    y-axis \"{}\" {} --> {}\n",
        text(&chart.unit),
        num(lo),
        num(hi)
    ));
    out.push_str(&format!(
        "    line [{}]\n",
        list(&mut values.iter().copied())
    ));
    if let Some(t) = chart.threshold {
        out.push_str(&format!(
            "    line [{}]\n",
            list(&mut std::iter::repeat_n(t, points.len()))
        ));
    }
    if !chart.markers.is_empty() && !points.is_empty() {
        let slot_of = |ts: i64| points.iter().rposition(|p| p.ts <= ts).unwrap_or(0);
        let slots: Vec<usize> = chart.markers.iter().map(|m| slot_of(m.ts)).collect();
        let bars = (0..points.len()).map(|i| if slots.contains(&i) { hi } else { lo });
        out.push_str(&format!("    bar [{}]\n", list(&mut bars.into_iter())));
    }
    out
}

/// The chart as a fenced block with a one-line legend under it, ready for markdown.
pub fn mermaid_block(chart: &Chart) -> String {
    let mut legend = vec![format!("line: {}", text(&chart.signal))];
    if let Some(t) = chart.threshold {
        legend.push(format!(
            "flat line: threshold {} {}",
            num(t),
            text(&chart.unit)
        ));
    }
    for m in &chart.markers {
        legend.push(format!("bar: {} at {} UTC", text(&m.label), hh_mm(m.ts)));
    }
    format!(
        "```mermaid\n{}```\n<sub>{} · `{}`</sub>\n",
        mermaid(chart),
        legend.join(" · "),
        text(&chart.fingerprint)
    )
}

/// A y range from 0 (or the lowest value, if negative) to a little above the highest of the
/// values and the threshold, so the threshold line is never drawn on the frame.
fn y_range(values: &[f64], threshold: Option<f64>) -> (f64, f64) {
    let finite = values
        .iter()
        .copied()
        .chain(threshold)
        .filter(|v| v.is_finite());
    let (mut lo, mut hi) = (0.0_f64, 0.0_f64);
    for v in finite {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let hi = if hi <= lo {
        lo + 1.0
    } else {
        nice_ceil(hi * 1.1)
    };
    (lo.floor(), hi)
}

/// Rounds up to 1, 2, 2.5 or 5 times a power of ten.
fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

/// Text inside a quoted Mermaid string or a markdown legend: no quotes, brackets, backticks or
/// markup, so a service name can neither end the string nor inject HTML into the PR body.
fn text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '`' | '<' | '>' | '[' | ']' | '{' | '}' | '\\' | '#' | ';' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect::<String>()
        .trim()
        .chars()
        .take(120)
        .collect()
}
