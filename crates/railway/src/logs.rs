//! Log bounds: how much of a service's logs reaches the LLM. Applied identically to live and
//! static sources.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{HttpLogLine, LogLine, ServiceLogs};
use crate::timefmt;

/// Bounds for one service's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLimits {
    /// Newest lines kept per stream (build, deploy, http). Railway allows at most 5 000.
    pub max_lines: usize,
    /// Total bytes kept across the three streams.
    pub max_bytes: usize,
    /// Longer messages are cut to this many bytes.
    pub max_message_bytes: usize,
    /// Requests at least this slow are kept alongside failed ones.
    pub slow_request_ms: u64,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self {
            max_lines: 200,
            max_bytes: 64 * 1024,
            max_message_bytes: 2048,
            slow_request_ms: crate::client::SLOW_REQUEST_MS,
        }
    }
}

/// Log text (in [`LogLimits::max_bytes`] terms) one read keeps across all its services, so the
/// `read-logs` step output stays far under Inngest's 4 MiB step-output limit (and our 512 KB
/// target) however many services an incident touches.
pub const MAX_READ_BYTES: usize = 128 * 1024;

impl LogLimits {
    /// These limits for one of `services` services read together: each keeps at most its share
    /// of [`MAX_READ_BYTES`] (never less than 1 KiB, never more than `max_bytes`).
    pub fn shared_by(self, services: usize) -> Self {
        let share = (MAX_READ_BYTES / services.max(1)).max(1024);
        Self {
            max_bytes: self.max_bytes.min(share),
            ..self
        }
    }
}

