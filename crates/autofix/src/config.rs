//! One typed configuration from CLI flags and environment variables, validated at start.
//!
//! Every error names the variable and what is wrong with it; no error ever echoes a secret.

use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};
use pipeline::settings::defaults;
use url::Url;

/// Options shared by every subcommand. Each flag is also an environment variable; an empty
/// variable counts as unset, and every flag works before or after the subcommand
/// (see [`crate::cli::parse_from`]).
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
    #[arg(long, env = "RAILWAY_API_URL", default_value = railway::DEFAULT_ENDPOINT, value_parser = http_url)]
    pub railway_api_url: Url,
    /// Services not to monitor: names or ids, comma-separated, `*` matches anything
    /// (e.g. `postgres,*-staging`). The worker itself and the OpenCode service are always left out.
    #[arg(long, env = "AUTOFIX_IGNORE_SERVICES")]
    pub ignore_services: Option<String>,
    /// The worker's own service (Railway injects it): never monitored.
    #[arg(long, env = "RAILWAY_SERVICE_ID")]
    pub railway_service_id: Option<String>,
    /// Use the built-in demo project even when a Railway token is set.
    #[arg(long, env = "AUTOFIX_DEMO", default_value = "false", value_parser = flag,
          num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub demo: bool,
    /// With the demo project, send demo incidents' tasks to the real agent at OPENCODE_URL
    /// (off: the demo never writes anywhere, whatever OPENCODE_URL says).
    #[arg(long, env = "AUTOFIX_DEMO_REAL_AGENT", default_value = "false", value_parser = flag,
          num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub demo_real_agent: bool,

    /// Workspace mode, with an account or workspace token: the projects and environments to
    /// monitor, `all` or a comma-separated list of PROJECT[/ENVIRONMENT] (ids, names, `*`
    /// patterns). Unset: RAILWAY_PROJECT_ID / RAILWAY_ENVIRONMENT_ID only.
    #[arg(long, env = "AUTOFIX_PROJECTS")]
    pub projects: Option<String>,
    /// Workspace mode: list the projects of this Railway workspace only (default: every
    /// workspace the token can operate on).
    #[arg(long, env = "AUTOFIX_WORKSPACE_ID")]
    pub workspace_id: Option<String>,
    /// Workspace mode: TOML file of per-project overrides (window, thresholds, ignored services).
    #[arg(long, env = "AUTOFIX_CONFIG")]
    pub config_file: Option<std::path::PathBuf>,
    /// Railway plan whose API rate limits the worker keeps: free, hobby or pro.
    #[arg(long, env = "AUTOFIX_RAILWAY_PLAN", default_value = "hobby")]
    pub railway_plan: String,

    // ---- Detection ----------------------------------------------------------------------
    /// Schedule of monitor-project-health (5-field cron, optional `TZ=Area/City ` prefix).
    #[arg(long, env = "AUTOFIX_CRON", default_value = defaults::CRON)]
    pub cron: String,
    /// Detection window in minutes (5..=1440).
    #[arg(long, env = "AUTOFIX_WINDOW_MINUTES", default_value_t = defaults::WINDOW_MINUTES)]
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
    /// OpenAI (or compatible) API key.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// OpenAI-compatible base URL (OpenAI, OpenRouter, Ollama, vLLM …).
    #[arg(long, env = "OPENAI_BASE_URL", value_parser = http_url)]
    pub openai_base_url: Option<Url>,
    /// Anthropic API key.
    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<String>,
    /// Anthropic API base URL (a proxy or gateway in front of the Messages API).
    #[arg(long, env = "ANTHROPIC_BASE_URL", value_parser = http_url)]
    pub anthropic_base_url: Option<Url>,
    /// Model for the analysis. Default: gpt-4o-mini (openai) / claude-sonnet-4-5 (anthropic).
    #[arg(long, env = "AUTOFIX_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Token budget of the analysis prompt.
    #[arg(long, env = "AUTOFIX_PROMPT_TOKEN_BUDGET",
          default_value_t = pipeline::Settings::default().prompt_budget.max_prompt_tokens)]
    pub prompt_token_budget: usize,
    /// Below this confidence (0..1) no agent is started.
    #[arg(long, env = "AUTOFIX_MIN_CONFIDENCE",
          default_value_t = pipeline::Settings::default().guard.min_confidence)]
    pub min_confidence: f64,
    /// Stop after the analysis; never start a coding agent.
    #[arg(long, env = "AUTOFIX_REPORT_ONLY", default_value = "false", value_parser = flag,
          num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub report_only: bool,
    /// Wait for an `autofix/fix.approved` event before starting the agent.
    #[arg(long, env = "AUTOFIX_APPROVAL_REQUIRED", default_value = "false", value_parser = flag,
          num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub approval_required: bool,
    /// How long generate-fix waits for that approval before giving up.
    #[arg(long, env = "AUTOFIX_APPROVAL_TIMEOUT",
          default_value = inngest::format_duration(defaults::APPROVAL_TIMEOUT), value_parser = parse_duration)]
    pub approval_timeout: Duration,
    /// At most one fix run per incident fingerprint and repository in this period (1s..=24h).
    #[arg(long, env = "AUTOFIX_FIX_RATE_LIMIT",
          default_value = inngest::format_duration(defaults::FIX_RATE_LIMIT), value_parser = parse_duration)]
    pub fix_rate_limit: Duration,

    // ---- Coding agent ----------------------------------------------------------------------
    /// OpenCode server URL. Without it generate-fix is a dry run that returns the task.
    #[arg(long, env = "OPENCODE_URL", value_parser = http_url)]
    pub opencode_url: Option<Url>,
    /// Basic-auth user of the OpenCode server (OpenCode's default is `opencode`).
    #[arg(long, env = "OPENCODE_SERVER_USERNAME")]
    pub opencode_username: Option<String>,
    /// Basic-auth password of the OpenCode server.
    #[arg(long, env = "OPENCODE_SERVER_PASSWORD", hide_env_values = true)]
    pub opencode_password: Option<String>,
    /// `provider/model` for the agent; default: the OpenCode server's configured model.
    #[arg(long, env = "AUTOFIX_AGENT_MODEL")]
    pub agent_model: Option<String>,
    /// Existing directory on the OpenCode server under which each fix gets a fresh sub-directory.
    #[arg(long, env = "AUTOFIX_AGENT_WORKDIR", default_value = defaults::AGENT_WORKDIR)]
    pub agent_workdir: String,
    /// Longest an agent session may run before it is aborted.
    #[arg(long, env = "AUTOFIX_AGENT_TIMEOUT",
          default_value = inngest::format_duration(defaults::AGENT_TIMEOUT), value_parser = parse_duration)]
    pub agent_timeout: Duration,
    /// Time between two durable polls of the agent session.
    #[arg(long, env = "AUTOFIX_AGENT_POLL_INTERVAL",
          default_value = inngest::format_duration(defaults::AGENT_POLL_INTERVAL), value_parser = parse_duration)]
    pub agent_poll_interval: Duration,

    // ---- GitHub -----------------------------------------------------------------------------
    /// Token for reading manifests and checking/verifying autofix pull requests.
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,
    /// GitHub REST API base URL (GitHub Enterprise: `https://<host>/api/v3`).
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com", value_parser = http_url)]
    pub github_api_url: Url,

    // ---- Closing the loop: CI, verification, rejection memory ---------------------------------
    /// Follow-up prompts the agent gets when the PR's checks fail (0 = none).
    #[arg(long, env = "AUTOFIX_CI_FIX_ATTEMPTS", default_value_t = 2)]
    pub ci_fix_attempts: u32,
    /// Longest wait for one round of PR checks.
    #[arg(long, env = "AUTOFIX_CI_TIMEOUT", default_value = "1h", value_parser = parse_duration)]
    pub ci_timeout: Duration,
    /// Durable sleep between two reads of the PR's checks.
    #[arg(long, env = "AUTOFIX_CI_POLL_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub ci_poll_interval: Duration,
    /// GitHub webhooks reach Inngest as `github/*` events (see the README): waits end early.
    #[arg(long, env = "AUTOFIX_GITHUB_WEBHOOKS", default_value = "false", value_parser = flag,
          num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub github_webhooks: bool,
    /// `wait` / `investigate` outcomes open (or update) one issue per incident in the service's
    /// repository, with the analysis, evidence and chart; closed when the incident recovers.
    #[arg(long, env = "AUTOFIX_OPEN_ISSUES", default_value = "false", value_parser = flag,
          num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub open_issues: bool,
    /// Days verify-fix follows an open PR before it stops with `stale`.
    #[arg(long, env = "AUTOFIX_VERIFY_MAX_DAYS", default_value_t = 14)]
    pub verify_max_days: u64,
    /// Durable sleep between two reads of a PR that verify-fix follows.
    #[arg(long, env = "AUTOFIX_VERIFY_POLL_INTERVAL", default_value = "1h", value_parser = parse_duration)]
    pub verify_poll_interval: Duration,
    /// Longest wait for the Railway deployment of the merge commit.
    #[arg(long, env = "AUTOFIX_VERIFY_DEPLOY_TIMEOUT", default_value = "6h", value_parser = parse_duration)]
    pub verify_deploy_timeout: Duration,
    /// Time the new deployment runs before the after window starts.
    #[arg(long, env = "AUTOFIX_VERIFY_SETTLE", default_value = "30m", value_parser = parse_duration)]
    pub verify_settle: Duration,
    /// How long a rejected PR keeps its incident from getting a new one.
    #[arg(long, env = "AUTOFIX_REJECTED_COOLDOWN", default_value = "7d", value_parser = parse_duration)]
    pub rejected_cooldown: Duration,

    // ---- Inngest (names as the official SDKs use them) -------------------------------------
    /// Inngest app id; give each worker its own to share one Inngest environment.
    #[arg(long, env = "INNGEST_APP_ID", default_value = pipeline::APP_ID)]
    pub inngest_app_id: String,
    /// `1`/`true` for the local dev server (no signing), or the dev server's URL.
    #[arg(long, env = "INNGEST_DEV", value_parser = inngest::DevFlag::parse)]
    pub inngest_dev: Option<inngest::DevFlag>,
    /// Origin of both Inngest APIs (a self-hosted server or the dev server).
    #[arg(long, env = "INNGEST_BASE_URL", value_parser = http_url)]
    pub inngest_base_url: Option<Url>,
    /// Origin of Inngest's REST API (sync, run lookups).
    #[arg(long, env = "INNGEST_API_BASE_URL", value_parser = http_url)]
    pub inngest_api_base_url: Option<Url>,
    /// Origin of Inngest's Event API (sending events).
    #[arg(long, env = "INNGEST_EVENT_API_BASE_URL", value_parser = http_url)]
    pub inngest_event_api_base_url: Option<Url>,
    /// Signing key of the Inngest environment (cloud mode).
    #[arg(long, env = "INNGEST_SIGNING_KEY", hide_env_values = true, value_parser = signing_key)]
    pub inngest_signing_key: Option<inngest::SigningKey>,
    /// Second signing key, accepted during a key rotation.
    #[arg(long, env = "INNGEST_SIGNING_KEY_FALLBACK", hide_env_values = true, value_parser = signing_key)]
    pub inngest_signing_key_fallback: Option<inngest::SigningKey>,
    /// Event key (cloud mode): the functions send events between each other.
    #[arg(long, env = "INNGEST_EVENT_KEY", hide_env_values = true)]
    pub inngest_event_key: Option<String>,
    /// Inngest branch environment.
    #[arg(long, env = "INNGEST_ENV")]
    pub inngest_env: Option<String>,
    /// Public origin Inngest calls, e.g. `https://autofix.up.railway.app` (needed behind a proxy).
    #[arg(long, env = "INNGEST_SERVE_ORIGIN")]
    pub inngest_serve_origin: Option<String>,
    /// Older name of INNGEST_SERVE_ORIGIN (which wins when both are set).
    #[arg(long, env = "INNGEST_SERVE_HOST")]
    pub inngest_serve_host: Option<String>,
    /// Injected by Railway: in cloud mode, `https://<domain>` is the serve origin when neither
    /// INNGEST_SERVE_ORIGIN nor INNGEST_SERVE_HOST is set (never a request's Host).
    #[arg(long, env = "RAILWAY_PUBLIC_DOMAIN")]
    pub railway_public_domain: Option<String>,
    /// Path of the Inngest endpoint (default /api/inngest).
    #[arg(long, env = "INNGEST_SERVE_PATH")]
    pub inngest_serve_path: Option<String>,
    /// Cloud mode: accept unsigned PUT syncs (off: the URL would come from an unauthenticated Host).
    #[arg(long, env = "INNGEST_ENABLE_UNAUTHED_SYNC", value_parser = flag)]
    pub inngest_enable_unauthed_sync: Option<bool>,
    /// Cloud mode: answer signed in-band syncs from the Inngest dashboard (default true).
    #[arg(long, env = "INNGEST_ALLOW_IN_BAND_SYNC", value_parser = flag)]
    pub inngest_allow_in_band_sync: Option<bool>,

    // ---- Logging -----------------------------------------------------------------------------
    /// `text` (coloured only on a terminal) or `json` (one object per line).
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

