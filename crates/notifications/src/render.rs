//! Each sink's payload for one [`Notification`]. Pure: JSON in, JSON out.
//!
//! Text that reaches a message (service names, evidence, model output) is escaped per sink so it
//! cannot ping a channel (`<!channel>`, `@everyone`), forge a link, or break the payload, and is
//! cut to the sink's documented field limits.

use serde_json::{Value, json};

use crate::{Notification, Tone};

/// Slack incoming webhook: Block Kit with a plain-text fallback (`text`), a header, the details,
/// and buttons to the PR, the issue and the Inngest run.
pub fn slack(n: &Notification) -> Value {
    let emoji = match n.transition.tone() {
        Tone::Bad => ":rotating_light:",
        Tone::Attention => ":warning:",
        Tone::Info => ":hammer_and_wrench:",
        Tone::Good => ":white_check_mark:",
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "emoji": true,
            "text": cut(&format!("{} · {}", n.transition.heading(), services(n)), 150)}}),
        json!({"type": "section", "text": {"type": "mrkdwn",
            "text": cut(&format!("{emoji} {}", slack_escape(&n.summary)), 3000)}}),
    ];
    let fields = facts(n)
        .into_iter()
        .map(|(k, v)| json!({"type": "mrkdwn", "text": cut(&format!("*{k}*\n{}", slack_escape(&v)), 2000)}))
        .take(10)
        .collect::<Vec<_>>();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if !n.details.is_empty() {
        let text = n
            .details
            .iter()
            .map(|d| format!("• {}", slack_escape(d)))
            .collect::<Vec<_>>()
            .join("\n");
        blocks
            .push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&text, 3000)}}));
    }
    if let Some(s) = &n.sparkline {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": cut(&format!("`{}`", s.replace('`', "'")), 3000)}}));
    }
    let buttons: Vec<Value> = links(n)
        .into_iter()
        .map(|(label, url)| json!({"type": "button", "text": {"type": "plain_text", "text": label}, "url": cut(&url, 3000)}))
        .collect();
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
        "text": cut(&format!("{} · `{}`", slack_escape(&where_(n)), slack_escape(&n.fingerprint)), 3000)}]}));
    json!({"text": cut(&slack_escape(&n.title_line()), 3000), "blocks": blocks})
}

/// Discord webhook: one embed. `allowed_mentions` is empty so no text in it can ping anyone.
pub fn discord(n: &Notification) -> Value {
    let color = match n.transition.tone() {
        Tone::Bad => 0xD62728,
        Tone::Attention => 0xFF9900,
        Tone::Info => 0x1F77B4,
        Tone::Good => 0x2CA02C,
    };
    let mut fields: Vec<Value> = facts(n)
        .into_iter()
        .map(|(k, v)| json!({"name": cut(k, 256), "value": cut(&v, 1024), "inline": true}))
        .collect();
    for (label, url) in links(n) {
        fields.push(json!({"name": label, "value": cut(&url, 1024), "inline": false}));
    }
    fields.truncate(25);
    let mut description = n.summary.clone();
    for d in &n.details {
        description.push_str(&format!("\n• {d}"));
    }
    if let Some(s) = &n.sparkline {
        description.push_str(&format!("\n`{}`", s.replace('`', "'")));
    }
    let mut embed = json!({
        "title": cut(&format!("{} · {}", n.transition.heading(), services(n)), 256),
        "description": cut(&description, 4096),
        "color": color,
        "fields": fields,
        "footer": {"text": cut(&format!("{} · {}", where_(n), n.fingerprint), 2048)},
    });
    if let Some(url) = links(n).first().map(|(_, u)| u.clone()) {
        embed["url"] = json!(url);
    }
    if let Some(ts) = rfc3339(n.at) {
        embed["timestamp"] = json!(ts);
    }
    json!({
        "content": cut(&n.title_line(), 2000),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

/// Microsoft Teams workflow webhook ("Post to a channel when a webhook request is received"):
/// a message with one Adaptive Card 1.4 attachment.
pub fn teams(n: &Notification) -> Value {
    let color = match n.transition.tone() {
        Tone::Bad => "Attention",
        Tone::Attention => "Warning",
        Tone::Info => "Accent",
        Tone::Good => "Good",
    };
    let mut body = vec![
        json!({"type": "TextBlock", "size": "Large", "weight": "Bolder", "color": color, "wrap": true,
            "text": cut(&format!("{} · {}", n.transition.heading(), services(n)), 400)}),
        json!({"type": "TextBlock", "wrap": true, "text": cut(&n.summary, 2000)}),
    ];
    let facts: Vec<Value> = facts(n)
        .into_iter()
        .map(|(k, v)| json!({"title": k, "value": cut(&v, 500)}))
        .collect();
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    for d in n.details.iter().take(10) {
        body.push(json!({"type": "TextBlock", "wrap": true, "spacing": "Small", "text": cut(&format!("- {d}"), 1000)}));
    }
    if let Some(s) = &n.sparkline {
        body.push(json!({"type": "TextBlock", "fontType": "Monospace", "text": cut(s, 500)}));
    }
    body.push(
        json!({"type": "TextBlock", "isSubtle": true, "size": "Small", "wrap": true,
        "text": cut(&format!("{} · {}", where_(n), n.fingerprint), 500)}),
    );
    let actions: Vec<Value> = links(n)
        .into_iter()
        .map(|(label, url)| json!({"type": "Action.OpenUrl", "title": label, "url": url}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
                "actions": actions,
            }
        }]
    })
}

