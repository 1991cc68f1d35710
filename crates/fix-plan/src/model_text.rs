//! Model output is data: the analysis text was written by a model that read attacker-reachable
//! logs, so it is checked before it reaches the agent and cleaned like log text when it does.
//!
//! [`check`] refuses an analysis whose text
//! - names a repository other than the ones Railway gave the input: a `github.com/<owner>/<name>`
//!   (or `git@github.com:`) reference anywhere, or an `owner/name` token within three words after
//!   a repository word (repo, repository, fork, clone, push) that is not a file path (no
//!   source-file extension);
//! - pipes anything into a shell or interpreter (`| sh`, `| bash`, `| python`, …) or substitutes
//!   a command (`$(…)`), even inside a code fence: no analysis of an incident needs either;
//! - outside code (fenced blocks and inline `code` spans), contains a URL (`scheme://…`,
//!   `www.…`) or a shell command (`curl …`, `wget …`, `sudo …`, `sh -c`, `rm -rf`, `chmod`,
//!   `git push/clone/remote/…`, `gh auth/repo/pr/api/…`, `npm/pip/cargo install`, `&&` chains,
//!   `export VAR=`).
//!
//! The analysis prompt asks the model to put paths, URLs and commands in backticks and to name
//! no other repository, so a model that follows its instructions is not refused.

use std::sync::LazyLock;

use analysis::Analysis;
use regex::Regex;

/// Characters of one analysis item shown to the agent; longer items are cut with `…`.
const MAX_ITEM_CHARS: usize = 1_500;

/// Why an analysis was refused: one problem per offending field, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the analysis is model-written text that tries to widen the task: {}", problems.join("; "))]
pub struct UntrustedAnalysis {
    /// `<field>: <what was found>`, in field order.
    pub problems: Vec<String>,
}

/// The analysis's free text, each with the name of its field.
pub fn fields(analysis: &Analysis) -> Vec<(String, &str)> {
    let mut out = vec![("summary".to_owned(), analysis.summary.as_str())];
    for (i, rc) in analysis.root_causes.iter().enumerate() {
        out.push((format!("root_causes[{i}].cause"), rc.cause.as_str()));
        for (j, e) in rc.evidence.iter().enumerate() {
            out.push((format!("root_causes[{i}].evidence[{j}]"), e.as_str()));
        }
        for (j, s) in rc.services.iter().enumerate() {
            out.push((format!("root_causes[{i}].services[{j}]"), s.as_str()));
        }
    }
    for (i, a) in analysis.actions.iter().enumerate() {
        out.push((format!("actions[{i}].rationale"), a.rationale.as_str()));
    }
    for (i, r) in analysis.recommendations.iter().enumerate() {
        out.push((format!("recommendations[{i}]"), r.as_str()));
    }
    for (i, d) in analysis.debugging_steps.iter().enumerate() {
        out.push((format!("debugging_steps[{i}]"), d.as_str()));
    }
    out
}

