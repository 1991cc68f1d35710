//! Registers every configured secret with the process-wide redactor, once, before any client is
//! built: from then on every error message, step output, event, log line, prompt and task the
//! worker produces goes through `redact`.

use crate::config::Options;

/// Every secret `options` holds, labelled with its variable.
pub fn collect(options: &Options) -> redact::Secrets {
    let mut s = redact::Secrets::new();
    let plain: [(&str, &Option<String>); 6] = [
        ("RAILWAY_API_TOKEN", &options.railway_api_token),
        ("RAILWAY_TOKEN", &options.railway_token),
        ("OPENAI_API_KEY", &options.openai_api_key),
        ("ANTHROPIC_API_KEY", &options.anthropic_api_key),
        ("GITHUB_TOKEN", &options.github_token),
        ("INNGEST_EVENT_KEY", &options.inngest_event_key),
    ];
    for (label, value) in plain {
        if let Some(v) = value {
            s.add(label, v);
        }
    }
    for (label, key) in [
        ("INNGEST_SIGNING_KEY", &options.inngest_signing_key),
        (
            "INNGEST_SIGNING_KEY_FALLBACK",
            &options.inngest_signing_key_fallback,
        ),
    ] {
        let Some(key) = key else { continue };
        let raw = key.expose_secret();
        s.add(label, raw);
        // The HMAC key without its `signkey-<env>-` prefix, and the hashed form the worker sends
        // as its Bearer token to the Inngest API, are as good as the key itself.
        let hashed = key.hashed();
        s.add(label, &hashed);
        s.add(label, strip_signkey_prefix(&hashed));
        s.add(label, strip_signkey_prefix(raw));
    }
    if let Some(password) = &options.opencode_password {
        let user = options.opencode_username.as_deref().unwrap_or("opencode");
        s.add_basic_auth("OPENCODE_SERVER_PASSWORD", user, password);
    }
    let urls: [(&str, Option<&str>); 10] = [
        ("RAILWAY_API_URL", Some(options.railway_api_url.as_str())),
        (
            "OPENAI_BASE_URL",
            options.openai_base_url.as_ref().map(|u| u.as_str()),
        ),
        (
            "ANTHROPIC_BASE_URL",
            options.anthropic_base_url.as_ref().map(|u| u.as_str()),
        ),
        (
            "OPENCODE_URL",
            options.opencode_url.as_ref().map(|u| u.as_str()),
        ),
        ("GITHUB_API_URL", Some(options.github_api_url.as_str())),
        (
            "INNGEST_BASE_URL",
            options.inngest_base_url.as_ref().map(|u| u.as_str()),
        ),
        (
            "INNGEST_API_BASE_URL",
            options.inngest_api_base_url.as_ref().map(|u| u.as_str()),
        ),
        (
            "INNGEST_EVENT_API_BASE_URL",
            options
                .inngest_event_api_base_url
                .as_ref()
                .map(|u| u.as_str()),
        ),
        ("INNGEST_SERVE_HOST", options.inngest_serve_host.as_deref()),
        (
            "INNGEST_SERVE_ORIGIN",
            options.inngest_serve_origin.as_deref(),
        ),
    ];
    for (label, url) in urls {
        if let Some(url) = url {
            s.add_url(label, url);
        }
    }
    for (label, value) in options.notification_secrets() {
        s.add(label, &value);
        if let Some(key) = value.trim().strip_prefix("whsec_") {
            s.add(label, key);
        }
    }
    if let Some(inngest::DevFlag::Url(dev)) = &options.inngest_dev {
        s.add_url("INNGEST_DEV", dev.as_str());
    }
    s
}

/// Registers the secrets of `options` and warns about the ones too short to redact.
pub fn register(options: &Options) {
    let secrets = collect(options);
    redact::register(&secrets);
    for label in secrets.too_short() {
        tracing::warn!(
            variable = %label,
            min_chars = redact::MIN_SECRET_CHARS,
            "this secret is too short to be redacted from logs and error messages; use a longer one"
        );
    }
}

fn strip_signkey_prefix(key: &str) -> &str {
    key.strip_prefix("signkey-")
        .and_then(|rest| rest.split_once('-').map(|(_, body)| body))
        .unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        options: Options,
    }

    fn options(args: &[&str]) -> Options {
        let mut all = vec!["autofix"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("options parse").options
    }

    #[test]
    fn every_secret_variable_is_collected() {
        let o = options(&[
            "--railway-api-token",
            "railway-token-123456",
            "--github-token",
            "ghp_github_token_123456",
            "--openai-api-key",
            "sk-openai-key-123456",
            "--inngest-event-key",
            "event-key-123456",
            "--inngest-signing-key",
            "signkey-prod-0123456789abcdef0123456789abcdef",
            "--opencode-password",
            "opencode-password-1",
            "--openai-base-url",
            "https://u:url-password-1@llm.example/v1?api-key=url-query-key-1",
            "--slack-webhook-url",
            "https://hooks.slack.com/services/T0/B0/slack-token-123456",
            "--webhook-url",
            "https://hooks.example.com/autofix",
            "--webhook-secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ]);
        let secrets = collect(&o);
        let r = redact::Redactor::new(&secrets);
        let hashed = inngest::SigningKey::new("signkey-prod-0123456789abcdef0123456789abcdef")
            .unwrap()
            .hashed();
        for value in [
            "railway-token-123456",
            "ghp_github_token_123456",
            "sk-openai-key-123456",
            "event-key-123456",
            "0123456789abcdef0123456789abcdef",
            hashed.as_str(),
            "opencode-password-1",
            "url-password-1",
            "url-query-key-1",
            "https://hooks.slack.com/services/T0/B0/slack-token-123456",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            let out = r.redact(&format!("[{value}]")).into_owned();
            assert_eq!(out, "[<redacted>]", "{value} not redacted");
        }
    }
}
