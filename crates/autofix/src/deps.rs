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
    /// How Railway is reached (demo, or project and environment).
    pub railway: String,
    /// The services no cycle monitors, and why.
    pub ignored: String,
    /// The analysis mode: the LLM provider and model, or rule-based.
    pub llm: String,
    /// The coding agent (OpenCode URL and model), or the dry-run reason.
    pub agent: String,
    /// GitHub API URL and whether a token is set.
    pub github: String,
}

/// What [`build`] returns: the pipeline's dependencies and their description.
pub struct Built {
    /// Every client the Inngest functions use.
    pub deps: Arc<pipeline::Deps>,
    /// How the startup block and `check` describe them.
    pub describe: Describe,
}

/// The coding agent, or `None` for a dry run, and how the startup block describes it. The demo
/// project never reaches a real agent unless AUTOFIX_DEMO_REAL_AGENT says so: its incidents are
/// made up and a session would spend the user's model key and GitHub token on them.
fn agent(
    options: &Options,
    for_check: bool,
    demo: bool,
    http: &reqwest::Client,
) -> (Option<opencode::OpenCode>, String) {
    let Some(url) = &options.opencode_url else {
        return (
            None,
            "dry run (no OPENCODE_URL): generate-fix returns the task it would send".to_string(),
        );
    };
    if for_check {
        return (None, "dry run (check never starts an agent)".to_string());
    }
    if demo && !options.demo_real_agent {
        return (
            None,
            format!(
                "dry run: DEMO project, OpenCode at {} is never called \
                 (AUTOFIX_DEMO_REAL_AGENT=1 sends demo tasks to it)",
                redact::display_url(url.as_str())
            ),
        );
    }
    let client = opencode::OpenCode::new(
        http.clone(),
        url.clone(),
        options.opencode_username.clone(),
        options.opencode_password.clone(),
    );
    (
        Some(client),
        format!("OpenCode at {}", redact::display_url(url.as_str())),
    )
}