/// Refuses an analysis whose text names a repository outside `repos` (Railway's, for this
/// input), or carries URLs or shell commands outside code, or shell pipes anywhere.
pub fn check(analysis: &Analysis, repos: &[&str]) -> Result<(), UntrustedAnalysis> {
    let allowed: Vec<String> = repos.iter().map(|r| r.to_ascii_lowercase()).collect();
    let mut problems = Vec::new();
    for (field, text) in fields(analysis) {
        if let Some(found) = problem(text, &allowed) {
            problems.push(format!("{field}: {found}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(UntrustedAnalysis { problems })
    }
}

/// The first problem in one text, quoted (cut short) so the reason can be read in the run.
fn problem(text: &str, allowed: &[String]) -> Option<String> {
    let quote = |s: &str| format!("{:?}", evidence::sanitize::clean_line(s, 80));
    if let Some(repo) = foreign_repository(text, allowed) {
        return Some(format!(
            "names repository {}, which is not the target",
            quote(&repo)
        ));
    }
    if let Some(m) = SHELL_PIPE.find(text) {
        return Some(format!("pipes into a shell: {}", quote(m.as_str())));
    }
    let prose = outside_code(text);
    if let Some(m) = URL.find(&prose) {
        return Some(format!(
            "contains a URL outside code: {}",
            quote(m.as_str())
        ));
    }
    if let Some(m) = COMMAND.find(&prose) {
        return Some(format!(
            "contains a shell command outside code: {}",
            quote(m.as_str().trim())
        ));
    }
    None
}

static GITHUB_REPO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)github\.com[/:]([A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]+)")
        .expect("static regex")
});
static REPO_AFTER_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:repo|repos|repository|repositories|fork|forks|forked|clone|cloned|cloning|push|pushed|pushes|pushing)\b[^\w/]*(?:[\w'-]+[^\w/]+){0,3}?([A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]+)",
    )
    .expect("static regex")
});
static SHELL_PIPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\|\s*(?:sudo\s+)?(?:(?:ba|z|da|k|fi)?sh|python[0-9.]*|perl|ruby|node|php|iex)\b|\$\(",
    )
    .expect("static regex")
});
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z][a-z0-9+.-]{1,15}://\S+|\bwww\.[a-z0-9-]+\.[a-z]\S*")
        .expect("static regex")
});
static COMMAND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(?:curl|wget|sudo)\s+\S",
        r"|\b(?:ba|z|da|k)?sh\s+-c\b",
        r"|\brm\s+-[a-z]*[rf]",
        r"|\bchmod\s+[+0-7]",
        r"|\bgit\s+(?:push|clone|remote|fetch|pull|checkout|config|reset|commit|add|apply|am)\b",
        r"|\bgh\s+(?:auth|repo|pr|api|secret|release|gist|workflow)\b",
        r"|\b(?:npm|pnpm|yarn|pip3?|gem|cargo|go)\s+(?:install|add|i|publish|get)\s",
        r"|&&",
        r"|\bexport\s+[A-Za-z_][A-Za-z0-9_]*=",
    ))
    .expect("static regex")
});

/// Extensions that make `dir/file.ext` a path, not `owner/name`.
const SOURCE_EXTENSIONS: &[&str] = &[
    "c", "cc", "cjs", "conf", "cpp", "cs", "css", "env", "ex", "exs", "go", "h", "hpp", "html",
    "ini", "java", "js", "json", "jsx", "kt", "lock", "md", "mjs", "php", "prisma", "py", "rb",
    "rs", "scss", "sh", "sql", "swift", "toml", "ts", "tsx", "txt", "vue", "xml", "yaml", "yml",
];

fn is_path(token: &str) -> bool {
    token
        .rsplit_once('.')
        .is_some_and(|(_, ext)| SOURCE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

fn foreign_repository(text: &str, allowed: &[String]) -> Option<String> {
    let normalise = |raw: &str| {
        let t = raw.trim_end_matches(['.', ',', ':', ';', '!', '?', '\'', '"', ')']);
        t.strip_suffix(".git").unwrap_or(t).to_owned()
    };
    let foreign = |repo: &str| !allowed.contains(&repo.to_ascii_lowercase());
    let by_url = GITHUB_REPO
        .captures_iter(text)
        .map(|c| normalise(&c[1]))
        .find(|r| foreign(r));
    by_url.or_else(|| {
        REPO_AFTER_WORD
            .captures_iter(text)
            .map(|c| normalise(&c[1]))
            .find(|r| !is_path(r) && foreign(r))
    })
}

/// The text with fenced blocks (``` or ~~~) and inline `code` spans removed.
fn outside_code(text: &str) -> String {
    let mut prose = String::with_capacity(text.len());
    let mut in_fence: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect();
        match &in_fence {
            Some(open) => {
                if marker.len() >= open.len() && marker.starts_with(&open[..1]) {
                    in_fence = None;
                }
                continue;
            }
            None if marker.len() >= 3 => {
                in_fence = Some(marker);
                continue;
            }
            None => {}
        }
        prose.push_str(&without_inline_code(line));
        prose.push('\n');
    }
    prose
}

/// A line without its `code` spans (a span opened by N backticks closes at the next run of N).
fn without_inline_code(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let ticks = after.chars().take_while(|c| *c == '`').count();
        let body = &after[ticks..];
        match body.find(&"`".repeat(ticks)) {
            Some(end) => {
                out.push(' ');
                rest = &body[end + ticks..];
            }
            // An unclosed span is not code: keep it, so it is still checked.
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// One analysis item as the agent and the PR body show it: cleaned like log text (one line,
/// control characters and markdown structure neutralised, credentials redacted, capped).
pub fn clean(text: &str) -> String {
    evidence::sanitize::clean_line(text, MAX_ITEM_CHARS)
}
