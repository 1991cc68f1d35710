//! One typed configuration from CLI flags and environment variables, validated at start.
//!
//! Every error names the variable and what is wrong with it; no error ever echoes a secret.

use std::time::Duration;

use clap::{Args, ValueEnum};
use url::Url;

/// Options shared by every subcommand. Each flag is also an environment variable.
#[derive(Debug, Clone, Args)]
pub struct Options {
    // ---- Railway -------------------------------------------------------------------------
    /// Railway account or workspace token (sent as `Authorization: Bearer`). Without any Railway
    /// token, Autofix runs on the built-in demo project.
    #[arg(long, env = "RAILWAY_API_TOKEN", hide_env_values = true)]
    pub railway_api_token: Option<String>,
    /// Railway project token (sent as `Project-Access-Token`); set this or RAILWAY_API_TOKEN.
    #[arg(long, env = "RAILWAY_TOKEN", hide_env_values = true)]
    pub railway_token: Option<String>,
    /// Project to monitor (Railway injects it into every deployment).
    #[arg(long, env = "RAILWAY_PROJECT_ID")]
    pub railway_project_id: Option<String>,
    /// Environment to monitor (Railway injects it into every deployment).
    #[arg(long, env = "RAILWAY_ENVIRONMENT_ID")]
    pub railway_environment_id: Option<String>,
    /// Environment to monitor, by name, when no id is given.
    #[arg(long, env = "RAILWAY_ENVIRONMENT_NAME")]
    pub railway_environment_name: Option<String>,
    /// Railway GraphQL endpoint.
    #[arg(
        long,
        env = "RAILWAY_API_URL",
        default_value = "https://backboard.railway.com/graphql/v2"
    )]
    pub railway_api_url: Url,
    /// Use the built-in demo project even when a Railway token is set.
    #[arg(long, env = "AUTOFIX_DEMO", default_value_t = false)]
    pub demo: bool,

    // ---- Detection ----------------------------------------------------------------------
    /// Schedule of monitor-project-health (5-field cron, optional `TZ=Area/City ` prefix).
    #[arg(long, env = "AUTOFIX_CRON", default_value = "*/10 * * * *")]
    pub cron: String,
    /// Detection window in minutes (5..=1440).
    #[arg(long, env = "AUTOFIX_WINDOW_MINUTES", default_value_t = 30)]
    pub window_minutes: u32,
    /// Threshold overrides as JSON, merged over the defaults (see README "Thresholds").
    #[arg(long, env = "AUTOFIX_THRESHOLDS")]
    pub thresholds: Option<String>,
    /// Extra upstream providers as a JSON array (see README "Upstream providers").
    #[arg(long, env = "AUTOFIX_PROVIDERS_JSON")]
    pub providers_json: Option<String>,
    /// Timeout for each provider status page.
    #[arg(long, env = "AUTOFIX_STATUS_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub status_timeout: Duration,

    // ---- Analysis ------------------------------------------------------------------------
    /// `openai` (any OpenAI-compatible endpoint), `anthropic`, or `none` (rule-based analysis).
    /// Default: anthropic if ANTHROPIC_API_KEY is set, else openai if OPENAI_API_KEY or
    /// OPENAI_BASE_URL is set, else none.
    #[arg(long, env = "AUTOFIX_LLM_PROVIDER", value_enum)]
    pub llm_provider: Option<LlmProviderKind>,
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// OpenAI-compatible base URL (OpenAI, OpenRouter, Ollama, vLLM …).
    #[arg(long, env = "OPENAI_BASE_URL")]
    pub openai_base_url: Option<Url>,
    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<String>,
    #[arg(long, env = "ANTHROPIC_BASE_URL")]
    pub anthropic_base_url: Option<Url>,
    /// Model for the analysis. Default: gpt-4o-mini (openai) / claude-sonnet-4-5 (anthropic).
    #[arg(long, env = "AUTOFIX_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Token budget of the analysis prompt.
    #[arg(long, env = "AUTOFIX_PROMPT_TOKEN_BUDGET", default_value_t = 12_000)]
    pub prompt_token_budget: usize,
    /// Below this confidence (0..1) no agent is started.
    #[arg(long, env = "AUTOFIX_MIN_CONFIDENCE", default_value_t = 0.6)]
    pub min_confidence: f64,
    /// Stop after the analysis; never start a coding agent.
    #[arg(long, env = "AUTOFIX_REPORT_ONLY", default_value_t = false)]
    pub report_only: bool,
    /// Wait for an `autofix/fix.approved` event before starting the agent.
    #[arg(long, env = "AUTOFIX_APPROVAL_REQUIRED", default_value_t = false)]
    pub approval_required: bool,
    #[arg(long, env = "AUTOFIX_APPROVAL_TIMEOUT", default_value = "24h", value_parser = parse_duration)]
    pub approval_timeout: Duration,
    /// At most one fix run per incident fingerprint and repository in this period.
    #[arg(long, env = "AUTOFIX_FIX_RATE_LIMIT", default_value = "4h")]
    pub fix_rate_limit: String,

    // ---- Coding agent ----------------------------------------------------------------------
    /// OpenCode server URL. Without it generate-fix is a dry run that returns the task.
    #[arg(long, env = "OPENCODE_URL")]
    pub opencode_url: Option<Url>,
    #[arg(long, env = "OPENCODE_SERVER_USERNAME")]
    pub opencode_username: Option<String>,
    #[arg(long, env = "OPENCODE_SERVER_PASSWORD", hide_env_values = true)]
    pub opencode_password: Option<String>,
    /// `provider/model` for the agent; default: the OpenCode server's configured model.
    #[arg(long, env = "AUTOFIX_AGENT_MODEL")]
    pub agent_model: Option<String>,
    /// Existing directory on the OpenCode server under which each fix gets a fresh sub-directory.
    #[arg(long, env = "AUTOFIX_AGENT_WORKDIR", default_value = "/workspace")]
    pub agent_workdir: String,
    #[arg(long, env = "AUTOFIX_AGENT_TIMEOUT", default_value = "45m", value_parser = parse_duration)]
    pub agent_timeout: Duration,
    #[arg(long, env = "AUTOFIX_AGENT_POLL_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub agent_poll_interval: Duration,

    // ---- GitHub -----------------------------------------------------------------------------
    /// Token for reading manifests and checking/verifying autofix pull requests.
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub github_api_url: Url,

    // ---- Inngest (names as the official SDKs use them) -------------------------------------
    /// `1`/`true` for the local dev server (no signing), or the dev server's URL.
    #[arg(long, env = "INNGEST_DEV")]
    pub inngest_dev: Option<String>,
    #[arg(long, env = "INNGEST_BASE_URL")]
    pub inngest_base_url: Option<String>,
    #[arg(long, env = "INNGEST_API_BASE_URL")]
    pub inngest_api_base_url: Option<String>,
    #[arg(long, env = "INNGEST_EVENT_API_BASE_URL")]
    pub inngest_event_api_base_url: Option<String>,
    #[arg(long, env = "INNGEST_SIGNING_KEY", hide_env_values = true)]
    pub inngest_signing_key: Option<String>,
    #[arg(long, env = "INNGEST_SIGNING_KEY_FALLBACK", hide_env_values = true)]
    pub inngest_signing_key_fallback: Option<String>,
    #[arg(long, env = "INNGEST_EVENT_KEY", hide_env_values = true)]
    pub inngest_event_key: Option<String>,
    /// Inngest branch environment.
    #[arg(long, env = "INNGEST_ENV")]
    pub inngest_env: Option<String>,
    /// Public origin Inngest calls, e.g. `https://autofix.up.railway.app` (needed behind a proxy).
    #[arg(long, env = "INNGEST_SERVE_ORIGIN")]
    pub inngest_serve_origin: Option<String>,
    #[arg(long, env = "INNGEST_SERVE_PATH")]
    pub inngest_serve_path: Option<String>,
    /// Cloud mode: accept unsigned PUT syncs (off: the URL would come from an unauthenticated Host).
    #[arg(long, env = "INNGEST_ENABLE_UNAUTHED_SYNC")]
    pub inngest_enable_unauthed_sync: Option<String>,
    /// Cloud mode: answer signed in-band syncs from the Inngest dashboard (default true).
    #[arg(long, env = "INNGEST_ALLOW_IN_BAND_SYNC")]
    pub inngest_allow_in_band_sync: Option<String>,

    // ---- Logging -----------------------------------------------------------------------------
    #[arg(long, env = "AUTOFIX_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    // ---- Notifications (every URL embeds its credential: all are secrets) -------------------
    /// Slack incoming webhook URL: a Block Kit message per state change.
    #[arg(long, env = "AUTOFIX_SLACK_WEBHOOK_URL", hide_env_values = true)]
    pub slack_webhook_url: Option<String>,
    /// Discord channel webhook URL.
    #[arg(long, env = "AUTOFIX_DISCORD_WEBHOOK_URL", hide_env_values = true)]
    pub discord_webhook_url: Option<String>,
    /// Microsoft Teams Workflows webhook URL (Adaptive Card).
    #[arg(long, env = "AUTOFIX_TEAMS_WEBHOOK_URL", hide_env_values = true)]
    pub teams_webhook_url: Option<String>,
    /// Generic JSON webhook, signed per Standard Webhooks (needs AUTOFIX_WEBHOOK_SECRET).
    #[arg(long, env = "AUTOFIX_WEBHOOK_URL", hide_env_values = true)]
    pub webhook_url: Option<String>,
    /// `whsec_<base64>` secret signing the generic webhook.
    #[arg(long, env = "AUTOFIX_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Link to an Inngest run in messages, `{run_id}` replaced (dev default: the dev server UI).
    #[arg(long, env = "AUTOFIX_INNGEST_RUN_URL")]
    pub inngest_run_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LlmProviderKind {
    Openai,
    Anthropic,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration error: which variable, and what is wrong. Never carries a secret's value.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

fn err(variable: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.into(),
        problem: problem.into(),
    }
}