fn describe_ignored(selection: &pipeline::ServiceSelection) -> String {
    if selection.rules.is_empty() {
        return "none (AUTOFIX_IGNORE_SERVICES is empty)".to_string();
    }
    selection
        .rules
        .iter()
        .map(|r| format!("`{}` ({})", r.pattern, r.why))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where Railway data comes from: the demo project or the live API (an environment given by
/// name is resolved here, one Railway call), whether it is the demo, and how to describe it.
/// Every live client shares `pacer`.
pub async fn railway_source(
    options: &Options,
    pacer: &railway::Pacer,
) -> anyhow::Result<(railway::Source, bool, String)> {
    Ok(match options.railway_target()? {
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
            let client = live_client(options, token, &project_id, pacer)?;
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
    })
}

/// A client of `RAILWAY_API_URL` for `token`, sharing the worker's `pacer`; the environment is
/// set by the caller (an id, a resolved name, or each target's in workspace mode).
fn live_client(
    options: &Options,
    token: railway::Token,
    project_id: &str,
    pacer: &railway::Pacer,
) -> anyhow::Result<railway::RailwayClient> {
    let credentials = railway::Credentials {
        token,
        project_id: project_id.to_owned(),
        environment_id: String::new(),
    };
    let config = railway::ClientConfig::new(credentials)
        .with_endpoint(options.railway_api_url.as_str())
        .with_pacer(pacer.clone());
    railway::RailwayClient::new(config).context("RAILWAY_API_URL")
}

/// Workspace mode (`AUTOFIX_PROJECTS`): the client every target is read through, and the
/// workspace as listed now, against which the selection and `AUTOFIX_CONFIG` are checked: a
/// name that selects nothing is a typo, reported before the worker starts.
pub async fn workspace(
    options: &Options,
    settings: &pipeline::Settings,
    selection: pipeline::Selection,
    pacer: &railway::Pacer,
) -> anyhow::Result<(pipeline::Workspace, Vec<railway::workspace::Target>)> {
    let token = options
        .railway_api_token
        .as_deref()
        .map(str::trim)
        .unwrap_or_default();
    let client = live_client(
        options,
        railway::Token::Account(token.to_owned()),
        "",
        pacer,
    )?;
    let workspace_id = options.workspace_id()?;
    let all = client
        .workspace_targets(workspace_id.as_deref())
        .await
        .context("AUTOFIX_PROJECTS: cannot list the workspace's projects with RAILWAY_API_TOKEN")?;
    let known = || target_names(&all);
    for item in &selection.items {
        if !all.iter().any(|t| item.matches(t)) {
            let text = match &item.environment {
                Some(e) => format!("{}/{e}", item.project),
                None => item.project.clone(),
            };
            anyhow::bail!(
                "AUTOFIX_PROJECTS: `{text}` selects no project environment the token can see (visible: {})",
                known()
            );
        }
    }
    if let Some(entry) = crate::project_config::unmatched(&settings.projects, &all).first() {
        anyhow::bail!(
            "AUTOFIX_CONFIG: {}: select: matches no project environment the token can see (visible: {})",
            entry.origin,
            known()
        );
    }
    let selected = selection.select(&all);
    Ok((
        pipeline::Workspace {
            client,
            selection,
            workspace_id,
        },
        selected,
    ))
}

/// `project/environment` of the first ten targets by Railway's names, `and N more`, or `none`.
pub fn target_names(targets: &[railway::workspace::Target]) -> String {
    let mut names: Vec<String> = targets
        .iter()
        .map(|t| format!("{}/{}", t.project.name, t.environment.name))
        .collect();
    names.dedup();
    let more = names.len().saturating_sub(10);
    names.truncate(10);
    let mut text = names.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    if text.is_empty() {
        text = "none".into();
    }
    text
}

/// What the dependencies are built for.
#[derive(Clone, Copy)]
pub enum Purpose<'a> {
    /// `check`: in-process, so the dry-run agent (it must never open a pull request) and no
    /// notifications.
    Check,
    /// `serve`, against the Inngest the worker was configured for (built once at start; run
    /// links in notifications point at it).
    Serve(&'a inngest::Config),
}

/// Validates the settings and builds every client, once, for `purpose`; errors name the
/// variable at fault.
pub async fn build(options: &Options, purpose: Purpose<'_>) -> anyhow::Result<Built> {
    let for_check = matches!(purpose, Purpose::Check);
    let mut settings = options.pipeline_settings()?;
    // Before any client exists, so nothing they say can carry a secret past the redactor.
    crate::secrets::register(options);
    let http = http_client()?;

    // One pacer for every Railway client of this worker: all its runs share the plan's budget.
    let plan = options.railway_plan()?;
    let pacer = railway::Pacer::new(plan);
    let (railway, demo, railway_desc, workspace) = match options.workspace_selection()? {
        None => {
            let (source, demo, desc) = railway_source(options, &pacer).await?;
            (source, demo, desc, None)
        }
        Some(selection) => {
            let (ws, selected) = workspace(options, &settings, selection, &pacer).await?;
            let desc = format!(
                "Railway workspace: AUTOFIX_PROJECTS selects {} project environments now",
                selected.len()
            );
            (
                railway::Source::Live(ws.client.clone()),
                false,
                desc,
                Some(ws),
            )
        }
    };
    let railway_desc = if demo {
        railway_desc
    } else {
        format!(
            "{railway_desc} ({} plan: at most {} requests/s and {}/h)",
            plan.name(),
            plan.per_second(),
            plan.per_hour()
        )
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
    let upstreams = upstream_status::UpstreamChecker::new(
        http.clone(),
        table,
        github.clone(),
        options.status_timeout,
    );

    let (opencode, agent_desc) = agent(options, for_check, demo, &http);
    // Validated for every command; `check` runs in-process and never notifies.
    let sinks = options.notification_sinks()?;
    if let Purpose::Serve(inngest) = purpose {
        settings.notify = sinks;
        settings.run_url_template = options.run_url_template(inngest);
    }

    let settings_services = settings.services.clone();
    let deps = pipeline::Deps {
        railway,
        workspace,
        demo,
        github,
        upstreams,
        llm,
        opencode,
        settings,
        now: pipeline::system_clock(),
    };
    Ok(Built {
        deps: Arc::new(deps),
        describe: Describe {
            railway: railway_desc,
            ignored: describe_ignored(&settings_services),
            llm: llm_desc,
            agent: agent_desc,
            github: github_desc,
        },
    })
}
