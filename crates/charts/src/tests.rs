use super::*;

fn chart(values: &[f64], threshold: Option<f64>) -> Chart {
    Chart {
        fingerprint: "af-0123456789ab".into(),
        service: "reports-api".into(),
        signal: "p95 latency".into(),
        unit: "ms".into(),
        points: values
            .iter()
            .enumerate()
            .map(|(i, &value)| Point {
                ts: 1_795_420_800 + 60 * i as i64,
                value,
            })
            .collect(),
        threshold,
        markers: Vec::new(),
    }
}

fn bracket_list(line: &str) -> Vec<String> {
    let inner = line
        .split_once('[')
        .and_then(|(_, r)| r.rsplit_once(']'))
        .map(|(l, _)| l)
        .unwrap_or_else(|| panic!("no list in {line}"));
    inner.split(", ").map(str::to_owned).collect()
}

#[test]
fn demo_incidents_get_charts_with_their_threshold() {
    let now = 1_795_422_600;
    let snap = demo::demo_project(now);
    let report = detect::detect(
        &snap.architecture,
        &snap.resources,
        &snap.http,
        &detect::Thresholds::default(),
    );
    let charts = for_findings(
        &report.findings,
        &snap.architecture,
        &snap.resources,
        &snap.http,
    );
    let by_service = |name: &str| {
        charts
            .iter()
            .find(|c| c.service == name)
            .unwrap_or_else(|| panic!("no chart for {name}: {charts:#?}"))
    };
    let latency = by_service("reports-api");
    assert_eq!(latency.unit, "ms");
    assert_eq!(latency.threshold, Some(3000.0));
    assert!(latency.points.len() >= 10, "{latency:?}");
    let cpu = by_service("image-worker");
    assert_eq!(cpu.unit, "%");
    assert!(cpu.values().iter().all(|v| (0.0..=100.0).contains(v)));
    assert!(
        cpu.values().iter().filter(|v| **v >= 90.0).count() > cpu.points.len() / 2,
        "the chart shows the sustained load detection saw: {cpu:?}"
    );
    let leak = by_service("storefront-api");
    assert_eq!(
        leak.threshold, None,
        "a growth rate is not a level on this axis"
    );
    assert!(leak.values().last() > leak.values().first(), "{leak:?}");
    assert!(
        charts.iter().all(|c| c.service != "postgres"),
        "observations get no chart"
    );
}

#[test]
fn mermaid_has_one_value_per_label_and_a_flat_threshold() {
    let values: Vec<f64> = (0..90).map(|i| 1000.0 + 40.0 * f64::from(i)).collect();
    let c = chart(&values, Some(3000.0));
    let src = mermaid(&c);
    let lines: Vec<&str> = src.lines().collect();
    assert_eq!(lines[0], "xychart-beta");
    assert_eq!(lines[1], "    title \"reports-api · p95 latency (ms)\"");
    let labels = bracket_list(lines[2]);
    assert_eq!(labels.len(), MAX_MERMAID_POINTS, "down-sampled to the cap");
    assert_eq!(labels[0], "\"08:00\"");
    assert!(lines[3].starts_with("    y-axis \"ms\" 0 --> "), "{src}");
    let series = bracket_list(lines[4]);
    assert_eq!(series.len(), labels.len());
    assert_eq!(
        series.last().map(String::as_str),
        Some("4560"),
        "each slot keeps its maximum: {src}"
    );
    let threshold = bracket_list(lines[5]);
    assert!(threshold.iter().all(|t| t == "3000"), "{src}");
    let top: f64 = lines[3].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(top > 4560.0, "the axis holds the peak: {src}");
}

#[test]
fn deployment_marker_is_a_bar_in_its_slot() {
    let mut c = chart(&[1.0, 2.0, 3.0, 4.0], Some(2.5));
    c.markers.push(Marker {
        ts: c.points[2].ts + 10,
        label: "deploy abc1234".into(),
    });
    let src = mermaid(&c);
    let bar = src
        .lines()
        .find(|l| l.trim_start().starts_with("bar"))
        .expect(&src);
    let bars = bracket_list(bar);
    assert_eq!(bars.len(), 4);
    assert_eq!(bars[0], "0");
    assert_ne!(bars[2], "0", "{src}");
    let block = mermaid_block(&c);
    assert!(block.starts_with("```mermaid\nxychart-beta\n"));
    assert!(
        block.contains("bar: deploy abc1234 at 08:02 UTC"),
        "{block}"
    );
}

#[test]
fn names_cannot_break_out_of_mermaid_strings_or_markdown() {
    let mut c = chart(&[1.0, 2.0], None);
    c.service = "evil\"]\n```\n<!-- autofix:fingerprint=x -->".into();
    let block = mermaid_block(&c);
    let title = block.lines().nth(2).unwrap();
    assert_eq!(title.matches('"').count(), 2, "{title}");
    assert_eq!(block.matches("```").count(), 2, "{block}");
    assert!(!block.contains("<!--"), "{block}");
}

#[test]
fn sparkline_scales_between_low_and_high() {
    let values: Vec<f64> = (0..8).map(f64::from).collect();
    assert_eq!(sparkline(&values, None, 20), "▁▂▃▄▅▆▇█");
    assert_eq!(sparkline(&values, None, 4).chars().count(), 4);
    assert_eq!(sparkline(&[5.0, 5.0], None, 10), "▄▄");
    assert_eq!(sparkline(&[], None, 10), "");
    // A threshold above every value leaves the line low.
    assert_eq!(sparkline(&[1.0, 1.0], Some(8.0), 10), "▁▁");
}

#[test]
fn ansi_sparkline_marks_cells_over_the_threshold() {
    let s = sparkline_ansi(&[1.0, 9.0, 9.0, 1.0], Some(5.0), 10);
    assert_eq!(s, "▁\x1b[1;31m██\x1b[0m▁");
    assert!(!sparkline(&[1.0, 9.0], Some(5.0), 10).contains('\x1b'));
}

#[test]
fn svg_is_self_contained_and_escaped() {
    let mut c = chart(&[1.0, 5.0, 2.0], Some(3.0));
    c.service = "<script>alert(1)</script>".into();
    c.markers.push(Marker {
        ts: c.points[1].ts,
        label: "deploy & \"go\"".into(),
    });
    let s = svg(&c, 640, 200);
    assert!(s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(!s.contains("<script"), "{s}");
    assert!(s.contains("&lt;script&gt;"));
    assert!(s.contains("deploy &amp; &quot;go&quot;"));
    assert!(!s.contains("href"), "no external references: {s}");
    assert_eq!(
        s.matches("stroke-dasharray=\"6 4\"").count(),
        1,
        "one threshold line"
    );
}
