//! `autofix doctor`: one cheap call per configured peer, and for each failure what to do.
//!
//! Nothing here writes: Railway and GitHub are read, the LLM is asked for its model list,
//! OpenCode for its health and configuration, and Inngest gets one event no function listens to.

use serde::Serialize;

use crate::config::{Options, RailwayTarget};
use crate::deps;

/// The event `doctor` sends to prove the event key: no function is triggered by it.
pub const PING_EVENT: &str = "autofix/doctor.ping";

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The peer answered as expected.
    Ok,
    /// The peer could not be reached or refused us; `fix` says what to do.
    Failed,
    /// Not configured, so not checked (e.g. no LLM in rule-based mode).
    Skipped,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Which peer: `configuration`, `railway`, `inngest`, `llm`, `opencode` or `github`.
    pub peer: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was checked and what came back, secrets redacted.
    pub detail: String,
    /// What to do, for a failure.
    pub fix: Option<String>,
}

impl Check {
    // Details quote peers' answers, which may echo a credential: redacted where they are made,
    // so no caller of `checks` sees a secret, and again when printed.
    fn ok(peer: &'static str, detail: impl Into<String>) -> Self {
        Self {
            peer,
            status: Status::Ok,
            detail: redact::redact_string(detail.into()),
            fix: None,
        }
    }
    fn skipped(peer: &'static str, detail: impl Into<String>) -> Self {
        Self {
            peer,
            status: Status::Skipped,
            detail: redact::redact_string(detail.into()),
            fix: None,
        }
    }
    fn failed(peer: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            peer,
            status: Status::Failed,
            detail: redact::redact_string(detail.into()),
            fix: Some(redact::redact_string(fix.into())),
        }
    }
}

/// The `--json` document.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Every check passed or was skipped.
    pub ok: bool,
    /// One row per peer, in table order.
    pub checks: Vec<Check>,
}

/// Prints the table (or JSON); an error (a non-zero exit) when a check failed.
pub async fn run(options: Options, json: bool) -> anyhow::Result<()> {
    let checks = checks(&options).await;
    print!("{}", output(&checks, json)?);
    let failed = checks.iter().filter(|c| c.status == Status::Failed).count();
    if failed > 0 {
        anyhow::bail!("doctor: {failed} check(s) failed");
    }
    Ok(())
}

/// What `doctor` prints: the table, or the `--json` document, secrets redacted.
pub fn output(checks: &[Check], json: bool) -> anyhow::Result<String> {
    let text = if json {
        let report = Report {
            ok: checks.iter().all(|c| c.status != Status::Failed),
            checks: checks.to_vec(),
        };
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        table(checks)
    };
    // Peers' answers are quoted in the details: nothing secret leaves through them.
    Ok(redact::redact_string(text))
}

/// Every check, in the order a deployment depends on them.
pub async fn checks(options: &Options) -> Vec<Check> {
    let settings = match options.pipeline_settings() {
        Ok(s) => s,
        Err(e) => {
            return vec![Check::failed(
                "configuration",
                e.to_string(),
                format!("fix {}; `autofix --help` describes it", e.variable),
            )];
        }
    };
    // Every detail below may quote a peer's answer: secrets are redacted from it first.
    crate::secrets::register(options);
    let http = match deps::http_client() {
        Ok(h) => h,
        Err(e) => {
            return vec![Check::failed(
                "configuration",
                format!("{e:#}"),
                "report a bug",
            )];
        }
    };
    let mut checks = Vec::new();
    let (railway, repos, budget) = railway(options, &settings).await;
    checks.push(railway);
    checks.extend(budget);
    checks.push(inngest(options, &http).await);
    checks.push(llm(options, &http).await);
    checks.push(opencode(options, &http).await);
    checks.extend(github(options, &http, repos).await);
    checks
}

