//! The command line: subcommands, and how flags and environment variables become [`Options`].
//!
//! Variables are read through a lookup function rather than clap's own `env` reading, so that
//! an empty variable counts as unset (compose passes `FOO: ''` for `${FOO:-}`) and tests build
//! options exactly the way the binary does, without touching the process environment.

use std::ffi::OsString;

use clap::{Arg, Command, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::Options;
use crate::serve;

/// The command line: every option also reads its environment variable.
#[derive(Debug, Parser)]
#[command(
    name = "autofix",
    version,
    about = "Self-healing Railway projects: detect, explain, open a fix PR. Driven by Inngest."
)]
pub struct Cli {
    /// What to do; `serve` when absent.
    #[command(subcommand)]
    pub command: Option<Action>,
    /// Settings shared by every subcommand.
    #[command(flatten)]
    pub options: Options,
}

/// The subcommands (`serve` when none is given).
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Serve the Inngest functions over HTTP (the default).
    Serve(serve::ServeArgs),
    /// Run one monitoring cycle in-process and print architecture, findings, context and fix plan.
    /// Never starts a coding agent.
    Check {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// Also write a self-contained HTML report (inline SVG charts, no external assets) here.
        #[arg(long, value_name = "FILE")]
        html: Option<std::path::PathBuf>,
    },
    /// Check every configured peer with one cheap call each (Railway, Inngest, the LLM, OpenCode,
    /// GitHub) and say what to do about each failure. Exits non-zero when a check fails.
    Doctor {
        /// Print one JSON document instead of the table.
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

/// Parses `args` with variables read through `env`; empty (or blank) variables count as unset.
pub fn parse_from<I, T>(args: I, env: impl Fn(&str) -> Option<String>) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut command = command(&env);
    let matches = command.try_get_matches_from_mut(args.clone())?;
    if matches.subcommand().is_none() {
        // `autofix` alone serves: parse again as `autofix serve` so HOST, PORT and the other
        // serve variables apply to it too.
        let mut command = self::command(&env);
        let matches = command.try_get_matches_from_mut(args.into_iter().chain(["serve".into()]))?;
        return Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command));
    }
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

/// Parses the process's arguments and environment.
pub fn parse() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os(), |name| std::env::var(name).ok())
}

/// The clap command with every option global (it works after the subcommand too) and each
/// variable's value supplied as the option's default.
pub fn command(env: &impl Fn(&str) -> Option<String>) -> Command {
    let root = Cli::command().mut_args(|arg| with_env(arg.global(true), env));
    let names: Vec<String> = root
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    names.into_iter().fold(root, |root, name| {
        root.mut_subcommand(name, |sub| sub.mut_args(|arg| with_env(arg, env)))
    })
}

/// Replaces clap's own reading of the variable: a non-empty value becomes the option's default
/// (so a command-line flag still wins and the value goes through the same parser), and the
/// help text keeps naming the variable without ever showing its value.
fn with_env(arg: Arg, env: &impl Fn(&str) -> Option<String>) -> Arg {
    let Some(name) = arg.get_env().and_then(|n| n.to_str()).map(str::to_owned) else {
        return arg;
    };
    let tag = format!("[env: {name}]");
    let help = arg.get_help().map(|h| format!("{h} {tag}"));
    let long_help = arg.get_long_help().map(|h| format!("{h}\n\n{tag}"));
    let mut arg = arg.env(None).help(help.unwrap_or_else(|| tag.clone()));
    if let Some(long) = long_help {
        arg = arg.long_help(long);
    }
    match env(&name).filter(|v| !v.trim().is_empty()) {
        Some(value) => arg.default_value(value).hide_default_value(true),
        None => arg,
    }
}

/// The variable behind a long flag, for error messages: most users set variables, not flags.
pub fn variable_of(long: &str) -> Option<String> {
    let cmd = Cli::command();
    let mut all: Vec<Command> = vec![cmd.clone()];
    all.extend(cmd.get_subcommands().cloned());
    all.iter()
        .flat_map(|c| c.get_arguments().cloned().collect::<Vec<_>>())
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env().map(|v| v.to_string_lossy().into_owned()))
}
