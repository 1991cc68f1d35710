//! Folding the variable parts of a log line so that lines that differ only in numbers, ids,
//! timestamps and addresses count as one pattern; and reading a line's level.
//!
//! Placeholders: `<ts>`, `<url>` parts (`?<query>`, `<credentials>@`), `<email>`, `<uuid>`,
//! `<id>`, `<ip>`, `<hex>`, `<n>`; `file.js:123:45` becomes `file.js:<n>`.
//! Every regex is compiled once per process.

use std::sync::LazyLock;

use regex::{Captures, Regex};

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex")
}

static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?-u:\b)\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?-u:\b)|(?-u:\b)\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?-u:\b)",
    )
});
static URL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?-u:\b)(?:https?|wss?|postgres(?:ql)?|mysql|rediss?|mongodb(?:\+srv)?|amqps?)://[^\s'\x22<>()\[\]{}]+",
    )
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?-u:\b)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?-u:\b)")
});
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?-u:\b)[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?-u:\b)",
    )
});
static ULID: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u:\b)[0-7][0-9A-HJKMNP-TV-Z]{25}(?-u:\b)"));
static IP: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?-u:\b)(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?-u:\b)|\[?(?-u:\b)(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}(?-u:\b)\]?(?::\d{1,5})?|(?:^|(?-u:\B))::(?:ffff:)?1?(?-u:\b)(?::\d{1,5})?",
    )
});
static FILE_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(\.[A-Za-z][A-Za-z0-9]{0,5}):\d+(?::\d+)?(?-u:\b)"));
static HEX: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)0[xX][0-9a-fA-F]+(?-u:\b)|(?-u:\b)[0-9a-fA-F]{8,}(?-u:\b)"));
static LONG_ID: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)[A-Za-z0-9][A-Za-z0-9_-]{11,}(?-u:\b)"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"(^|[^A-Za-z0-9_<.])-?\d+(?:\.\d+)*"));

static ERROR_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:fatal|panic|panicked|error|err|critical|crit|exception|traceback|uncaught|unhandled|segmentation fault|out of memory|oom|oomkilled|econnrefused|econnreset|etimedout|enotfound|eaddrinuse)(?-u:\b)",
    )
});
static WARN_WORDS: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?-u:\b)(?:warn|warning|deprecated|deprecation)(?-u:\b)"));

/// Line level, most severe first (the derived order sorts errors first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// `error`, `fatal`, `critical`, `panic` and the other syslog levels above warning.
    Error,
    /// A warning.
    Warn,
    /// `info`, and any level not recognised.
    Info,
    /// Debug, trace or verbose output.
    Debug,
}

impl Level {
    /// The lower-case name used in rendered evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
        }
    }

    /// Parses a `LogPattern::level` string back; unknown values rank with `info`.
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" | "err" | "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency"
            | "panic" => Self::Error,
            "warn" | "warning" => Self::Warn,
            "debug" | "trace" | "verbose" => Self::Debug,
            _ => Self::Info,
        }
    }
}

/// The more severe of Railway's `severity` and the level words in the message: Railway often
/// reports everything a process prints on stdout as `info`, errors included.
pub fn level_of(severity: Option<&str>, message: &str) -> Level {
    let declared = severity.map(Level::parse).unwrap_or(Level::Info);
    if declared == Level::Error {
        return declared;
    }
    if ERROR_WORDS.is_match(message) {
        Level::Error
    } else if WARN_WORDS.is_match(message) {
        declared.min(Level::Warn)
    } else {
        declared
    }
}

/// Folds the variable parts of a (sanitised) line into placeholders.
pub fn normalize(line: &str) -> String {
    let has_digit = line.bytes().any(|b| b.is_ascii_digit());
    let mut s = line.to_owned();
    if has_digit {
        s = replace(&TIMESTAMP, &s, "<ts>");
    }
    if s.contains("://") {
        s = URL
            .replace_all(&s, |c: &Captures<'_>| fold_url(&c[0]))
            .into_owned();
    }
    if s.contains('@') {
        s = replace(&EMAIL, &s, "<email>");
    }
    if s.contains('-') {
        s = replace(&UUID, &s, "<uuid>");
    }
    s = replace(&ULID, &s, "<id>");
    if has_digit || s.contains("::") {
        s = replace(&IP, &s, "<ip>");
    }
    if has_digit {
        s = replace(&FILE_LINE, &s, "${1}:<n>");
    }
    s = HEX
        .replace_all(&s, |c: &Captures<'_>| {
            let m = &c[0];
            let prefixed = m.starts_with("0x") || m.starts_with("0X");
            // A run of hex letters only is a word ("deadbeef", "acceded"), not a hash.
            if prefixed
                || (m.bytes().any(|b| b.is_ascii_digit())
                    && m.bytes().any(|b| b.is_ascii_alphabetic()))
            {
                "<hex>".to_owned()
            } else {
                m.to_owned()
            }
        })
        .into_owned();
    s = LONG_ID
        .replace_all(&s, |c: &Captures<'_>| {
            let m = &c[0];
            if looks_like_id(m) {
                "<id>".to_owned()
            } else {
                m.to_owned()
            }
        })
        .into_owned();
    if s.bytes().any(|b| b.is_ascii_digit()) {
        s = replace(&NUMBER, &s, "${1}<n>");
    }
    s
}

fn replace(re: &Regex, s: &str, with: &str) -> String {
    match re.replace_all(s, with) {
        std::borrow::Cow::Borrowed(_) => s.to_owned(),
        std::borrow::Cow::Owned(o) => o,
    }
}