/// The one boolean grammar of every flag and variable (`1/0`, `true/false`, `yes/no`, `on/off`).
pub fn flag(text: &str) -> Result<bool, String> {
    inngest::parse_flag(text)
}

/// An absolute http(s) URL; anything else is refused at start, not at the first call.
pub fn http_url(text: &str) -> Result<Url, String> {
    inngest::parse_http_url(text)
}

fn signing_key(text: &str) -> Result<inngest::SigningKey, String> {
    inngest::SigningKey::new(text)
}

/// `AUTOFIX_LLM_PROVIDER` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LlmProviderKind {
    /// An OpenAI-compatible endpoint.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
    /// No LLM: rule-based analysis only.
    None,
}

/// `AUTOFIX_LOG_FORMAT` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, coloured only on a terminal.
    Text,
    /// One JSON object per line.
    Json,
}

/// A configuration error: which variable, and what is wrong. Never carries a secret's value.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The variable (or flag) at fault.
    pub variable: String,
    /// What is wrong with it; never its value when it is a secret.
    pub problem: String,
}

pub(crate) fn err(variable: impl Into<String>, problem: impl Into<String>) -> ConfigError {
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
    /// The built-in demo project, no Railway calls.
    Demo {
        /// Why demo mode was chosen, for the startup block.
        reason: &'static str,
    },
    /// A real Railway project.
    Live {
        /// The API token (account, workspace or project token).
        token: railway::Token,
        /// `RAILWAY_PROJECT_ID`.
        project_id: String,
        /// Which of the project's environments to watch.
        environment: EnvironmentSelector,
    },
}