/// One `Log` row as our documents select it.
#[derive(Debug, Clone, Deserialize)]
pub struct LogRow {
    pub timestamp: String,
    pub message: String,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Attribute {
    pub key: String,
    pub value: String,
}

impl LogRow {
    pub fn into_line(self) -> LogLine {
        // Attribute values may carry JSON quoting (`"error"`), as Railway's CLI notes.
        let attributes: BTreeMap<String, String> = self
            .attributes
            .into_iter()
            .map(|a| {
                let v = a.value.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                (a.key, v.to_owned())
            })
            .collect();
        let severity = self
            .severity
            .filter(|s| !s.is_empty())
            .or_else(|| attributes.get("level").cloned());
        LogLine {
            timestamp: self.timestamp,
            message: self.message,
            severity,
            attributes,
        }
    }
}

fn line_bytes(l: &LogLine) -> usize {
    l.timestamp.len()
        + l.message.len()
        + l.attributes
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
}

fn http_bytes(l: &HttpLogLine) -> usize {
    l.timestamp.len()
        + l.method.len()
        + l.path.len()
        + 16
        + l.response_details.as_ref().map_or(0, String::len)
}

fn sort_key(ts: &str) -> (i128, String) {
    (timefmt::unix_nanos(ts).unwrap_or(i128::MIN), ts.to_owned())
}

fn cut_message(message: &mut String, max: usize) -> bool {
    if message.len() <= max {
        return false;
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push('…');
    true
}

/// Sorts each stream by time and keeps the newest lines within `limits`, noting every cut in
/// `truncated`.
pub fn bound(logs: &mut ServiceLogs, limits: &LogLimits) {
    logs.build.sort_by_cached_key(|l| sort_key(&l.timestamp));
    logs.deploy.sort_by_cached_key(|l| sort_key(&l.timestamp));
    logs.http.sort_by_cached_key(|l| sort_key(&l.timestamp));

    for (name, stream) in [("build", &mut logs.build), ("deploy", &mut logs.deploy)] {
        if stream.len() > limits.max_lines {
            let total = stream.len();
            stream.drain(..total - limits.max_lines);
            logs.truncated.push(format!(
                "{name}: kept newest {} of {total} lines",
                limits.max_lines
            ));
        }
        let mut cut = 0;
        for l in stream.iter_mut() {
            cut += usize::from(cut_message(&mut l.message, limits.max_message_bytes));
        }
        if cut > 0 {
            logs.truncated.push(format!(
                "{name}: {cut} messages cut to {} bytes",
                limits.max_message_bytes
            ));
        }
    }
    if logs.http.len() > limits.max_lines {
        let total = logs.http.len();
        logs.http.drain(..total - limits.max_lines);
        logs.truncated.push(format!(
            "http: kept newest {} of {total} requests",
            limits.max_lines
        ));
    }

    // Over the byte budget: drop the oldest line of whichever stream is largest, so one noisy
    // stream cannot crowd out the others.
    let mut sizes = [
        logs.build.iter().map(line_bytes).sum::<usize>(),
        logs.deploy.iter().map(line_bytes).sum::<usize>(),
        logs.http.iter().map(http_bytes).sum::<usize>(),
    ];
    let mut dropped = [0usize; 3];
    while sizes.iter().sum::<usize>() > limits.max_bytes {
        let largest = (0..3).max_by_key(|&i| sizes[i]).unwrap_or(0);
        let freed = match largest {
            0 if !logs.build.is_empty() => line_bytes(&logs.build.remove(0)),
            1 if !logs.deploy.is_empty() => line_bytes(&logs.deploy.remove(0)),
            2 if !logs.http.is_empty() => http_bytes(&logs.http.remove(0)),
            _ => break,
        };
        sizes[largest] -= freed;
        dropped[largest] += 1;
    }
    for (i, name) in ["build", "deploy", "http"].iter().enumerate() {
        if dropped[i] > 0 {
            logs.truncated.push(format!(
                "{name}: dropped {} oldest lines to stay under {} bytes",
                dropped[i], limits.max_bytes
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sec: u32, msg: &str) -> LogLine {
        LogLine {
            timestamp: format!("2026-11-23T09:00:{sec:02}.000000001Z"),
            message: msg.into(),
            severity: None,
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn attributes_are_unquoted_and_level_becomes_severity() {
        let row = LogRow {
            timestamp: "t".into(),
            message: "m".into(),
            severity: None,
            attributes: vec![Attribute {
                key: "level".into(),
                value: "\"error\"".into(),
            }],
        };
        let l = row.into_line();
        assert_eq!(l.severity.as_deref(), Some("error"));
        assert_eq!(l.attributes["level"], "error");
    }

    #[test]
    fn keeps_newest_lines_sorted() {
        let mut logs = ServiceLogs {
            deploy: vec![
                line(5, "e"),
                line(1, "a"),
                line(3, "c"),
                line(2, "b"),
                line(4, "d"),
            ],
            ..Default::default()
        };
        bound(
            &mut logs,
            &LogLimits {
                max_lines: 3,
                ..LogLimits::default()
            },
        );
        let msgs: Vec<&str> = logs.deploy.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(msgs, ["c", "d", "e"]);
        assert_eq!(logs.truncated, ["deploy: kept newest 3 of 5 lines"]);
    }

    #[test]
    fn byte_budget_drops_oldest_of_largest_stream() {
        let big = "x".repeat(100);
        let mut logs = ServiceLogs {
            build: vec![line(0, "build ok")],
            deploy: (0..10).map(|i| line(i, &big)).collect(),
            ..Default::default()
        };
        bound(
            &mut logs,
            &LogLimits {
                max_bytes: 600,
                ..LogLimits::default()
            },
        );
        assert_eq!(logs.build.len(), 1, "small stream untouched");
        assert!(logs.deploy.len() < 10);
        assert_eq!(logs.deploy.last().unwrap().timestamp, line(9, "").timestamp);
        assert!(
            logs.truncated
                .iter()
                .any(|t| t.starts_with("deploy: dropped"))
        );
    }

    #[test]
    fn a_read_of_many_services_shares_one_byte_budget() {
        let l = LogLimits::default();
        assert_eq!(l.shared_by(1), l, "one service keeps its own budget");
        assert_eq!(l.shared_by(0), l);
        assert_eq!(l.shared_by(16).max_bytes, MAX_READ_BYTES / 16);
        assert_eq!(l.shared_by(10_000).max_bytes, 1024, "a floor per service");
        for n in [1, 2, 7, 100, 128] {
            assert!(n * l.shared_by(n).max_bytes <= MAX_READ_BYTES, "n={n}");
        }
    }

    #[test]
    fn long_messages_are_cut_on_char_boundary() {
        let mut logs = ServiceLogs {
            deploy: vec![line(0, &"é".repeat(10))],
            ..Default::default()
        };
        bound(
            &mut logs,
            &LogLimits {
                max_message_bytes: 5,
                ..LogLimits::default()
            },
        );
        assert_eq!(logs.deploy[0].message, "éé…");
        assert_eq!(logs.truncated.len(), 1);
    }
}
