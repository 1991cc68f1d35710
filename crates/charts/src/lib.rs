//! Charts of an incident's signal over the detection window.
//!
//! One plain [`Chart`] (series, threshold, deployment markers) is built per incident from the
//! same Railway data detection read ([`for_finding`]), then rendered three ways: a Mermaid
//! `xychart-beta` block that GitHub renders in PR bodies and issues ([`mermaid`]), a one-line
//! terminal [`sparkline`], and inline SVG for the self-contained HTML report ([`svg`]).
//! Everything here is pure.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

mod incident;
mod mermaid;
mod spark;
mod svg;

pub use incident::{for_finding, for_findings};
pub use mermaid::{MAX_MERMAID_POINTS, mermaid, mermaid_block};
pub use spark::{sparkline, sparkline_ansi};
pub use svg::{esc as escape_html, svg};

/// One sample of the charted signal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Unix seconds.
    pub ts: i64,
    /// The signal's value at `ts`, in the chart's unit.
    pub value: f64,
}

/// A vertical marker on the time axis, e.g. a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Unix seconds.
    pub ts: i64,
    /// Short text drawn next to the marker, e.g. `deploy abc1234`.
    pub label: String,
}

/// The signal of one incident over its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// Incident fingerprint the chart belongs to.
    pub fingerprint: String,
    /// Railway service name.
    pub service: String,
    /// What is plotted, e.g. `p95 latency`.
    pub signal: String,
    /// Unit of the values and the threshold (`%`, `ms`, …).
    pub unit: String,
    /// Oldest first.
    pub points: Vec<Point>,
    /// The level detection compared with, in `unit`.
    pub threshold: Option<f64>,
    /// Deployments inside the window.
    pub markers: Vec<Marker>,
}

impl Chart {
    /// `service · signal (unit)`, the heading every rendering uses.
    pub fn title(&self) -> String {
        format!("{} · {} ({})", self.service, self.signal, self.unit)
    }

    /// Values only, oldest first.
    pub fn values(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.value).collect()
    }
}

/// `HH:MM` in UTC.
pub(crate) fn hh_mm(ts: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => format!("{:02}:{:02}", t.hour(), t.minute()),
        Err(_) => "--:--".into(),
    }
}

/// A number as chart text: at most two decimals, no exponent, no trailing zeros.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let s = format!("{:.2}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_owned() }
}

/// Down-samples to at most `slots` values, keeping each slot's maximum: the peak is what made
/// the signal an incident, and an average would hide it. Returns `(first ts of slot, value)`.
pub(crate) fn downsample(points: &[Point], slots: usize) -> Vec<Point> {
    if points.len() <= slots || slots == 0 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(slots);
    points
        .chunks(per)
        .map(|c| Point {
            ts: c[0].ts,
            value: c.iter().map(|p| p.value).fold(f64::NEG_INFINITY, f64::max),
        })
        .collect()
}

#[cfg(test)]
mod tests;