/// An environment given by id (`RAILWAY_ENVIRONMENT_ID`) or by name
/// (`RAILWAY_ENVIRONMENT_NAME`, resolved through the API); the id wins when both are set.
#[derive(Debug, Clone)]
pub enum EnvironmentSelector {
    /// An environment id.
    Id(String),
    /// An environment name, resolved to its id at start.
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

    /// CI and verification settings: every wait must fit in one Inngest sleep (7 days on the free
    /// plan); poll counts are derived from them within the 1 000-step budget (see `FixPlan`,
    /// `VerifyPlan`).
    fn validate_loop(&self) -> Result<(), ConfigError> {
        if self.open_issues
            && self
                .github_token
                .as_deref()
                .is_none_or(|t| t.trim().is_empty())
        {
            return Err(err(
                "AUTOFIX_OPEN_ISSUES",
                "needs GITHUB_TOKEN (with Issues: write) to open issues",
            ));
        }
        let max_sleep = pipeline::settings::MAX_SLEEP;
        if self.ci_fix_attempts > 10 {
            return Err(err(
                "AUTOFIX_CI_FIX_ATTEMPTS",
                format!("must be 0..=10, got {}", self.ci_fix_attempts),
            ));
        }
        for (name, value) in [
            ("AUTOFIX_CI_POLL_INTERVAL", self.ci_poll_interval),
            ("AUTOFIX_VERIFY_POLL_INTERVAL", self.verify_poll_interval),
        ] {
            if value.is_zero() || value > max_sleep {
                return Err(err(
                    name,
                    "must be between 1s and 7d (Inngest's longest sleep)",
                ));
            }
        }
        if self.ci_timeout < self.ci_poll_interval
            || self.ci_timeout > Duration::from_secs(24 * 3600)
        {
            return Err(err(
                "AUTOFIX_CI_TIMEOUT",
                "must be at least AUTOFIX_CI_POLL_INTERVAL and at most 24h",
            ));
        }
        if !(1..=pipeline::settings::MAX_VERIFY_DAYS).contains(&self.verify_max_days) {
            return Err(err(
                "AUTOFIX_VERIFY_MAX_DAYS",
                format!(
                    "must be 1..={}, got {}",
                    pipeline::settings::MAX_VERIFY_DAYS,
                    self.verify_max_days
                ),
            ));
        }
        if self.verify_deploy_timeout.is_zero()
            || self.verify_deploy_timeout > Duration::from_secs(30 * 86_400)
        {
            return Err(err(
                "AUTOFIX_VERIFY_DEPLOY_TIMEOUT",
                "must be between 1s and 30d",
            ));
        }
        if self.verify_settle > Duration::from_secs(24 * 3600) {
            return Err(err("AUTOFIX_VERIFY_SETTLE", "must be at most 24h"));
        }
        if self.rejected_cooldown.is_zero()
            || self.rejected_cooldown > Duration::from_secs(365 * 86_400)
        {
            return Err(err(
                "AUTOFIX_REJECTED_COOLDOWN",
                "must be between 1s and 365d",
            ));
        }
        Ok(())
    }

