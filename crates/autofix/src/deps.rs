//! Builds the pipeline's clients from the validated options.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::{EnvironmentSelector, Options, RailwayTarget};

/// One HTTP client for every peer; per-call timeouts are set by each client.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("autofix/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()
        .context("building the HTTP client")
}

/// What the startup block and `check` print about the configuration.
pub struct Describe {
    pub railway: String,
    pub llm: String,
    pub agent: String,
    pub github: String,
}

pub struct Built {
    pub deps: Arc<pipeline::Deps>,
    pub describe: Describe,
}

/// `for_check` forces the dry-run agent: `check` must never open a pull request.
pub async fn build(options: &Options, for_check: bool) -> anyhow::Result<Built> {
    options.validate_common()?;
    // Before any client exists, so nothing they say can carry a secret past the redactor.
    crate::secrets::register(options);
    let http = http_client()?;
    let thresholds = options.thresholds()?;

    let (railway, demo, railway_desc) = match options.railway_target()? {
        RailwayTarget::Demo { reason } => (
            railway::Source::Generated(std::sync::Arc::new(demo::demo_project)),
            true,
            format!("DEMO project (built-in data; {reason})"),
        ),
        RailwayTarget::Live {
            token,
            project_id,
            environment,
        } => {
            let credentials = railway::Credentials {
                token,
                project_id: project_id.clone(),
                environment_id: String::new(),
            };
            let config = railway::ClientConfig::new(credentials)
                .with_endpoint(options.railway_api_url.as_str());
            let client = railway::RailwayClient::new(config).context("RAILWAY_API_URL")?;
            let client = match environment {
                EnvironmentSelector::Id(id) => client.with_environment_id(id),
                EnvironmentSelector::Name(name) => {
                    client.resolve_environment(&name).await.with_context(|| {
                        format!("RAILWAY_ENVIRONMENT_NAME: cannot resolve environment `{name}`")
                    })?
                }
            };
            let desc = format!(
                "Railway project {project_id}, environment {}",
                client.credentials().environment_id
            );
            (railway::Source::Live(client), false, desc)
        }
    };

    let provider = options.llm_provider()?;
    let llm = provider.map(|p| llm::Llm::new(http.clone(), p));
    let llm_desc = llm.as_ref().map_or_else(
        || "rule-based analysis (no LLM configured)".to_string(),
        |l| redact::display_url(&l.describe()),
    );

    let github = options.github_token.as_ref().map(|token| {
        github::GitHub::new(
            http.clone(),
            options.github_api_url.clone(),
            Some(token.clone()),
        )
    });
    let github_desc = if github.is_some() {
        format!(
            "GitHub API at {} (token set)",
            redact::display_url(options.github_api_url.as_str())
        )
    } else {
        "no GITHUB_TOKEN: manifests not read, existing PRs not checked".to_string()
    };

    let mut table = evidence::ProviderTable::builtin();
    if let Some(extra) = &options.providers_json {
        table = table
            .with_extra_json(extra)
            .map_err(|e| anyhow::anyhow!("AUTOFIX_PROVIDERS_JSON: {e}"))?;
    }
    let upstreams =
        evidence::UpstreamChecker::new(http.clone(), table, github.clone(), options.status_timeout);

    let opencode = match (&options.opencode_url, for_check) {
        (Some(url), false) => Some(opencode::OpenCode::new(
            http.clone(),
            url.clone(),
            options.opencode_username.clone(),
            options.opencode_password.clone(),
        )),
        _ => None,
    };
    let agent_desc = match (&options.opencode_url, for_check) {
        (Some(url), false) => format!("OpenCode at {}", redact::display_url(url.as_str())),
        (Some(_), true) => "dry run (check never starts an agent)".to_string(),
        (None, _) => {
            "dry run (no OPENCODE_URL): generate-fix returns the task it would send".to_string()
        }
    };

    let mut settings = pipeline::Settings {
        cron: options.cron.clone(),
        window_minutes: options.window_minutes,
        thresholds,
        approval_required: options.approval_required,
        approval_timeout: options.approval_timeout,
        agent_poll_interval: options.agent_poll_interval,
        agent_timeout: options.agent_timeout,
        agent_workdir: options.agent_workdir.clone(),
        agent_model: options.agent_model.clone(),
        fix_rate_limit_period: options.fix_rate_limit.clone(),
        guard: fix_plan::GuardPolicy {
            min_confidence: options.min_confidence,
            report_only: options.report_only,
        },
        ..pipeline::Settings::default()
    };
    settings.prompt_budget.max_prompt_tokens = options.prompt_token_budget;
    // Validated for every command; `check` runs in-process and never notifies.
    let sinks = options.notification_sinks()?;
    if !for_check {
        settings.notify = sinks;
        settings.run_url_template = options.run_url_template(&options.inngest_config()?);
    }

    let deps = pipeline::Deps {
        railway,
        demo,
        github,
        upstreams,
        llm,
        opencode,
        settings,
        now: pipeline::system_now,
    };
    Ok(Built {
        deps: Arc::new(deps),
        describe: Describe {
            railway: railway_desc,
            llm: llm_desc,
            agent: agent_desc,
            github: github_desc,
        },
    })
}
