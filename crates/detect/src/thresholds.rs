//! Detection thresholds: one flat struct so the binary can map one env var to each field.

use serde::{Deserialize, Serialize};

/// Every knob of [`crate::detect`]. `Default` gives the documented defaults; any subset of fields
/// can be (de)serialised (missing fields take their default).
///
/// Percentages are 0–100. "Share of limit" is usage divided by the service's own limit as Railway
/// reports it (`CPU_LIMIT`, `MEMORY_LIMIT_GB`).
///
/// Each field's documentation gives its default (the value `Default` sets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// CPU share of the vCPU limit, percent, from which sustained usage is a warning (default 70).
    pub cpu_warning_pct: f64,
    /// CPU share of the vCPU limit, percent, from which sustained usage is critical (default 90).
    pub cpu_critical_pct: f64,
    /// Memory share of the memory limit, percent, from which sustained usage is a warning (default 80).
    pub memory_warning_pct: f64,
    /// Memory share of the memory limit, percent, from which sustained usage is critical (default 95).
    pub memory_critical_pct: f64,
    /// A level counts only if at least this share (0–1] of the window's samples is at or above it
    /// … (default 0.5), or see `sustained_tail_minutes`.
    pub sustained_share: f64,
    /// … or if every sample of the last this-many minutes is (at least 2 samples; default 5).
    pub sustained_tail_minutes: i64,
    /// Fewer resource samples than this: no CPU/memory verdict (default 6).
    pub min_samples: usize,
    /// p95 − p5 of the share within this many percentage points means flat usage; flat below the
    /// critical level is an observation unless another incident on the service agrees (default 10).
    pub flat_band_pct: f64,
    /// Least-squares fit quality (R², 0–1) needed to call memory growth a trend (default 0.8).
    pub memory_trend_min_r2: f64,
    /// Slower growth than this (percentage points of the limit per hour) is noise, not a trend
    /// (default 1).
    pub memory_trend_min_pct_per_hour: f64,
    /// A trend projected to reach the limit within this many hours is critical (default 6).
    pub memory_trend_critical_hours: f64,
    /// A trend projected to reach the limit within this many hours is a warning (default 48).
    pub memory_trend_warning_hours: f64,
    /// A trend reaching the limit later than the warning horizon but within this many hours is an
    /// observation (default 168).
    pub memory_trend_observation_hours: f64,
    /// Fewer requests than this in the window: no 5xx/4xx rate verdict (default 100).
    pub min_requests: u64,
    /// Fewer failing requests than this never make a rate finding (default 5).
    pub min_error_requests: u64,
    /// 5xx share of the window's requests, percent, that is a warning (default 2).
    pub rate_5xx_warning_pct: f64,
    /// 5xx share of the window's requests, percent, that is critical (default 10).
    pub rate_5xx_critical_pct: f64,
    /// 4xx share of the window's requests, percent, that is a warning (default 20).
    pub rate_4xx_warning_pct: f64,
    /// 4xx share of the window's requests, percent, that is critical (default 40).
    pub rate_4xx_critical_pct: f64,
    /// Length in minutes of the "recent burst" check at the end of the window (default 5).
    pub burst_minutes: i64,
    /// Fewer requests than this in the burst window: no burst verdict (default 30).
    pub burst_min_requests: u64,
    /// 5xx share of the burst window's requests, percent, that is a warning (default 10).
    pub burst_5xx_warning_pct: f64,
    /// 5xx share of the burst window's requests, percent, that is critical (default 25).
    pub burst_5xx_critical_pct: f64,
    /// p95 latency in milliseconds that, sustained over `latency_sustained_share` of the buckets, is
    /// a warning (default 1000).
    pub p95_warning_ms: f64,
    /// p95 latency in milliseconds that, sustained the same way, is critical (default 3000).
    pub p95_critical_ms: f64,
    /// Share (0–1] of latency buckets that must be at or above a level (default 0.5).
    pub latency_sustained_share: f64,
    /// Fewer requests than this in the window: no latency verdict (default 100).
    pub latency_min_requests: u64,
    /// How many slowest / failing endpoints an evidence line names (default 3).
    pub evidence_endpoints: usize,
    /// A problem whose last this-many minutes are clean (or that is clean since a newer deployment)
    /// is `recovered` (default 10).
    pub recovery_minutes: i64,
    /// Requests the clean period needs before it counts as clean (default 30).
    pub recovery_min_requests: u64,
    /// A CPU/memory level within this many percentage points below a threshold still counts as
    /// reaching it, so noise around a threshold cannot flip the verdict (default 1).
    pub hysteresis_pct: f64,
    /// Flat CPU usage is an incident only from this share of the limit, percent (throttling); below
    /// it, an observation unless another signal agrees (default 95).
    pub cpu_saturation_pct: f64,
    /// Flat memory usage is an incident only from this share of the limit, percent (OOM risk);
    /// below it, an observation unless another signal agrees (default 98).
    pub memory_saturation_pct: f64,
    /// Share of requests, percent, that are scanner probes from which they are reported as an
    /// observation (default 5).
    pub scanner_observation_pct: f64,
    /// A p95 at least this many times the service's baseline median is a regression… (default 3).
    pub baseline_ratio: f64,
    /// …when it is also at or above this floor, milliseconds (default 300).
    pub baseline_p95_floor_ms: f64,
    /// A deployment live at most this many minutes before an incident's onset is its suspect
    /// (default 60).
    pub suspect_deployment_minutes: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            cpu_warning_pct: 70.0,
            cpu_critical_pct: 90.0,
            memory_warning_pct: 80.0,
            memory_critical_pct: 95.0,
            sustained_share: 0.5,
            sustained_tail_minutes: 5,
            min_samples: 6,
            flat_band_pct: 10.0,
            memory_trend_min_r2: 0.8,
            memory_trend_min_pct_per_hour: 1.0,
            memory_trend_critical_hours: 6.0,
            memory_trend_warning_hours: 48.0,
            memory_trend_observation_hours: 168.0,
            min_requests: 100,
            min_error_requests: 5,
            rate_5xx_warning_pct: 2.0,
            rate_5xx_critical_pct: 10.0,
            rate_4xx_warning_pct: 20.0,
            rate_4xx_critical_pct: 40.0,
            burst_minutes: 5,
            burst_min_requests: 30,
            burst_5xx_warning_pct: 10.0,
            burst_5xx_critical_pct: 25.0,
            p95_warning_ms: 1000.0,
            p95_critical_ms: 3000.0,
            latency_sustained_share: 0.5,
            latency_min_requests: 100,
            evidence_endpoints: 3,
            recovery_minutes: 10,
            recovery_min_requests: 30,
            hysteresis_pct: 1.0,
            cpu_saturation_pct: 95.0,
            memory_saturation_pct: 98.0,
            scanner_observation_pct: 5.0,
            baseline_ratio: 3.0,
            baseline_p95_floor_ms: 300.0,
            suspect_deployment_minutes: 60.0,
        }
    }
}

