//! Configured destinations. Every webhook URL embeds its own credential (Slack's, Discord's and
//! Teams' URLs are bearer secrets), so a [`Sink`] never prints more than scheme and host.

use crate::sign::{SignError, WebhookSecret};

/// Which kind of receiver a sink is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SinkKind {
    /// A Slack incoming-webhook URL (`AUTOFIX_SLACK_WEBHOOK_URL`).
    Slack,
    /// A Discord webhook URL (`AUTOFIX_DISCORD_WEBHOOK_URL`).
    Discord,
    /// A Microsoft Teams webhook URL (`AUTOFIX_TEAMS_WEBHOOK_URL`).
    Teams,
    /// A generic JSON webhook, signed with Standard Webhooks headers (`AUTOFIX_WEBHOOK_URL`).
    Webhook,
}

impl SinkKind {
    /// Lower-case name, also the step name suffix (`deliver-slack`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Teams => "teams",
            Self::Webhook => "webhook",
        }
    }

    /// The variable that configures it.
    pub fn variable(self) -> &'static str {
        match self {
            Self::Slack => "AUTOFIX_SLACK_WEBHOOK_URL",
            Self::Discord => "AUTOFIX_DISCORD_WEBHOOK_URL",
            Self::Teams => "AUTOFIX_TEAMS_WEBHOOK_URL",
            Self::Webhook => "AUTOFIX_WEBHOOK_URL",
        }
    }
}

/// One destination.
#[derive(Clone)]
pub struct Sink {
    /// Which receiver it is, and so how the message is rendered.
    pub kind: SinkKind,
    pub(crate) url: url::Url,
    pub(crate) secret: Option<WebhookSecret>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sink({}, {}://{}/<redacted>)",
            self.kind.as_str(),
            self.url.scheme(),
            self.url.host_str().unwrap_or("")
        )
    }
}

impl Sink {
    /// The full URL, secret part included: for the HTTP request and for the redactor only.
    pub fn url(&self) -> &url::Url {
        &self.url
    }
}

/// Every configured sink (zero or more; several at once are fine).
#[derive(Debug, Clone, Default)]
pub struct Sinks {
    /// In the fixed order Slack, Discord, Teams, generic webhook.
    pub sinks: Vec<Sink>,
}

/// A sink variable that cannot be used; the message names it and never contains its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkConfigError {
    /// The variable does not parse as a URL.
    #[error("{variable} is not a valid URL: {reason}")]
    InvalidUrl {
        /// The variable's name.
        variable: &'static str,
        /// The URL parser's reason (never the value).
        reason: String,
    },
    /// The URL is not `http` or `https`.
    #[error("{variable} must be an http:// or https:// URL")]
    Scheme {
        /// The variable's name.
        variable: &'static str,
    },
    /// The generic webhook has a URL but no signing secret.
    #[error(
        "AUTOFIX_WEBHOOK_URL is set but AUTOFIX_WEBHOOK_SECRET is not: the generic webhook is always signed (Standard Webhooks, `whsec_<base64>`)"
    )]
    MissingSecret,
    /// A signing secret is set without a generic webhook URL.
    #[error("AUTOFIX_WEBHOOK_SECRET is set but AUTOFIX_WEBHOOK_URL is not")]
    SecretWithoutUrl,
    /// `AUTOFIX_WEBHOOK_SECRET` is not a usable secret.
    #[error("AUTOFIX_WEBHOOK_SECRET: {0}")]
    Secret(SignError),
}

impl Sinks {
    /// Reads the five variables through `lookup` (empty values count as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Sinks, SinkConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let mut sinks = Vec::new();
        for kind in [SinkKind::Slack, SinkKind::Discord, SinkKind::Teams] {
            if let Some(raw) = get(kind.variable()) {
                sinks.push(Sink {
                    kind,
                    url: parse_url(kind.variable(), &raw)?,
                    secret: None,
                });
            }
        }
        match (get("AUTOFIX_WEBHOOK_URL"), get("AUTOFIX_WEBHOOK_SECRET")) {
            (Some(raw), Some(secret)) => sinks.push(Sink {
                kind: SinkKind::Webhook,
                url: parse_url("AUTOFIX_WEBHOOK_URL", &raw)?,
                secret: Some(WebhookSecret::parse(&secret).map_err(SinkConfigError::Secret)?),
            }),
            (Some(_), None) => return Err(SinkConfigError::MissingSecret),
            (None, Some(_)) => return Err(SinkConfigError::SecretWithoutUrl),
            (None, None) => {}
        }
        Ok(Sinks { sinks })
    }

    /// No sink configured: notifications are off.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// The configured sink of `kind`, if any.
    pub fn get(&self, kind: SinkKind) -> Option<&Sink> {
        self.sinks.iter().find(|s| s.kind == kind)
    }
}

fn parse_url(variable: &'static str, raw: &str) -> Result<url::Url, SinkConfigError> {
    // The parser's message can quote the input; ours names the variable only.
    let url = url::Url::parse(raw.trim()).map_err(|e| SinkConfigError::InvalidUrl {
        variable,
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SinkConfigError::Scheme { variable });
    }
    Ok(url)
}
