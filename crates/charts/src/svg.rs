//! Inline SVG for the HTML report: no scripts, no fonts or images fetched from anywhere.

use crate::{Chart, hh_mm, num};

/// The chart as a standalone `<svg>` element `width`×`height` px: the signal as a polyline,
/// the threshold as a dashed red line, deployments as labelled vertical lines.
pub fn svg(chart: &Chart, width: u32, height: u32) -> String {
    let (w, h) = (f64::from(width.max(120)), f64::from(height.max(80)));
    let (left, right, top, bottom) = (56.0, 12.0, 28.0, 24.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let values: Vec<f64> = chart.values();
    let lo = values
        .iter()
        .copied()
        .chain(chart.threshold)
        .fold(0.0_f64, f64::min);
    let hi = values
        .iter()
        .copied()
        .chain(chart.threshold)
        .fold(f64::NEG_INFINITY, f64::max)
        .max(lo + 1.0)
        * 1.1;
    let (t0, t1) = match (chart.points.first(), chart.points.last()) {
        (Some(a), Some(b)) if b.ts > a.ts => (a.ts, b.ts),
        (Some(a), _) => (a.ts, a.ts + 1),
        _ => (0, 1),
    };
    let x = |ts: i64| left + (ts - t0) as f64 / (t1 - t0) as f64 * pw;
    let y = |v: f64| top + ph - (v - lo) / (hi - lo) * ph;

    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{title}\">\n",
        title = esc(&chart.title())
    );
    s.push_str(&format!(
        "<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n\
         <text x=\"{left}\" y=\"18\" font-family=\"sans-serif\" font-size=\"13\" fill=\"#111\">{}</text>\n",
        esc(&chart.title())
    ));
    // Axes and their extreme labels.
    s.push_str(&format!(
        "<polyline points=\"{left},{top} {left},{b} {r},{b}\" fill=\"none\" stroke=\"#888\" stroke-width=\"1\"/>\n",
        b = top + ph,
        r = left + pw
    ));
    for (v, yy) in [(hi, top), (lo, top + ph)] {
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"10\" fill=\"#555\" text-anchor=\"end\">{}</text>\n",
            left - 4.0,
            yy + 4.0,
            esc(&num(v))
        ));
    }
    for (ts, anchor) in [(t0, "start"), (t1, "end")] {
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"10\" fill=\"#555\" text-anchor=\"{anchor}\">{} UTC</text>\n",
            x(ts),
            h - 6.0,
            hh_mm(ts)
        ));
    }
    if let Some(t) = chart.threshold {
        s.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{r}\" y2=\"{yy:.1}\" stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n\
             <text x=\"{r}\" y=\"{ty:.1}\" font-family=\"sans-serif\" font-size=\"10\" fill=\"#d62728\" text-anchor=\"end\">threshold {}</text>\n",
            esc(&num(t)),
            yy = y(t),
            ty = y(t) - 3.0,
            r = left + pw
        ));
    }
    for m in &chart.markers {
        s.push_str(&format!(
            "<line x1=\"{xx:.1}\" y1=\"{top}\" x2=\"{xx:.1}\" y2=\"{b}\" stroke=\"#9467bd\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"/>\n\
             <text x=\"{tx:.1}\" y=\"{ty}\" font-family=\"sans-serif\" font-size=\"10\" fill=\"#9467bd\">{}</text>\n",
            esc(&m.label),
            xx = x(m.ts),
            tx = x(m.ts) + 3.0,
            ty = top + 10.0,
            b = top + ph
        ));
    }
    let line: Vec<String> = chart
        .points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.ts), y(p.value)))
        .collect();
    s.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n</svg>\n",
        line.join(" ")
    ));
    s
}

/// Escapes text for XML/HTML content and attribute values (control characters dropped).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}