    /// Everything that does not need a network call, checked before anything starts.
    pub fn validate_common(&self) -> Result<(), ConfigError> {
        let range = defaults::WINDOW_MINUTES_RANGE;
        if !range.contains(&self.window_minutes) {
            return Err(err(
                "AUTOFIX_WINDOW_MINUTES",
                format!(
                    "must be {}..={}, got {}",
                    range.start(),
                    range.end(),
                    self.window_minutes
                ),
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
        self.validate_loop()?;
        inngest::Trigger::cron(&self.cron).map_err(|e| err("AUTOFIX_CRON", e.to_string()))?;
        flow_period("AUTOFIX_FIX_RATE_LIMIT", self.fix_rate_limit)?;
        if self.approval_timeout.is_zero() || self.approval_timeout > defaults::MAX_WAIT_TIMEOUT {
            return Err(err(
                "AUTOFIX_APPROVAL_TIMEOUT",
                format!(
                    "must be between 1s and {} (Inngest's longest wait for an event), got {}",
                    inngest::format_duration(defaults::MAX_WAIT_TIMEOUT),
                    inngest::format_duration(self.approval_timeout)
                ),
            ));
        }
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

    /// The pipeline's settings, exactly as the functions will run with them (validated).
    pub fn pipeline_settings(&self) -> Result<pipeline::Settings, ConfigError> {
        self.validate_common()?;
        let mut settings = pipeline::Settings {
            cron: self.cron.clone(),
            window_minutes: self.window_minutes,
            thresholds: self.thresholds()?,
            approval_required: self.approval_required,
            approval_timeout: self.approval_timeout,
            agent_poll_interval: self.agent_poll_interval,
            agent_timeout: self.agent_timeout,
            agent_workdir: self.agent_workdir.clone(),
            agent_model: self.agent_model.clone(),
            fix_rate_limit_period: self.fix_rate_limit,
            ci_fix_attempts: self.ci_fix_attempts,
            ci_timeout: self.ci_timeout,
            ci_poll_interval: self.ci_poll_interval,
            github_webhooks: self.github_webhooks,
            open_issues: self.open_issues,
            verify_max_wait: Duration::from_secs(self.verify_max_days * 86_400),
            verify_poll_interval: self.verify_poll_interval,
            verify_deploy_timeout: self.verify_deploy_timeout,
            verify_settle: self.verify_settle,
            rejected_cooldown: self.rejected_cooldown,
            ..pipeline::Settings::default()
        };
        settings.prompt_budget.max_prompt_tokens = self.prompt_token_budget;
        settings.guard.min_confidence = self.min_confidence;
        settings.guard.report_only = self.report_only;
        settings.services = self.service_selection();
        self.railway_plan()?;
        self.workspace_selection()?;
        self.workspace_id()?;
        settings.projects = self.project_settings(&settings.thresholds)?;
        settings.railway_budget_key = self.railway_budget_key();
        Ok(settings)
    }

    /// AUTOFIX_IGNORE_SERVICES, plus the worker's own service and the OpenCode service: an agent
    /// at work or the worker under load must not become an incident that starts another fix.
    pub fn service_selection(&self) -> pipeline::ServiceSelection {
        let mut selection = pipeline::ServiceSelection::default();
        for pattern in self.ignore_services.as_deref().unwrap_or("").split(',') {
            selection = selection.ignore(pattern, "AUTOFIX_IGNORE_SERVICES");
        }
        if let Some(id) = &self.railway_service_id {
            selection = selection.ignore(id, "the Autofix worker itself (RAILWAY_SERVICE_ID)");
        }
        if let Some(name) = self.opencode_service_name() {
            selection = selection.ignore(&name, "the OpenCode service (OPENCODE_URL)");
        }
        selection
    }

    /// The Railway service behind OPENCODE_URL, when it is a private-network address
    /// (`http://<service>.railway.internal:<port>`).
    fn opencode_service_name(&self) -> Option<String> {
        let host = self.opencode_url.as_ref()?.host_str()?;
        let name = host.strip_suffix(".railway.internal")?;
        (!name.is_empty() && !name.contains('.')).then(|| name.to_owned())
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
        merge_thresholds(&detect::Thresholds::default(), overrides)
            .map_err(|problem| err("AUTOFIX_THRESHOLDS", problem))
    }

    /// The Railway plan whose limits the request pacer keeps.
    pub fn railway_plan(&self) -> Result<railway::Plan, ConfigError> {
        railway::Plan::parse(&self.railway_plan).ok_or_else(|| {
            err(
                "AUTOFIX_RAILWAY_PLAN",
                format!(
                    "`{}`: expected free, hobby or pro",
                    self.railway_plan.trim()
                ),
            )
        })
    }

    /// The `AUTOFIX_PROJECTS` selection (workspace mode), or `None` for the one injected
    /// project. Workspace mode needs an account or workspace token.
    pub fn workspace_selection(&self) -> Result<Option<pipeline::Selection>, ConfigError> {
        let Some(text) = self.projects.as_deref().filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        let selection =
            pipeline::Selection::parse(text).map_err(|problem| err("AUTOFIX_PROJECTS", problem))?;
        if self.demo {
            return Err(err(
                "AUTOFIX_PROJECTS",
                "cannot be combined with AUTOFIX_DEMO (the demo is one built-in project)",
            ));
        }
        let set = |v: &Option<String>| v.as_deref().is_some_and(|t| !t.trim().is_empty());
        if set(&self.railway_token) {
            return Err(err(
                "AUTOFIX_PROJECTS",
                "needs an account or workspace token in RAILWAY_API_TOKEN; a project token \
                 (RAILWAY_TOKEN) sees one environment of one project",
            ));
        }
        if !set(&self.railway_api_token) {
            return Err(err(
                "AUTOFIX_PROJECTS",
                "needs an account or workspace token in RAILWAY_API_TOKEN",
            ));
        }
        Ok(Some(selection))
    }

    /// `AUTOFIX_WORKSPACE_ID`, trimmed; only meaningful with `AUTOFIX_PROJECTS`.
    pub fn workspace_id(&self) -> Result<Option<String>, ConfigError> {
        let id = self
            .workspace_id
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if id.is_some() && self.projects.as_deref().is_none_or(|p| p.trim().is_empty()) {
            return Err(err(
                "AUTOFIX_WORKSPACE_ID",
                "only applies with AUTOFIX_PROJECTS (workspace mode)",
            ));
        }
        Ok(id.map(str::to_owned))
    }

    /// The per-project overrides of `AUTOFIX_CONFIG`, merged over `base`, validated (whether
    /// each entry selects a real project is checked once the workspace is listed).
    pub fn project_settings(
        &self,
        base: &detect::Thresholds,
    ) -> Result<Vec<pipeline::ProjectSettings>, ConfigError> {
        let Some(path) = &self.config_file else {
            return Ok(Vec::new());
        };
        if self.projects.as_deref().is_none_or(|p| p.trim().is_empty()) {
            return Err(err(
                "AUTOFIX_CONFIG",
                "per-project overrides need AUTOFIX_PROJECTS (workspace mode); for one project \
                 use AUTOFIX_WINDOW_MINUTES, AUTOFIX_THRESHOLDS and AUTOFIX_IGNORE_SERVICES",
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(
                "AUTOFIX_CONFIG",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        crate::project_config::parse(&text, &path.display().to_string(), base)
    }

    /// `railway-<first 16 hex digits of SHA-256(token)>`: the same for every replica using the
    /// token, and nothing a reader of Inngest's function config can turn back into it.
    pub fn railway_budget_key(&self) -> Option<String> {
        use sha2::Digest;
        let token = [&self.railway_api_token, &self.railway_token]
            .into_iter()
            .flatten()
            .map(|t| t.trim())
            .find(|t| !t.is_empty())?;
        if self.demo {
            return None;
        }
        let digest = sha2::Sha256::digest(token.as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Some(format!("railway-{hex}"))
    }

    /// The LLM provider, or `None` for the rule-based analysis.
    pub fn llm_provider(&self) -> Result<Option<llm::Provider>, ConfigError> {
        let settings = llm::Settings {
            choice: self.llm_provider.map(|kind| match kind {
                LlmProviderKind::Openai => llm::Choice::OpenAi,
                LlmProviderKind::Anthropic => llm::Choice::Anthropic,
                LlmProviderKind::None => llm::Choice::None,
            }),
            openai_api_key: self.openai_api_key.clone(),
            openai_base_url: self.openai_base_url.as_ref().map(Url::to_string),
            anthropic_api_key: self.anthropic_api_key.clone(),
            anthropic_base_url: self.anthropic_base_url.as_ref().map(Url::to_string),
            model: self.llm_model.clone(),
        };
        llm::Provider::select(settings).map_err(|e| {
            let variable = match &e {
                llm::ConfigError::UnknownProvider { var, .. }
                | llm::ConfigError::BadBaseUrl { var, .. } => *var,
                llm::ConfigError::MissingKey { provider_var, .. } => provider_var,
            };
            err(variable, e.to_string())
        })
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

    /// Inngest settings with the official SDKs' variable semantics. The worker's functions send
    /// events to each other, so cloud mode also needs the event key.
    pub fn inngest_config(&self) -> Result<inngest::Config, ConfigError> {
        let settings = inngest::Settings {
            dev: self.inngest_dev.clone().unwrap_or_default(),
            base_url: self.inngest_base_url.clone(),
            api_base_url: self.inngest_api_base_url.clone(),
            event_api_base_url: self.inngest_event_api_base_url.clone(),
            signing_key: self.inngest_signing_key.clone(),
            signing_key_fallback: self.inngest_signing_key_fallback.clone(),
            event_key: self.inngest_event_key.clone(),
            env: self.inngest_env.clone(),
            serve_origin: self.inngest_serve_origin.clone(),
            serve_host: self.inngest_serve_host.clone(),
            serve_path: self.inngest_serve_path.clone(),
            allow_unsigned_sync: self.inngest_enable_unauthed_sync,
            allow_in_band_sync: self.inngest_allow_in_band_sync,
        };
        let config =
            inngest::Config::from_settings(&self.inngest_app_id, settings).map_err(|e| {
                let variable = match &e {
                    inngest::ConfigError::MissingSigningKey { var }
                    | inngest::ConfigError::InvalidVar { var, .. } => match *var {
                        "app_id" => "INNGEST_APP_ID",
                        var => var,
                    },
                    inngest::ConfigError::InvalidCron { .. } => "AUTOFIX_CRON",
                };
                let problem = match &e {
                    inngest::ConfigError::InvalidVar { reason, .. } => reason.clone(),
                    e => e.to_string(),
                };
                err(variable, problem)
            })?;
        let mut config = config;
        if config.mode == inngest::Mode::Cloud && config.serve_origin.is_none() {
            config.serve_origin = self.railway_origin()?;
        }
        if config.mode == inngest::Mode::Cloud && config.event_key.is_none() {
            return Err(err(
                "INNGEST_EVENT_KEY",
                "must be set in cloud mode: the functions send events to each other through \
                 Inngest's Event API (Inngest dashboard → Manage → Event Keys), or set INNGEST_DEV=1 \
                 for a local dev server",
            ));
        }
        Ok(config)
    }
}

impl Options {
    /// `https://<RAILWAY_PUBLIC_DOMAIN>`: Railway terminates TLS at its edge, so a request's own
    /// scheme and Host are neither trustworthy nor right.
    fn railway_origin(&self) -> Result<Option<String>, ConfigError> {
        let Some(domain) = self
            .railway_public_domain
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        else {
            return Ok(None);
        };
        let origin = format!("https://{}", domain.trim_end_matches('/'));
        match url::Url::parse(&origin) {
            Ok(u) if u.host_str().is_some() && u.path() == "/" && u.query().is_none() => {
                Ok(Some(origin))
            }
            _ => Err(err(
                "RAILWAY_PUBLIC_DOMAIN",
                format!("`{domain}` is not a domain name (expected e.g. autofix.up.railway.app)"),
            )),
        }
    }
}

/// `base` with the JSON overrides merged in and validated; unknown keys are refused, listing
/// the known ones.
pub(crate) fn merge_thresholds(
    base: &detect::Thresholds,
    overrides: serde_json::Map<String, serde_json::Value>,
) -> Result<detect::Thresholds, String> {
    let mut merged = serde_json::to_value(base).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(fields) = &mut merged else {
        return Err("thresholds are not an object".into());
    };
    for (k, v) in overrides {
        if !fields.contains_key(&k) {
            let known: Vec<&str> = fields.keys().map(String::as_str).collect();
            return Err(format!(
                "unknown threshold `{k}`; known: {}",
                known.join(", ")
            ));
        }
        fields.insert(k, v);
    }
    let thresholds: detect::Thresholds =
        serde_json::from_value(merged).map_err(|e| format!("bad value: {e}"))?;
    thresholds.validate().map_err(|e| e.to_string())?;
    Ok(thresholds)
}

/// Inngest accepts rate-limit and debounce periods of 1 s to 24 h, in whole seconds.
fn flow_period(variable: &str, period: Duration) -> Result<(), ConfigError> {
    let range = defaults::FLOW_PERIOD_RANGE;
    if !range.contains(&period) || period.subsec_nanos() != 0 {
        return Err(err(
            variable,
            format!(
                "must be whole seconds between {} and {} (Inngest's range for rate limits), got {}",
                inngest::format_duration(*range.start()),
                inngest::format_duration(*range.end()),
                inngest::format_duration(period)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Action, parse_from};
    use std::collections::HashMap;

    fn options(args: &[&str], env: &[(&str, &str)]) -> Result<Options, String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut argv = vec!["autofix"];
        argv.extend_from_slice(args);
        parse_from(argv, |k| env.get(k).cloned())
            .map(|cli| cli.options)
            .map_err(|e| e.to_string())
    }

    /// The first error `autofix serve` reports before it listens, with `env` set.
    fn startup_error(env: &[(&str, &str)]) -> String {
        let o = match options(&["serve"], env) {
            Ok(o) => o,
            Err(e) => return e,
        };
        let first = o
            .inngest_config()
            .err()
            .or_else(|| o.pipeline_settings().err())
            .or_else(|| o.railway_target().err())
            .or_else(|| o.llm_provider().err());
        first.map(|e| e.to_string()).unwrap_or_default()
    }

    const DEV: (&str, &str) = ("INNGEST_DEV", "1");
    const WS_TOKEN: (&str, &str) = ("RAILWAY_API_TOKEN", "account-token-1234");

    #[test]
    fn late_failures_now_fail_at_start_naming_the_variable() {
        // (variables, what the error must mention)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case] = &[
            (
                &[("INNGEST_SIGNING_KEY", "signkey-prod-abcd")],
                &["INNGEST_EVENT_KEY", "cloud mode"],
            ),
            (
                &[DEV, ("AUTOFIX_CRON", "TZ=Mars/Base */10 * * * *")],
                &["AUTOFIX_CRON", "unknown time zone `Mars/Base`"],
            ),
            (
                &[DEV, ("AUTOFIX_FIX_RATE_LIMIT", "48h")],
                &["AUTOFIX_FIX_RATE_LIMIT", "and 1d"],
            ),
            (
                &[DEV, ("AUTOFIX_FIX_RATE_LIMIT", "500ms")],
                &["AUTOFIX_FIX_RATE_LIMIT", "1s"],
            ),
            (
                &[DEV, ("OPENCODE_URL", "opencode:4096")],
                &["OPENCODE_URL", "http"],
            ),
            (
                &[DEV, ("OPENCODE_URL", "opencode.railway.internal")],
                &["OPENCODE_URL", "no scheme"],
            ),
            (
                &[DEV, ("OPENAI_BASE_URL", "ftp://x")],
                &["OPENAI_BASE_URL", "http"],
            ),
            (
                &[DEV, ("INNGEST_BASE_URL", "inngest:8288")],
                &["INNGEST_BASE_URL"],
            ),
            (
                &[DEV, ("AUTOFIX_LLM_PROVIDER", "openai")],
                &["AUTOFIX_LLM_PROVIDER", "OPENAI_API_KEY"],
            ),
            (
                &[DEV, ("AUTOFIX_LLM_PROVIDER", "anthropic")],
                &["AUTOFIX_LLM_PROVIDER", "ANTHROPIC_API_KEY"],
            ),
            (
                &[DEV, ("AUTOFIX_THRESHOLDS", r#"{"cpu_warning_pct": 0.8}"#)],
                &["AUTOFIX_THRESHOLDS", "cpu_warning_pct", "percentage"],
            ),
            (
                &[
                    DEV,
                    ("AUTOFIX_THRESHOLDS", r#"{"memory_critical_pct": 150}"#),
                ],
                &["AUTOFIX_THRESHOLDS", "memory_critical_pct", "at most 100"],
            ),
            (
                &[
                    DEV,
                    (
                        "AUTOFIX_THRESHOLDS",
                        r#"{"cpu_warning_pct": 90, "cpu_critical_pct": 90}"#,
                    ),
                ],
                &["AUTOFIX_THRESHOLDS", "cpu_warning_pct", "below"],
            ),
            (
                &[DEV, ("AUTOFIX_APPROVAL_TIMEOUT", "400d")],
                &["AUTOFIX_APPROVAL_TIMEOUT", "365d"],
            ),
            (
                &[DEV, ("AUTOFIX_RAILWAY_PLAN", "team")],
                &["AUTOFIX_RAILWAY_PLAN", "`team`", "free, hobby or pro"],
            ),
            (
                &[DEV, WS_TOKEN, ("AUTOFIX_PROJECTS", "shop/prod/eu")],
                &["AUTOFIX_PROJECTS", "`shop/prod/eu`", "more than one `/`"],
            ),
            (
                &[DEV, WS_TOKEN, ("AUTOFIX_PROJECTS", "shop, /staging")],
                &["AUTOFIX_PROJECTS", "`/staging`", "PROJECT/ENVIRONMENT"],
            ),
            (
                &[DEV, WS_TOKEN, ("AUTOFIX_PROJECTS", " , ")],
                &["AUTOFIX_PROJECTS", "selects nothing"],
            ),
            (
                &[
                    DEV,
                    ("RAILWAY_TOKEN", "project-token"),
                    ("AUTOFIX_PROJECTS", "all"),
                ],
                &["AUTOFIX_PROJECTS", "RAILWAY_API_TOKEN", "project token"],
            ),
            (
                &[DEV, ("AUTOFIX_PROJECTS", "all")],
                &["AUTOFIX_PROJECTS", "needs an account or workspace token"],
            ),
            (
                &[
                    DEV,
                    WS_TOKEN,
                    ("AUTOFIX_DEMO", "1"),
                    ("AUTOFIX_PROJECTS", "all"),
                ],
                &["AUTOFIX_PROJECTS", "AUTOFIX_DEMO"],
            ),
            (
                &[DEV, WS_TOKEN, ("AUTOFIX_WORKSPACE_ID", "ws-1")],
                &["AUTOFIX_WORKSPACE_ID", "AUTOFIX_PROJECTS"],
            ),
            (
                &[DEV, WS_TOKEN, ("AUTOFIX_CONFIG", "autofix.toml")],
                &["AUTOFIX_CONFIG", "need AUTOFIX_PROJECTS"],
            ),
            (
                &[
                    DEV,
                    WS_TOKEN,
                    ("AUTOFIX_PROJECTS", "all"),
                    ("AUTOFIX_CONFIG", "/nonexistent/autofix.toml"),
                ],
                &["AUTOFIX_CONFIG", "cannot read /nonexistent/autofix.toml"],
            ),
        ];
        for (env, needles) in cases {
            let e = startup_error(env);
            for needle in *needles {
                assert!(
                    e.contains(needle),
                    "{env:?}: `{e}` should mention `{needle}`"
                );
            }
        }
        // And the shipped defaults start.
        assert_eq!(startup_error(&[DEV]), "");
    }

    #[test]
    fn workspace_mode_parses_its_variables_and_keys_the_budget_on_a_token_hash() {
        let o = options(
            &["check"],
            &[
                WS_TOKEN,
                ("AUTOFIX_PROJECTS", "all"),
                ("AUTOFIX_RAILWAY_PLAN", "Pro"),
                ("AUTOFIX_WORKSPACE_ID", " ws-1 "),
            ],
        )
        .unwrap();
        assert_eq!(o.railway_plan().unwrap(), railway::Plan::Pro);
        assert_eq!(o.workspace_id().unwrap().as_deref(), Some("ws-1"));
        assert_eq!(o.workspace_selection().unwrap().unwrap().items.len(), 1);
        let key = o.pipeline_settings().unwrap().railway_budget_key.unwrap();
        assert!(key.starts_with("railway-") && key.len() == 24, "{key}");
        assert!(!key.contains("account-token"));
        let other = options(&["check"], &[("RAILWAY_API_TOKEN", "another-token")]).unwrap();
        assert_ne!(
            other.railway_budget_key().unwrap(),
            key,
            "one key per token"
        );
        // Default: Hobby, the injected project, no per-token limit without a token.
        let o = options(&["check"], &[]).unwrap();
        assert_eq!(o.railway_plan().unwrap(), railway::Plan::Hobby);
        assert!(o.workspace_selection().unwrap().is_none());
        assert!(o.railway_budget_key().is_none());
    }

    #[test]
    fn the_worker_and_the_opencode_service_are_never_monitored() {
        let o = options(
            &["check"],
            &[
                ("AUTOFIX_IGNORE_SERVICES", "postgres, *-staging ,"),
                ("RAILWAY_SERVICE_ID", "svc-worker"),
                ("OPENCODE_URL", "http://opencode.railway.internal:4096"),
            ],
        )
        .unwrap();
        let s = o.pipeline_settings().unwrap().services;
        let patterns: Vec<&str> = s.rules.iter().map(|r| r.pattern.as_str()).collect();
        assert_eq!(
            patterns,
            ["postgres", "*-staging", "svc-worker", "opencode"]
        );
        assert!(s.rule_for("x", "web-staging").is_some());
        assert!(
            s.rule_for("svc-worker", "autofix")
                .unwrap()
                .why
                .contains("RAILWAY_SERVICE_ID")
        );
        assert!(
            s.rule_for("y", "OpenCode")
                .unwrap()
                .why
                .contains("OPENCODE_URL")
        );
        assert!(s.rule_for("z", "api").is_none());
    }

    #[test]
    fn clap_defaults_are_the_settings_defaults() {
        let built = options(&["check"], &[])
            .unwrap()
            .pipeline_settings()
            .unwrap();
        assert_eq!(
            format!("{built:?}"),
            format!("{:?}", pipeline::Settings::default())
        );
        let cli = parse_from(["autofix", "serve"], |_| None).unwrap();
        let Some(Action::Serve(args)) = cli.command else {
            panic!("serve parsed as {:?}", cli.command)
        };
        assert_eq!(
            format!("{args:?}"),
            format!("{:?}", crate::serve::ServeArgs::default())
        );
    }

    #[test]
    fn serve_variables_apply_without_a_subcommand() {
        let cli = parse_from(["autofix"], |k| (k == "PORT").then(|| "8123".to_string())).unwrap();
        let Some(Action::Serve(args)) = cli.command else {
            panic!("no subcommand must mean serve, got {:?}", cli.command)
        };
        assert_eq!(args.port, 8123);
    }

    #[test]
    fn every_boolean_takes_one_grammar() {
        for (text, on) in [("1", true), ("yes", true), ("on", true), ("TRUE", true)]
            .into_iter()
            .chain([
                ("0", false),
                ("no", false),
                ("off", false),
                ("false", false),
            ])
        {
            let o = options(
                &["check"],
                &[
                    ("AUTOFIX_DEMO", text),
                    ("AUTOFIX_REPORT_ONLY", text),
                    ("AUTOFIX_APPROVAL_REQUIRED", text),
                    ("INNGEST_ENABLE_UNAUTHED_SYNC", text),
                    ("INNGEST_ALLOW_IN_BAND_SYNC", text),
                ],
            )
            .unwrap();
            assert_eq!(
                (o.demo, o.report_only, o.approval_required),
                (on, on, on),
                "{text}"
            );
            assert_eq!(o.inngest_enable_unauthed_sync, Some(on), "{text}");
            assert_eq!(o.inngest_allow_in_band_sync, Some(on), "{text}");
            let cli = parse_from(["autofix", "serve"], |k| {
                (k == "AUTOFIX_SYNC_ON_START").then(|| text.to_string())
            })
            .unwrap();
            let Some(Action::Serve(args)) = cli.command else {
                panic!()
            };
            assert_eq!(args.sync_on_start, on, "{text}");
        }
        // Bare flags still mean true, and a flag beats the variable.
        let o = options(
            &["--demo", "--report-only=no", "check"],
            &[("AUTOFIX_REPORT_ONLY", "1")],
        )
        .unwrap();
        assert!(o.demo);
        assert!(!o.report_only);
        let e = options(&["check"], &[("AUTOFIX_DEMO", "maybe")]).unwrap_err();
        assert!(e.contains("yes/no"), "{e}");
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let empty = [
            "OPENAI_BASE_URL",
            "ANTHROPIC_BASE_URL",
            "OPENCODE_URL",
            "GITHUB_TOKEN",
            "GITHUB_API_URL",
            "RAILWAY_API_URL",
            "AUTOFIX_WINDOW_MINUTES",
            "AUTOFIX_DEMO",
            "AUTOFIX_FIX_RATE_LIMIT",
            "INNGEST_DEV",
            "INNGEST_BASE_URL",
            "INNGEST_SIGNING_KEY",
            "AUTOFIX_LLM_PROVIDER",
        ];
        let env: Vec<(&str, &str)> = empty.iter().map(|k| (*k, "")).collect();
        let o = options(&["check"], &env).unwrap();
        assert!(o.openai_base_url.is_none() && o.opencode_url.is_none());
        assert!(o.github_token.is_none());
        assert_eq!(o.window_minutes, defaults::WINDOW_MINUTES);
        assert_eq!(o.github_api_url.as_str(), "https://api.github.com/");
        assert!(o.inngest_dev.is_none() && o.inngest_signing_key.is_none());
        assert!(o.llm_provider().unwrap().is_none());
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let before = options(&["--window-minutes", "60", "check"], &[]).unwrap();
        let after = options(&["check", "--window-minutes", "60"], &[]).unwrap();
        assert_eq!(before.window_minutes, 60);
        assert_eq!(after.window_minutes, 60);
        let serve = options(&["serve", "--port", "9", "--demo"], &[]).unwrap();
        assert!(serve.demo);
    }

    #[test]
    fn the_binary_honours_inngest_serve_host() {
        let o = options(
            &["serve"],
            &[
                ("INNGEST_DEV", "1"),
                ("INNGEST_SERVE_HOST", "autofix.example.com"),
            ],
        )
        .unwrap();
        let config = o.inngest_config().unwrap();
        assert_eq!(
            config.serve_origin.as_deref(),
            Some("https://autofix.example.com")
        );
    }

    #[test]
    fn railways_public_domain_is_the_serve_origin_in_cloud_mode_unless_one_is_configured() {
        let cloud = [
            ("INNGEST_SIGNING_KEY", "signkey-prod-00112233"),
            ("INNGEST_EVENT_KEY", "evt"),
            ("RAILWAY_PUBLIC_DOMAIN", "autofix-production.up.railway.app"),
        ];
        let config = options(&["serve"], &cloud)
            .unwrap()
            .inngest_config()
            .unwrap();
        assert_eq!(
            config.serve_origin.as_deref(),
            Some("https://autofix-production.up.railway.app")
        );
        let mut explicit = cloud.to_vec();
        explicit.push(("INNGEST_SERVE_ORIGIN", "https://autofix.example.com"));
        let config = options(&["serve"], &explicit)
            .unwrap()
            .inngest_config()
            .unwrap();
        assert_eq!(
            config.serve_origin.as_deref(),
            Some("https://autofix.example.com")
        );
        // Dev mode keeps the request's Host: a local dev server calls whatever it was given.
        let dev = [
            ("INNGEST_DEV", "1"),
            ("RAILWAY_PUBLIC_DOMAIN", "autofix.up.railway.app"),
        ];
        let config = options(&["serve"], &dev).unwrap().inngest_config().unwrap();
        assert_eq!(config.serve_origin, None);
        let mut bad = cloud.to_vec();
        bad[2] = ("RAILWAY_PUBLIC_DOMAIN", "evil.example/path?x=1");
        let e = options(&["serve"], &bad)
            .unwrap()
            .inngest_config()
            .unwrap_err();
        assert!(e.to_string().contains("RAILWAY_PUBLIC_DOMAIN"), "{e}");
    }

    #[test]
    fn the_app_id_is_configurable() {
        let o = options(
            &["serve"],
            &[("INNGEST_DEV", "1"), ("INNGEST_APP_ID", "shop-autofix")],
        )
        .unwrap();
        assert_eq!(o.inngest_config().unwrap().app_id, "shop-autofix");
        let o = options(&["serve"], &[("INNGEST_DEV", "1")]).unwrap();
        assert_eq!(o.inngest_config().unwrap().app_id, "autofix");
    }

    #[test]
    fn rate_limit_reaches_inngest_as_a_formatted_duration() {
        let o = options(&["check"], &[("AUTOFIX_FIX_RATE_LIMIT", "90m")]).unwrap();
        let settings = o.pipeline_settings().unwrap();
        assert_eq!(settings.fix_rate_limit_period, Duration::from_secs(5400));
        assert_eq!(
            inngest::format_duration(settings.fix_rate_limit_period),
            "1h30m"
        );
    }

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

    #[test]
    fn loop_settings_are_validated_naming_the_variable() {
        assert!(
            options(&[], &[]).unwrap().validate_loop().is_ok(),
            "defaults are valid"
        );
        for (args, variable) in [
            (&["--verify-max-days", "400"][..], "AUTOFIX_VERIFY_MAX_DAYS"),
            (&["--verify-max-days", "0"][..], "AUTOFIX_VERIFY_MAX_DAYS"),
            (
                &["--ci-poll-interval", "8d"][..],
                "AUTOFIX_CI_POLL_INTERVAL",
            ),
            (
                &["--verify-poll-interval", "0s"][..],
                "AUTOFIX_VERIFY_POLL_INTERVAL",
            ),
            (&["--ci-timeout", "30s"][..], "AUTOFIX_CI_TIMEOUT"),
            (&["--ci-fix-attempts", "11"][..], "AUTOFIX_CI_FIX_ATTEMPTS"),
            (&["--verify-settle", "2d"][..], "AUTOFIX_VERIFY_SETTLE"),
            (
                &["--rejected-cooldown", "0s"][..],
                "AUTOFIX_REJECTED_COOLDOWN",
            ),
            (&["--open-issues=true"][..], "AUTOFIX_OPEN_ISSUES"),
        ] {
            let e = options(args, &[]).unwrap().validate_loop().unwrap_err();
            assert!(e.to_string().contains(variable), "{args:?}: {e}");
        }
    }
}
