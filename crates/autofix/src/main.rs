//! `autofix`: the Inngest worker (`serve`), a one-shot cycle (`check`), and `send`.

use std::process::ExitCode;

use autofix::config::{LogFormat, Options};
use autofix::{check, deps, serve};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "autofix",
    version,
    about = "Self-healing Railway projects: detect, explain, open a fix PR. Driven by Inngest."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Inngest functions over HTTP (the default).
    Serve(serve::ServeArgs),
    /// Run one monitoring cycle in-process and print architecture, findings, context and fix plan.
    /// Never starts a coding agent.
    Check {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run labelled scenario files (*.toml) through detection and print precision, recall and
    /// exact match per kind and per scenario. Exits non-zero unless every scenario matches.
    Eval {
        /// Directory of scenario files, e.g. tests/scenarios.
        dir: std::path::PathBuf,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send an event to the configured Inngest (dev server or Cloud).
    Send {
        /// Event name, e.g. autofix/health.check.requested.
        event: String,
        /// Event data as a JSON object.
        #[arg(long, default_value = "{}")]
        data: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
            Some(Command::Serve(args)) => serve::run(cli.options, args).await,
            Some(Command::Check { json }) => check::run(cli.options, json).await,
            Some(Command::Send { event, data }) => send(cli.options, &event, &data).await,
            Some(Command::Eval { dir, json }) => run_eval(&cli.options, &dir, json),
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
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s
            .split_whitespace()
            .next()
            .map(|f| f.trim_start_matches('-').to_string()),
        _ => None,
    };
    let env = flag.and_then(|long| {
        let cmd = Cli::command();
        let mut all: Vec<clap::Command> = vec![cmd.clone()];
        all.extend(cmd.get_subcommands().cloned());
        all.iter()
            .flat_map(|c| c.get_arguments().cloned().collect::<Vec<_>>())
            .find(|a| a.get_long() == Some(long.as_str()))
            .and_then(|a| a.get_env().map(|v| v.to_string_lossy().into_owned()))
    });
    if let Some(env) = env {
        eprintln!("error: {env} (or its flag) is invalid:");
    }
    let _ = e.print();
    ExitCode::from(2)
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
    let client = inngest::Client::new(config, deps::http_client()?);
    let event = inngest::Event::new(name, data)?;
    let ids = client.send(&[event]).await?;
    println!("sent {name}: {}", ids.join(", "));
    Ok(())
}