/// `30s`, `45m`, `24h`, `7d`, `1500ms`, or several joined (`1h30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; use e.g. 30s, 45m, 24h".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration; use e.g. 30s, 45m, 24h"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            "" => return Err(format!("`{text}` has no unit; use ms, s, m, h or d")),
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}`; use ms, s, m, h or d"
                ));
            }
        };
        total += part;
    }
    Ok(total)
}

/// How Autofix reaches Railway.
#[derive(Debug, Clone)]
pub enum RailwayTarget {
    Demo {
        reason: &'static str,
    },
    Live {
        token: railway::Token,
        project_id: String,
        environment: EnvironmentSelector,
    },
}

#[derive(Debug, Clone)]
pub enum EnvironmentSelector {
    Id(String),
    Name(String),
}

impl Options {
    /// Where Railway data comes from, validated.
    pub fn railway_target(&self) -> Result<RailwayTarget, ConfigError> {
        let api = self
            .railway_api_token
            .as_deref()
            .filter(|t| !t.trim().is_empty());
        let project = self
            .railway_token
            .as_deref()
            .filter(|t| !t.trim().is_empty());
        if self.demo {
            return Ok(RailwayTarget::Demo {
                reason: "AUTOFIX_DEMO is set",
            });
        }
        let token = match (api, project) {
            (None, None) => {
                return Ok(RailwayTarget::Demo {
                    reason: "no RAILWAY_API_TOKEN or RAILWAY_TOKEN",
                });
            }
            (Some(_), Some(_)) => {
                return Err(err(
                    "RAILWAY_TOKEN",
                    "both RAILWAY_API_TOKEN and RAILWAY_TOKEN are set; set only one (as Railway's CLI requires)",
                ));
            }
            (Some(t), None) => railway::Token::Account(t.trim().to_string()),
            (None, Some(t)) => railway::Token::Project(t.trim().to_string()),
        };
        let project_id = self
            .railway_project_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                err(
                    "RAILWAY_PROJECT_ID",
                    "required with a Railway token (Railway sets it in every deployment)",
                )
            })?;
        let environment = match (&self.railway_environment_id, &self.railway_environment_name) {
            (Some(id), _) if !id.trim().is_empty() => {
                EnvironmentSelector::Id(id.trim().to_string())
            }
            (_, Some(name)) if !name.trim().is_empty() => {
                EnvironmentSelector::Name(name.trim().to_string())
            }
            _ => {
                return Err(err(
                    "RAILWAY_ENVIRONMENT_ID",
                    "required with a Railway token (or RAILWAY_ENVIRONMENT_NAME)",
                ));
            }
        };
        Ok(RailwayTarget::Live {
            token,
            project_id,
            environment,
        })
    }

    pub fn validate_common(&self) -> Result<(), ConfigError> {
        if !(5..=1440).contains(&self.window_minutes) {
            return Err(err(
                "AUTOFIX_WINDOW_MINUTES",
                format!("must be 5..=1440, got {}", self.window_minutes),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(err(
                "AUTOFIX_MIN_CONFIDENCE",
                format!("must be between 0 and 1, got {}", self.min_confidence),
            ));
        }
        if self.prompt_token_budget < 1_000 {
            return Err(err(
                "AUTOFIX_PROMPT_TOKEN_BUDGET",
                "must be at least 1000 tokens",
            ));
        }
        if self.agent_poll_interval.is_zero() {
            return Err(err(
                "AUTOFIX_AGENT_POLL_INTERVAL",
                "must be greater than zero",
            ));
        }
        // Each poll is two durable steps (sleep + poll) and Inngest caps a run at 1 000 steps.
        let polls = self.agent_timeout.as_secs_f64() / self.agent_poll_interval.as_secs_f64();
        if polls > pipeline::MAX_AGENT_POLLS as f64 {
            return Err(err(
                "AUTOFIX_AGENT_POLL_INTERVAL",
                format!(
                    "AUTOFIX_AGENT_TIMEOUT / AUTOFIX_AGENT_POLL_INTERVAL is {polls:.0} polls; at most {} fit in \
                     Inngest's 1 000 steps per run: raise the interval or lower the timeout",
                    pipeline::MAX_AGENT_POLLS
                ),
            ));
        }
        if self.agent_timeout < self.agent_poll_interval {
            return Err(err(
                "AUTOFIX_AGENT_TIMEOUT",
                "must be at least AUTOFIX_AGENT_POLL_INTERVAL",
            ));
        }
        inngest::Trigger::cron(&self.cron).map_err(|e| err("AUTOFIX_CRON", e.to_string()))?;
        parse_duration(&self.fix_rate_limit).map_err(|e| err("AUTOFIX_FIX_RATE_LIMIT", e))?;
        if let Some(model) = &self.agent_model
            && opencode::ModelRef::parse(model).is_none()
        {
            return Err(err(
                "AUTOFIX_AGENT_MODEL",
                "must be `provider/model`, e.g. `anthropic/claude-sonnet-4-5`",
            ));
        }
        Ok(())
    }

    /// Detection thresholds: defaults with the JSON overrides merged in.
    pub fn thresholds(&self) -> Result<detect::Thresholds, ConfigError> {
        let Some(text) = &self.thresholds else {
            return Ok(detect::Thresholds::default());
        };
        let overrides: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| err("AUTOFIX_THRESHOLDS", format!("not valid JSON: {e}")))?;
        let serde_json::Value::Object(overrides) = overrides else {
            return Err(err(
                "AUTOFIX_THRESHOLDS",
                "must be a JSON object, e.g. {\"cpu_warning_pct\": 80}",
            ));
        };
        let mut merged = serde_json::to_value(detect::Thresholds::default())
            .map_err(|e| err("AUTOFIX_THRESHOLDS", e.to_string()))?;
        let serde_json::Value::Object(base) = &mut merged else {
            unreachable!("thresholds serialize to an object")
        };
        for (k, v) in overrides {
            if !base.contains_key(&k) {
                let known: Vec<&str> = base.keys().map(String::as_str).collect();
                return Err(err(
                    "AUTOFIX_THRESHOLDS",
                    format!("unknown threshold `{k}`; known: {}", known.join(", ")),
                ));
            }
            base.insert(k, v);
        }
        let thresholds: detect::Thresholds = serde_json::from_value(merged)
            .map_err(|e| err("AUTOFIX_THRESHOLDS", format!("bad value: {e}")))?;
        thresholds
            .validate()
            .map_err(|e| err("AUTOFIX_THRESHOLDS", e.to_string()))?;
        Ok(thresholds)
    }

    /// The LLM provider, or `None` for the rule-based analysis.
    pub fn llm_provider(&self) -> Result<Option<llm::Provider>, ConfigError> {
        let provider = match self.llm_provider {
            Some(LlmProviderKind::None) => return Ok(None),
            Some(LlmProviderKind::Openai) => Some("openai"),
            Some(LlmProviderKind::Anthropic) => Some("anthropic"),
            None => None,
        };
        // The llm crate owns the selection rules and defaults; this only feeds it the values.
        let lookup = |key: &str| -> Option<String> {
            match key {
                "AUTOFIX_LLM_PROVIDER" => provider.map(str::to_string),
                "OPENAI_API_KEY" => self.openai_api_key.clone(),
                "OPENAI_BASE_URL" => self.openai_base_url.as_ref().map(Url::to_string),
                "ANTHROPIC_API_KEY" => self.anthropic_api_key.clone(),
                "ANTHROPIC_BASE_URL" => self.anthropic_base_url.as_ref().map(Url::to_string),
                "AUTOFIX_LLM_MODEL" => self.llm_model.clone(),
                _ => None,
            }
        };
        llm::Provider::from_lookup(lookup).map_err(|e| err("LLM configuration", e.to_string()))
    }

    /// The five notification variables, validated (each optional, several at once).
    pub fn notification_sinks(&self) -> Result<notifications::Sinks, ConfigError> {
        notifications::Sinks::from_lookup(|key| self.notification_var(key)).map_err(|e| {
            // The sink error names its variable first; keep it as the variable of this error.
            let text = e.to_string();
            let variable = text
                .split([' ', ':'])
                .next()
                .unwrap_or("notifications")
                .to_owned();
            err(variable, text)
        })
    }

    fn notification_var(&self, key: &str) -> Option<String> {
        match key {
            "AUTOFIX_SLACK_WEBHOOK_URL" => self.slack_webhook_url.clone(),
            "AUTOFIX_DISCORD_WEBHOOK_URL" => self.discord_webhook_url.clone(),
            "AUTOFIX_TEAMS_WEBHOOK_URL" => self.teams_webhook_url.clone(),
            "AUTOFIX_WEBHOOK_URL" => self.webhook_url.clone(),
            "AUTOFIX_WEBHOOK_SECRET" => self.webhook_secret.clone(),
            _ => None,
        }
    }

    /// Every notification secret as configured, for the redactor.
    pub fn notification_secrets(&self) -> Vec<(&'static str, String)> {
        [
            "AUTOFIX_SLACK_WEBHOOK_URL",
            "AUTOFIX_DISCORD_WEBHOOK_URL",
            "AUTOFIX_TEAMS_WEBHOOK_URL",
            "AUTOFIX_WEBHOOK_URL",
            "AUTOFIX_WEBHOOK_SECRET",
        ]
        .into_iter()
        .filter_map(|k| {
            self.notification_var(k)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (k, v))
        })
        .collect()
    }

    /// The run link template: the flag, else the dev server's UI in dev mode, else none (Cloud's
    /// run pages need the environment's slug, which the worker does not know).
    pub fn run_url_template(&self, inngest: &inngest::Config) -> Option<String> {
        if let Some(t) = self.inngest_run_url.as_deref().filter(|t| !t.is_empty()) {
            return Some(t.to_owned());
        }
        matches!(inngest.mode, inngest::Mode::Dev).then(|| {
            format!(
                "{}/run?runID={{run_id}}",
                inngest.api_base_url.as_str().trim_end_matches('/')
            )
        })
    }

    /// Inngest settings with the official SDKs' variable semantics.
    pub fn inngest_config(&self) -> Result<inngest::Config, ConfigError> {
        let lookup = |key: &str| -> Option<String> {
            match key {
                "INNGEST_DEV" => self.inngest_dev.clone(),
                "INNGEST_BASE_URL" => self.inngest_base_url.clone(),
                "INNGEST_API_BASE_URL" => self.inngest_api_base_url.clone(),
                "INNGEST_EVENT_API_BASE_URL" => self.inngest_event_api_base_url.clone(),
                "INNGEST_SIGNING_KEY" => self.inngest_signing_key.clone(),
                "INNGEST_SIGNING_KEY_FALLBACK" => self.inngest_signing_key_fallback.clone(),
                "INNGEST_EVENT_KEY" => self.inngest_event_key.clone(),
                "INNGEST_ENV" => self.inngest_env.clone(),
                "INNGEST_SERVE_ORIGIN" => self.inngest_serve_origin.clone(),
                "INNGEST_SERVE_PATH" => self.inngest_serve_path.clone(),
                "INNGEST_ENABLE_UNAUTHED_SYNC" => self.inngest_enable_unauthed_sync.clone(),
                "INNGEST_ALLOW_IN_BAND_SYNC" => self.inngest_allow_in_band_sync.clone(),
                _ => None,
            }
            .filter(|v| !v.is_empty())
        };
        inngest::Config::from_lookup(pipeline::APP_ID, lookup)
            .map_err(|e| err("Inngest configuration", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("5y").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
    }
}
