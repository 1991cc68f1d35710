//! One HTML file a reviewer can open anywhere: styles inline, charts as inline SVG, no scripts,
//! fonts, images or links to fetch. Every text is escaped, so log lines and service names stay
//! text.

#![warn(missing_docs)]

use charts::Chart;

/// Everything the report shows, as plain text; the caller decides what goes in.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The page's `<title>` and heading.
    pub title: String,
    /// One line under the title (window, analysis mode, demo notice).
    pub subtitle: String,
    /// Shown as a warning banner when set.
    pub banner: Option<String>,
    /// Preformatted.
    pub architecture: String,
    /// One row per finding, in the order given.
    pub findings: Vec<FindingRow>,
    /// One chart per incident.
    pub charts: Vec<Chart>,
    /// Headed, preformatted blocks.
    pub evidence: Vec<Section>,
    /// Headed, preformatted blocks: the analysis and fix outcome per incident.
    pub fix_plan: Vec<Section>,
}

/// One row of the findings table, already formatted as text (the report escapes it).
#[derive(Debug, Clone, Default)]
pub struct FindingRow {
    /// `critical`, `warning`, … : also picks the row's colour class.
    pub severity: String,
    /// Service name.
    pub service: String,
    /// Finding kind, e.g. `memory_trend`.
    pub kind: String,
    /// Measured value with its unit.
    pub value: String,
    /// Threshold with its unit.
    pub threshold: String,
    /// The finding's one-line evidence.
    pub evidence: String,
    /// The finding's fingerprint; kept with the row but not shown in the table.
    pub fingerprint: String,
}

/// A headed block of preformatted text (evidence JSON, an analysis).
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Shown as an `<h3>`.
    pub heading: String,
    /// Shown in a `<pre>`, trailing whitespace trimmed.
    pub body: String,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#111;background:#fafafa;padding:0 1rem}\
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2rem}\
.sub{color:#555}.banner{background:#fff3cd;border:1px solid #e0c060;padding:.5rem 1rem;border-radius:4px}\
table{border-collapse:collapse;width:100%;background:#fff}td,th{border:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}\
th{background:#f0f0f0}.critical{color:#b00020;font-weight:700}.warning{color:#a05a00;font-weight:700}.observation{color:#555}.recovered{color:#2a7a2a}\
pre{background:#fff;border:1px solid #ddd;padding:.75rem;overflow-x:auto;white-space:pre-wrap;font-size:.85rem}\
figure{margin:1rem 0;background:#fff;border:1px solid #ddd;padding:.5rem}figcaption{font-size:.85rem;color:#555}";

/// The whole document.
pub fn render(r: &Report) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // No network even if a string slipped through: the policy forbids every fetch.
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str(&format!(
        "<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&r.title)
    ));
    h.push_str(&format!(
        "<h1>{}</h1>\n<p class=\"sub\">{}</p>\n",
        esc(&r.title),
        esc(&r.subtitle)
    ));
    if let Some(b) = &r.banner {
        h.push_str(&format!("<p class=\"banner\">{}</p>\n", esc(b)));
    }
    h.push_str(&format!(
        "<h2>Architecture</h2>\n<pre>{}</pre>\n",
        esc(r.architecture.trim_end())
    ));

    h.push_str("<h2>Findings</h2>\n");
    if r.findings.is_empty() {
        h.push_str("<p>No findings: every service is healthy.</p>\n");
    } else {
        h.push_str("<table>\n<tr><th>severity</th><th>service</th><th>kind</th><th>value</th><th>threshold</th><th>evidence</th></tr>\n");
        for f in &r.findings {
            h.push_str(&format!(
                "<tr><td class=\"{cls}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&f.severity),
                esc(&f.service),
                esc(&f.kind),
                esc(&f.value),
                esc(&f.threshold),
                esc(&f.evidence),
                cls = class(&f.severity)
            ));
        }
        h.push_str("</table>\n");
    }
    if !r.charts.is_empty() {
        h.push_str("<h2>Signals</h2>\n");
        for c in &r.charts {
            let legend = match c.threshold {
                Some(t) => format!("dashed red: threshold {t} {}", c.unit),
                None => "no level threshold (the finding is about growth)".into(),
            };
            h.push_str(&format!(
                "<figure>\n{}<figcaption>{} · {} · <code>{}</code></figcaption>\n</figure>\n",
                charts::svg(c, 1000, 260),
                esc(&c.title()),
                esc(&legend),
                esc(&c.fingerprint)
            ));
        }
    }
    for (title, sections) in [("Evidence", &r.evidence), ("Fix plan", &r.fix_plan)] {
        if sections.is_empty() {
            continue;
        }
        h.push_str(&format!("<h2>{title}</h2>\n"));
        for s in sections {
            h.push_str(&format!(
                "<h3>{}</h3>\n<pre>{}</pre>\n",
                esc(&s.heading),
                esc(s.body.trim_end())
            ));
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}

fn class(severity: &str) -> &'static str {
    match severity {
        "critical" => "critical",
        "warning" => "warning",
        "recovered" => "recovered",
        _ => "observation",
    }
}

use charts::escape_html as esc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_stays_text_and_nothing_is_fetched() {
        let r = Report {
            title: "shop / production".into(),
            subtitle: "window 09:00–09:30 UTC".into(),
            banner: Some("demo".into()),
            architecture: "api <script>alert(1)</script>".into(),
            findings: vec![FindingRow {
                severity: "critical".into(),
                service: "api".into(),
                kind: "latency".into(),
                value: "3432 ms".into(),
                threshold: "3000 ms".into(),
                evidence: "GET /x?<img src=https://evil.example/p.png>".into(),
                fingerprint: "af-1".into(),
            }],
            charts: vec![charts::Chart {
                fingerprint: "af-1".into(),
                service: "api".into(),
                signal: "p95 latency".into(),
                unit: "ms".into(),
                points: vec![
                    charts::Point { ts: 0, value: 1.0 },
                    charts::Point { ts: 60, value: 4.0 },
                ],
                threshold: Some(3.0),
                markers: vec![],
            }],
            evidence: vec![Section {
                heading: "api".into(),
                body: "<link rel=stylesheet href=https://evil.example/x.css>".into(),
            }],
            fix_plan: vec![],
        };
        let html = render(&r);
        assert!(html.starts_with("<!DOCTYPE html>"));
        for forbidden in ["<script", "<img", "<link", "<iframe", "<object", "url("] {
            assert!(!html.contains(forbidden), "{forbidden} in {html}");
        }
        // The only URL in an attribute is the SVG namespace, which is never fetched.
        assert_eq!(
            html.matches("=\"http").count(),
            html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
        assert!(html.contains("&lt;img src=https://evil.example/p.png&gt;"));
        assert_eq!(html.matches("<svg").count(), 1);
        assert!(html.contains("default-src 'none'"));
        assert!(html.contains("<td class=\"critical\">critical</td>"));
    }
}