/// A threshold set that cannot work (a warning level above its critical level, a share outside
/// `(0, 1]`, …). The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid detection threshold `{field}`: {reason}")]
pub struct InvalidThresholds {
    /// The offending field, as named in [`Thresholds`] (the key in `AUTOFIX_THRESHOLDS`).
    pub field: &'static str,
    /// What relation it breaks, with the values.
    pub reason: String,
}

impl Thresholds {
    /// Checks the relations the rules rely on, so a bad env var fails at startup, not silently.
    pub fn validate(&self) -> Result<(), InvalidThresholds> {
        let pairs: [(&'static str, f64, f64); 7] = [
            (
                "cpu_warning_pct",
                self.cpu_warning_pct,
                self.cpu_critical_pct,
            ),
            (
                "memory_warning_pct",
                self.memory_warning_pct,
                self.memory_critical_pct,
            ),
            (
                "rate_5xx_warning_pct",
                self.rate_5xx_warning_pct,
                self.rate_5xx_critical_pct,
            ),
            (
                "rate_4xx_warning_pct",
                self.rate_4xx_warning_pct,
                self.rate_4xx_critical_pct,
            ),
            (
                "burst_5xx_warning_pct",
                self.burst_5xx_warning_pct,
                self.burst_5xx_critical_pct,
            ),
            ("p95_warning_ms", self.p95_warning_ms, self.p95_critical_ms),
            (
                "memory_trend_critical_hours",
                self.memory_trend_critical_hours,
                self.memory_trend_warning_hours,
            ),
        ];
        for (field, low, high) in pairs {
            if !(low.is_finite() && high.is_finite() && low > 0.0) {
                return Err(invalid(
                    field,
                    format!("must be a positive number, got {low}"),
                ));
            }
            if low >= high {
                return Err(invalid(
                    field,
                    format!("{low} must be below its upper level {high}"),
                ));
            }
        }
        // Shares are percentages: 0.8 is almost always a fraction meant as 80 %, and anything
        // above 100 can never be reached.
        for (field, pct, floor) in [
            ("cpu_warning_pct", self.cpu_warning_pct, 1.0),
            ("cpu_critical_pct", self.cpu_critical_pct, 1.0),
            ("memory_warning_pct", self.memory_warning_pct, 1.0),
            ("memory_critical_pct", self.memory_critical_pct, 1.0),
            ("rate_5xx_warning_pct", self.rate_5xx_warning_pct, 0.0),
            ("rate_5xx_critical_pct", self.rate_5xx_critical_pct, 0.0),
            ("rate_4xx_warning_pct", self.rate_4xx_warning_pct, 0.0),
            ("rate_4xx_critical_pct", self.rate_4xx_critical_pct, 0.0),
            ("burst_5xx_warning_pct", self.burst_5xx_warning_pct, 0.0),
            ("burst_5xx_critical_pct", self.burst_5xx_critical_pct, 0.0),
            ("flat_band_pct", self.flat_band_pct, 0.0),
        ] {
            if !(pct > floor && pct <= 100.0) {
                return Err(invalid(
                    field,
                    format!(
                        "is a percentage: must be above {floor} and at most 100, got {pct} \
                         (write 80 for 80 %)"
                    ),
                ));
            }
        }
        if self.memory_trend_observation_hours < self.memory_trend_warning_hours {
            return Err(invalid(
                "memory_trend_observation_hours",
                "must be at least memory_trend_warning_hours".into(),
            ));
        }
        for (field, share) in [
            ("sustained_share", self.sustained_share),
            ("latency_sustained_share", self.latency_sustained_share),
            ("memory_trend_min_r2", self.memory_trend_min_r2),
        ] {
            if !(share > 0.0 && share <= 1.0) {
                return Err(invalid(field, format!("must be in (0, 1], got {share}")));
            }
        }
        if self.sustained_tail_minutes < 1 || self.burst_minutes < 1 {
            return Err(invalid(
                "sustained_tail_minutes/burst_minutes",
                "must be at least 1".into(),
            ));
        }
        for (field, crit, sat) in [
            (
                "cpu_saturation_pct",
                self.cpu_critical_pct,
                self.cpu_saturation_pct,
            ),
            (
                "memory_saturation_pct",
                self.memory_critical_pct,
                self.memory_saturation_pct,
            ),
        ] {
            if !(sat >= crit && sat <= 100.0) {
                return Err(invalid(
                    field,
                    format!("must be between the critical level {crit} and 100, got {sat}"),
                ));
            }
        }
        if !(self.hysteresis_pct >= 0.0 && self.hysteresis_pct < 10.0) {
            return Err(invalid(
                "hysteresis_pct",
                format!("must be in [0, 10), got {}", self.hysteresis_pct),
            ));
        }
        if !(self.baseline_ratio > 1.0 && self.baseline_ratio.is_finite()) {
            return Err(invalid(
                "baseline_ratio",
                format!("must be above 1, got {}", self.baseline_ratio),
            ));
        }
        for (field, v) in [
            ("baseline_p95_floor_ms", self.baseline_p95_floor_ms),
            ("scanner_observation_pct", self.scanner_observation_pct),
            (
                "suspect_deployment_minutes",
                self.suspect_deployment_minutes,
            ),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(
                    field,
                    format!("must be a non-negative number, got {v}"),
                ));
            }
        }
        if self.recovery_minutes < 1 {
            return Err(invalid("recovery_minutes", "must be at least 1".into()));
        }
        if self.min_samples < 2 {
            return Err(invalid("min_samples", "must be at least 2".into()));
        }
        Ok(())
    }
}

fn invalid(field: &'static str, reason: String) -> InvalidThresholds {
    InvalidThresholds { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_partial_config_keeps_defaults() {
        Thresholds::default().validate().unwrap();
        let t: Thresholds = serde_json::from_str(r#"{"cpu_warning_pct": 60}"#).unwrap();
        assert_eq!(t.cpu_warning_pct, 60.0);
        assert_eq!(t.cpu_critical_pct, 90.0);
        assert!(serde_json::from_str::<Thresholds>(r#"{"cpu_warn": 60}"#).is_err());
    }

    #[test]
    fn inverted_levels_are_rejected_with_the_field_name() {
        let t = Thresholds {
            p95_warning_ms: 5000.0,
            ..Thresholds::default()
        };
        let err = t.validate().unwrap_err();
        assert_eq!(err.field, "p95_warning_ms");
        let t = Thresholds {
            sustained_share: 0.0,
            ..Thresholds::default()
        };
        assert_eq!(t.validate().unwrap_err().field, "sustained_share");
    }
}