/// The monitored repositories when the architecture could be read (`None` in demo mode), and
/// the check of the cron's Railway requests against the plan (single project, once read).
async fn railway(
    options: &Options,
    settings: &pipeline::Settings,
) -> (Check, Option<Vec<String>>, Option<Check>) {
    const PEER: &str = "railway";
    if let Ok(Some(selection)) = options.workspace_selection() {
        let pacer = railway::Pacer::new(options.railway_plan().unwrap_or_default());
        return match deps::workspace(options, settings, selection, &pacer).await {
            Ok((_, selected)) => (
                Check::ok(
                    PEER,
                    format!(
                        "account or workspace token (RAILWAY_API_TOKEN): AUTOFIX_PROJECTS selects {} project environments: {}",
                        selected.len(),
                        deps::target_names(&selected)
                    ),
                ),
                None,
                None,
            ),
            Err(e) => (
                Check::failed(
                    PEER,
                    format!("{e:#}"),
                    "check AUTOFIX_PROJECTS, AUTOFIX_WORKSPACE_ID and AUTOFIX_CONFIG against the projects the token can see",
                ),
                None,
                None,
            ),
        };
    }
    let target = match options.railway_target() {
        Ok(t) => t,
        Err(e) => {
            let fix = format!("fix {}", e.variable);
            return (Check::failed(PEER, e.to_string(), fix), None, None);
        }
    };
    if let RailwayTarget::Demo { reason } = target {
        return (
            Check::skipped(
                PEER,
                format!("demo project ({reason}): Railway is not called"),
            ),
            None,
            None,
        );
    }
    let kind = if options.railway_token.is_some() {
        "project token (RAILWAY_TOKEN)"
    } else {
        "account or workspace token (RAILWAY_API_TOKEN)"
    };
    let pacer = railway::Pacer::new(options.railway_plan().unwrap_or_default());
    let source = match deps::railway_source(options, &pacer).await {
        Ok((source, _, _)) => source,
        Err(e) => {
            return (
                Check::failed(PEER, format!("{e:#}"), railway_fix(options)),
                None,
                None,
            );
        }
    };
    match source.architecture().await {
        Ok(arch) => {
            let (monitored, ignored) = settings.services.apply(arch.clone());
            let repos: Vec<String> = monitored
                .services
                .iter()
                .filter_map(|s| s.source.repo.clone())
                .collect();
            let detail = format!(
                "{kind}: project {} / environment {}, {} services ({} ignored)",
                arch.project.name,
                arch.environment.name,
                arch.services.len(),
                ignored.len()
            );
            let budget = match &source {
                railway::Source::Live(client) => Some(budget(
                    options,
                    settings,
                    client.health_read_cost(
                        &arch,
                        &monitored,
                        i64::from(settings.window_minutes) * 60,
                    ),
                )),
                _ => None,
            };
            (Check::ok(PEER, detail), Some(repos), budget)
        }
        Err(e) => (
            Check::failed(
                PEER,
                format!("{e} ({})", options.railway_api_url),
                railway_fix(options),
            ),
            None,
            None,
        ),
    }
}

/// Whether the cron's quiet cycles fit the plan's hourly limit (incidents add their context and
/// fix reads on top).
fn budget(
    options: &Options,
    settings: &pipeline::Settings,
    cost: railway::HealthReadCost,
) -> Check {
    const PEER: &str = "railway";
    let plan = options.railway_plan().unwrap_or_default();
    let runs = match inngest::cron_runs_per_hour(&settings.cron) {
        Ok(n) => n,
        Err(e) => return Check::failed(PEER, e.to_string(), "fix AUTOFIX_CRON"),
    };
    let fit = railway::HourlyFit::judge(cost.at_most(), runs, plan);
    let detail = format!(
        "API budget: {}–{} requests a cycle (architecture {}, usage {}, HTTP {}, {} other), up \
         to {runs} cycles an hour (AUTOFIX_CRON): {}/h of the {} plan's {}/h",
        cost.quiet(),
        cost.at_most(),
        cost.architecture,
        cost.usage,
        cost.http,
        cost.at_most() - cost.architecture - cost.usage - cost.http,
        fit.per_hour,
        plan.name(),
        fit.limit
    );
    match fit.verdict {
        railway::Fit::Fits => Check::ok(PEER, detail),
        railway::Fit::Slower(cron) => Check::failed(
            PEER,
            detail,
            format!(
                "set AUTOFIX_CRON='{cron}' (or AUTOFIX_RAILWAY_PLAN=pro if the account is on \
                 Pro); until then cycles fail with RateLimited once the hour's budget is spent"
            ),
        ),
        railway::Fit::Never => Check::failed(
            PEER,
            detail,
            "one cycle needs more than the plan's hour: use AUTOFIX_RAILWAY_PLAN=pro (a Pro \
             account) or ignore services (AUTOFIX_IGNORE_SERVICES)",
        ),
    }
}

