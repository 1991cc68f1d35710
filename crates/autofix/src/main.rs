//! `autofix`: the Inngest worker (`serve`), a one-shot cycle (`check`), and `send`.

use std::process::ExitCode;

use autofix::cli::{self, Action};
use autofix::config::{LogFormat, Options};
use autofix::{check, deps, doctor, serve};

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) => return parse_error(e),
    };
    init_tracing(cli.options.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            None => serve::run(cli.options, serve::ServeArgs::default()).await,
            Some(Action::Serve(args)) => serve::run(cli.options, args).await,
            Some(Action::Check { json, html }) => {
                check::run(cli.options, json, html.as_deref()).await
            }
            Some(Action::Doctor { json }) => doctor::run(cli.options, json).await,
            Some(Action::Send { event, data }) => send(cli.options, &event, &data).await,
            Some(Action::Eval { dir, json }) => run_eval(&cli.options, &dir, json),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// clap names the flag of a bad value; most users set the environment variable, so name it too.
fn parse_error(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let env = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s
            .split(|c: char| c.is_whitespace() || c == '[' || c == '=')
            .next()
            .and_then(|f| cli::variable_of(f.trim_start_matches('-'))),
        _ => None,
    };
    if let Some(env) = env {
        eprintln!("error: {env} (or its flag) is invalid:");
    }
    let _ = e.print();
    ExitCode::from(2)
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only help a person at a terminal; in a file or a log collector they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // Every log line passes the redactor, whatever a field or an error message holds.
        .with_writer(|| redact::Writer::new(std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

/// Uses the configured thresholds (`AUTOFIX_THRESHOLDS`), so a threshold change can be evaluated
/// before it is deployed.
fn run_eval(options: &Options, dir: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let thresholds = options.thresholds()?;
    let scenarios = eval::load_dir(dir)?;
    let result = eval::evaluate(&scenarios, &thresholds);
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", eval::full_markdown(&result));
    }
    if !result.all_exact() {
        anyhow::bail!(
            "{} of {} scenarios do not match their labels",
            result.scenarios.len() - result.exact_matches,
            result.scenarios.len()
        );
    }
    Ok(())
}

async fn send(options: Options, name: &str, data: &str) -> anyhow::Result<()> {
    let data: serde_json::Value =
        serde_json::from_str(data).map_err(|e| anyhow::anyhow!("--data: not valid JSON: {e}"))?;
    if !data.is_object() {
        anyhow::bail!("--data: must be a JSON object, e.g. '{{\"window_minutes\": 60}}'");
    }
    if name.trim().is_empty() {
        anyhow::bail!("event name: must not be empty");
    }
    autofix::secrets::register(&options);
    let config = options.inngest_config()?;
    let url = config.event_api_base_url.clone();
    let client = inngest::Client::new(config, deps::http_client()?);
    let event = inngest::Event::new(name, data)?;
    let ids = client.send(&[event]).await.map_err(|e| {
        anyhow::anyhow!(
            "sending {name} to the Event API at {url} failed: {e}; check INNGEST_EVENT_KEY \
             (cloud) or that the dev server runs there (INNGEST_DEV=1, INNGEST_BASE_URL), or run \
             `autofix doctor`"
        )
    })?;
    println!("sent {name}: {}", ids.join(", "));
    Ok(())
}