/// Mixed letters and digits, long: a generated id (`cus_NffrFeUfNV2Hib`, `req7f3k2…`). All-caps
/// words with underscores are error codes (`ERR_HTTP2_STREAM_ERROR`) and stay.
fn looks_like_id(token: &str) -> bool {
    let digits = token.bytes().filter(u8::is_ascii_digit).count();
    let letters = token.bytes().filter(u8::is_ascii_alphabetic).count();
    let lower = token.bytes().any(|b| b.is_ascii_lowercase());
    digits > 0 && letters > 0 && (lower || !token.contains('_'))
}

/// Keeps scheme, host and path; drops credentials and query values.
fn fold_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("<credentials>@{host}"),
        None => authority.to_owned(),
    };
    let (path, query) = match path.find(['?', '#']) {
        Some(i) => (&path[..i], true),
        None => (path, false),
    };
    let path: Vec<String> = path.split('/').map(fold_segment).collect();
    let mut out = format!("{scheme}://{host}{}", path.join("/"));
    if query {
        out.push_str("?<query>");
    }
    out
}

/// One path segment of a route or URL: ids and numbers folded.
pub fn fold_segment(seg: &str) -> String {
    if seg.is_empty() {
        return String::new();
    }
    if seg.bytes().all(|b| b.is_ascii_digit()) {
        return "<n>".into();
    }
    if UUID.is_match(seg) && seg.len() == 36 {
        return "<uuid>".into();
    }
    if seg.len() == 26 && ULID.is_match(seg) {
        return "<id>".into();
    }
    if seg.contains('@') && EMAIL.is_match(seg) {
        return "<email>".into();
    }
    let hexish = seg.len() >= 8 && seg.bytes().all(|b| b.is_ascii_hexdigit());
    if hexish && seg.bytes().any(|b| b.is_ascii_digit()) {
        return "<hex>".into();
    }
    if seg.len() >= 12 && looks_like_id(seg) {
        return "<id>".into();
    }
    if seg.len() > 64 {
        return "<long>".into();
    }
    seg.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_variable_parts() {
        let cases = [
            (
                "2026-11-23T09:14:02.123456789Z request 42 took 350ms",
                "<ts> request <n> took <n>ms",
            ),
            (
                "at Object.handler (/app/src/server.js:123:45)",
                "at Object.handler (/app/src/server.js:<n>)",
            ),
            (
                "connect ECONNREFUSED 10.0.3.7:5432",
                "connect ECONNREFUSED <ip>",
            ),
            ("connect ECONNREFUSED ::1:5432", "connect ECONNREFUSED <ip>"),
            (
                "user 3f2b1c9e-8a7d-4e6f-9b0a-1c2d3e4f5a6b not found",
                "user <uuid> not found",
            ),
            ("job 01HZX3Q4M5N6P7R8S9T0V1W2X3 done", "job <id> done"),
            (
                "commit a94a8fe5ccb19ba61c4c0873d391e987982fbbd3 and ptr 0x7ffd5e8c",
                "commit <hex> and ptr <hex>",
            ),
            (
                "customer cus_NffrFeUfNV2Hib charged",
                "customer <id> charged",
            ),
            (
                "ERR_HTTP2_STREAM_ERROR on worker-3",
                "ERR_HTTP2_STREAM_ERROR on worker-<n>",
            ),
            (
                "mail to jane.doe+x@example.co.uk failed",
                "mail to <email> failed",
            ),
            (
                "GET https://api.stripe.com/v1/charges/123?key=sk_live_abc failed",
                "GET https://api.stripe.com/v1/charges/<n>?<query> failed",
            ),
            (
                "db postgres://admin:hunter2@db.internal:5432/app down",
                "db postgres://<credentials>@db.internal:<n>/app down",
            ),
            (
                "using std::io::Error in v2.1",
                "using std::io::Error in v2.1",
            ),
            ("deadbeef facade", "deadbeef facade"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "input: {input}");
        }
    }

    #[test]
    fn same_shape_lines_share_a_pattern() {
        let a = normalize(
            "2026-11-23T09:00:01Z slow query took 2301 ms: SELECT * FROM orders WHERE id = 981",
        );
        let b = normalize(
            "2026-11-23T09:05:44Z slow query took 1999 ms: SELECT * FROM orders WHERE id = 12",
        );
        assert_eq!(a, b);
    }

    #[test]
    fn level_takes_the_worse_of_field_and_words() {
        assert_eq!(
            level_of(Some("info"), "Error: connect ECONNREFUSED"),
            Level::Error
        );
        assert_eq!(
            level_of(None, "FATAL ERROR: Reached heap limit"),
            Level::Error
        );
        assert_eq!(level_of(Some("info"), "Warning: slow query"), Level::Warn);
        assert_eq!(level_of(Some("error"), "all good"), Level::Error);
        assert_eq!(
            level_of(Some("info"), "processed 0 errors, error_count=0"),
            Level::Info
        );
        assert_eq!(level_of(Some("debug"), "cache hit"), Level::Debug);
        assert_eq!(level_of(Some("WARNING"), "x"), Level::Warn);
    }

    #[test]
    fn segments_fold_ids_but_keep_words() {
        assert_eq!(fold_segment("users"), "users");
        assert_eq!(fold_segment("12345"), "<n>");
        assert_eq!(fold_segment("a94a8fe5ccb1"), "<hex>");
        assert_eq!(fold_segment("ord_1a2b3c4d5e6f"), "<id>");
        assert_eq!(fold_segment("checkout-session"), "checkout-session");
    }
}