fn railway_fix(options: &Options) -> String {
    format!(
        "either the token is invalid, or project `{}` or its environment is not found or not \
         visible with this token (Railway answers both \"Not Authorized\"; a project token sees \
         only its own environment): check RAILWAY_PROJECT_ID and RAILWAY_ENVIRONMENT_ID, or \
         create a token at railway.com/account/tokens",
        options.railway_project_id.as_deref().unwrap_or("?")
    )
}

async fn inngest(options: &Options, http: &reqwest::Client) -> Check {
    const PEER: &str = "inngest";
    let config = match options.inngest_config() {
        Ok(c) => c,
        Err(e) => return Check::failed(PEER, e.to_string(), format!("set {}", e.variable)),
    };
    let client = inngest::Client::new(config.clone(), http.clone());
    let api = config.api_base_url.clone();
    match config.mode {
        inngest::Mode::Dev => {
            let url = api.join("health").unwrap_or_else(|_| api.clone());
            let reachable = http
                .get(url.clone())
                .timeout(std::time::Duration::from_secs(5))
                .send()
                .await
                .map(|r| r.status().is_success());
            if !matches!(reachable, Ok(true)) {
                return Check::failed(
                    PEER,
                    format!("the dev server does not answer {url}"),
                    "start it (`npx inngest-cli@latest dev`, or `docker compose up inngest`) or \
                     point INNGEST_BASE_URL (or INNGEST_DEV=<url>) at it",
                );
            }
        }
        inngest::Mode::Cloud => {
            if let Err(e) = client.check_signing_key().await {
                return Check::failed(
                    PEER,
                    format!("{e} ({api})"),
                    "copy the signing key of this environment from the Inngest dashboard \
                     (Manage → Signing key) into INNGEST_SIGNING_KEY; for a branch environment \
                     set INNGEST_ENV too",
                );
            }
        }
    }
    let ping = match inngest::Event::new(PING_EVENT, serde_json::json!({})) {
        Ok(e) => e,
        Err(e) => return Check::failed(PEER, e.to_string(), "report a bug"),
    };
    match client.send(&[ping]).await {
        Ok(_) => Check::ok(
            PEER,
            match config.mode {
                inngest::Mode::Dev => format!("dev server at {api}; events accepted"),
                inngest::Mode::Cloud => {
                    format!("Inngest Cloud at {api}: signing key and event key accepted")
                }
            },
        ),
        Err(e) => Check::failed(
            PEER,
            format!(
                "sending {PING_EVENT} to {} failed: {e}",
                config.event_api_base_url
            ),
            "create an event key in the Inngest dashboard (Manage → Event keys) of the same \
             environment and set INNGEST_EVENT_KEY",
        ),
    }
}

async fn llm(options: &Options, http: &reqwest::Client) -> Check {
    const PEER: &str = "llm";
    let provider = match options.llm_provider() {
        Ok(Some(p)) => p,
        Ok(None) => return Check::skipped(PEER, "no LLM configured: rule-based analysis"),
        Err(e) => return Check::failed(PEER, e.to_string(), format!("set {}", e.variable)),
    };
    let model = provider.model().to_owned();
    let base = provider.base_url().to_owned();
    let client = llm::Llm::new(http.clone(), provider);
    match client.models().await {
        Ok(models) if models.contains(&model) => Check::ok(
            PEER,
            format!("{}: model {model} is available", client.describe()),
        ),
        Ok(models) => {
            let mut some: Vec<&str> = models.iter().map(String::as_str).take(8).collect();
            some.sort();
            Check::failed(
                PEER,
                format!("{base} does not list the model `{model}`"),
                format!(
                    "set AUTOFIX_LLM_MODEL to a model the key can use, e.g. {}",
                    some.join(", ")
                ),
            )
        }
        Err(e) => Check::failed(
            PEER,
            format!("{e} ({base})"),
            "check the API key (OPENAI_API_KEY / ANTHROPIC_API_KEY) and the base URL \
             (OPENAI_BASE_URL / ANTHROPIC_BASE_URL)",
        ),
    }
}