/// The generic webhook body, shaped as Standard Webhooks suggests: `type`, `timestamp`, `data`.
pub fn webhook(n: &Notification) -> Value {
    json!({
        "type": format!("autofix.{}", n.transition.as_str()),
        "timestamp": rfc3339(n.at),
        "data": n,
    })
}

fn services(n: &Notification) -> String {
    match (n.services.is_empty(), &n.repo) {
        (false, _) => n.services.join(", "),
        (true, Some(r)) => r.clone(),
        (true, None) => n.fingerprint.clone(),
    }
}

fn where_(n: &Notification) -> String {
    let demo = if n.demo { " (demo data)" } else { "" };
    format!("{} / {}{demo}", n.project, n.environment)
}

/// Short labelled values shown as fields.
fn facts(n: &Notification) -> Vec<(&'static str, String)> {
    let mut f = Vec::new();
    if let Some(s) = &n.severity {
        f.push(("Severity", s.clone()));
    }
    if let Some(k) = &n.kind {
        f.push(("Kind", k.clone()));
    }
    if let Some(r) = &n.repo {
        f.push(("Repository", r.clone()));
    }
    if let Some(d) = &n.suspect_deployment {
        f.push(("Suspect deployment", d.clone()));
    }
    if let Some(pr) = &n.pull_request {
        let ci = pr
            .ci
            .as_deref()
            .map(|c| format!(", CI {c}"))
            .unwrap_or_default();
        f.push(("Pull request", format!("#{} ({}{ci})", pr.number, pr.state)));
    }
    f
}

/// Buttons/links: the PR, the issue, the Inngest run, in that order; only http(s) URLs.
fn links(n: &Notification) -> Vec<(&'static str, String)> {
    let mut l = Vec::new();
    if let Some(pr) = &n.pull_request {
        l.push(("Open pull request", pr.url.clone()));
    }
    if let Some(u) = &n.issue_url {
        l.push(("Open issue", u.clone()));
    }
    if let Some(u) = &n.run_url {
        l.push(("Inngest run", u.clone()));
    }
    l.retain(|(_, u)| u.starts_with("https://") || u.starts_with("http://"));
    l
}

/// Slack's three control characters; with `<` escaped no text can form `<!channel>` or a link.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, ending in `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn rfc3339(ts: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}