async fn opencode(options: &Options, http: &reqwest::Client) -> Check {
    const PEER: &str = "opencode";
    let Some(url) = &options.opencode_url else {
        return Check::skipped(PEER, "no OPENCODE_URL: generate-fix is a dry run");
    };
    let client = opencode::OpenCode::new(
        http.clone(),
        url.clone(),
        options.opencode_username.clone(),
        options.opencode_password.clone(),
    );
    let version = match client.server_version().await {
        Ok(v) => v,
        Err(e) => {
            return Check::failed(
                PEER,
                format!("{e} ({url})"),
                "check OPENCODE_URL (on Railway `http://<service>.railway.internal:4096`; the \
                 server must listen on `::`) and that OPENCODE_SERVER_PASSWORD is the same on both \
                 services",
            );
        }
    };
    let configured = match client.configured_model().await {
        Ok(m) => m,
        Err(e) => {
            return Check::failed(
                PEER,
                format!("{e} ({url})"),
                "check the OpenCode server's logs",
            );
        }
    };
    let model = options.agent_model.clone().or(configured);
    let demo_note = if matches!(options.railway_target(), Ok(RailwayTarget::Demo { .. }))
        && !options.demo_real_agent
    {
        " (not called with the demo project)"
    } else {
        ""
    };
    match model {
        Some(model) => Check::ok(
            PEER,
            format!("OpenCode {version} at {url}, agent model {model}{demo_note}"),
        ),
        None => Check::failed(
            PEER,
            format!("OpenCode {version} at {url} has no model configured"),
            "set OPENCODE_MODEL on the OpenCode service (or AUTOFIX_AGENT_MODEL on the worker) \
             to `provider/model`, with that provider's key on the OpenCode service",
        ),
    }
}

async fn github(
    options: &Options,
    http: &reqwest::Client,
    repos: Option<Vec<String>>,
) -> Vec<Check> {
    const PEER: &str = "github";
    let Some(token) = &options.github_token else {
        return vec![Check::skipped(
            PEER,
            "no GITHUB_TOKEN: manifests are not read, existing PRs not checked",
        )];
    };
    let api = options.github_api_url.clone();
    let client = github::GitHub::new(http.clone(), api.clone(), Some(token.clone()));
    let login = match client.user().await {
        Ok(login) => login,
        Err(e) => {
            return vec![Check::failed(
                PEER,
                format!("{e} ({api})"),
                "create a new token (github.com/settings/personal-access-tokens) and set \
                 GITHUB_TOKEN; for GitHub Enterprise set GITHUB_API_URL",
            )];
        }
    };
    let mut checks = vec![Check::ok(
        PEER,
        format!("token of {login} accepted by {api}"),
    )];
    let Some(mut repos) = repos else {
        return checks;
    };
    repos.sort();
    repos.dedup();
    for repo in repos {
        checks.push(match client.can_push(&repo).await {
            Ok(true) => Check::ok(PEER, format!("{repo}: push allowed (fix branch and PR)")),
            Ok(false) => Check::failed(
                PEER,
                format!("{repo}: the token of {login} cannot push"),
                format!(
                    "grant the token Contents: write and Pull requests: write on {repo} (or \
                     leave the service out with AUTOFIX_IGNORE_SERVICES)"
                ),
            ),
            Err(e) => Check::failed(
                PEER,
                format!("{repo}: {e}"),
                format!("add {repo} to the token's repositories, or check the repository name"),
            ),
        });
    }
    checks
}

/// The text table: peer, status, detail, and what to do under each failure.
pub fn table(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.peer.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!("{:width$}  {:7}  detail\n", "peer", "status");
    for c in checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
        };
        out.push_str(&format!("{:width$}  {:7}  {}\n", c.peer, status, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("{:width$}  {:7}  → {}\n", "", "", fix));
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Failed).count();
    out.push_str(&match failed {
        0 => "all configured peers answer\n".to_string(),
        n => format!("{n} check(s) failed\n"),
    });
    out
}
