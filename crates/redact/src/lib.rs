//! The one redactor for every secret Autofix holds.
//!
//! The binary registers each configured secret once at startup ([`register`]): API tokens and
//! keys, passwords, and credentials embedded in configured URLs ([`Secrets::add_url`]). Every
//! piece of text that leaves the process or is stored — client error messages (before they are
//! cut short), step outputs, event payloads, log lines, the LLM prompt, the agent's task — goes
//! through [`redact`], which replaces every occurrence of a secret, and of the forms a peer is
//! likely to echo it in (standard and URL-safe base64, also inside a longer base64 string such as
//! a Basic `user:password` header, percent-encoding and JSON escaping), with [`PLACEHOLDER`].
//!
//! Matching is one pass of an Aho-Corasick automaton over the text, so redacting is cheap enough
//! to run on every log line.

#![warn(missing_docs)]

use std::borrow::Cow;
use std::sync::{Arc, LazyLock, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// What a secret is replaced with.
pub const PLACEHOLDER: &str = "<redacted>";

/// Secrets shorter than this are not redacted: replacing every occurrence of a 3-letter word
/// would mangle ordinary text (and JSON keywords) while protecting nothing. [`Secrets::too_short`]
/// names them so the binary can warn at startup.
pub const MIN_SECRET_CHARS: usize = 8;

/// A base64 fragment shorter than this (16 characters = 12 bytes of the secret) is not matched on
/// its own: short fragments would match unrelated base64 text.
const MIN_BASE64_FRAGMENT: usize = 16;

/// Query parameter names whose values are treated as secrets in configured URLs.
const SECRET_PARAM_WORDS: &[&str] = &[
    "key",
    "token",
    "secret",
    "pass",
    "pwd",
    "auth",
    "sig",
    "credential",
    "session",
    "code",
];

/// The set of secrets to redact, with the configuration variable each came from.
#[derive(Clone, Default)]
pub struct Secrets {
    values: Vec<(String, String)>,
    too_short: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    // Never print the values themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<&str> = self.values.iter().map(|(l, _)| l.as_str()).collect();
        f.debug_struct("Secrets").field("labels", &labels).finish()
    }
}

impl Secrets {
    /// An empty set; a redactor built from it changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one secret value; empty values are ignored, too short ones are recorded in
    /// [`Secrets::too_short`].
    pub fn add(&mut self, label: &str, value: &str) -> &mut Self {
        let value = value.trim();
        if value.is_empty() {
            return self;
        }
        if value.chars().count() < MIN_SECRET_CHARS {
            if !self.too_short.iter().any(|l| l == label) {
                self.too_short.push(label.to_owned());
            }
            return self;
        }
        if !self.values.iter().any(|(_, v)| v == value) {
            self.values.push((label.to_owned(), value.to_owned()));
        }
        self
    }

    /// Adds a password and the `user:password` pair Basic auth encodes.
    pub fn add_basic_auth(&mut self, label: &str, user: &str, password: &str) -> &mut Self {
        self.add(label, password);
        if !password.is_empty() {
            self.add(label, &format!("{user}:{password}"));
        }
        self
    }

    /// Adds the credentials a configured URL embeds: the userinfo password (and the
    /// `user:password` pair) and the values of query parameters whose names look secret
    /// (`api-key`, `token`, `sig`, …). A value that does not parse as a URL adds nothing.
    pub fn add_url(&mut self, label: &str, url: &str) -> &mut Self {
        let Ok(parsed) = url::Url::parse(url.trim()) else {
            return self;
        };
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| s.to_owned())
        };
        if let Some(password) = parsed.password() {
            let user = decode(parsed.username());
            let password_plain = decode(password);
            self.add_basic_auth(label, &user, &password_plain);
            self.add(label, password);
        } else if !parsed.username().is_empty() {
            // `https://TOKEN@host` puts the credential in the user part.
            self.add(label, &decode(parsed.username()));
        }
        for (name, value) in parsed.query_pairs() {
            if is_secret_param(&name) {
                self.add(label, &value);
            }
        }
        self
    }

    /// Appends every secret of `other`.
    pub fn extend(&mut self, other: &Secrets) -> &mut Self {
        for (label, value) in &other.values {
            self.add(label, value);
        }
        for label in &other.too_short {
            if !self.too_short.contains(label) {
                self.too_short.push(label.clone());
            }
        }
        self
    }

    /// Variables whose value was too short to be redacted.
    pub fn too_short(&self) -> &[String] {
        &self.too_short
    }

    /// Variables with at least one registered secret, deduplicated, in registration order.
    pub fn labels(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (label, _) in &self.values {
            if !out.contains(&label.as_str()) {
                out.push(label);
            }
        }
        out
    }

    /// No secret was added (empty values are not kept).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARAM_WORDS.iter().any(|w| lower.contains(w))
}

/// A compiled set of secrets.
pub struct Redactor {
    matcher: Option<AhoCorasick>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let patterns = self.matcher.as_ref().map_or(0, |m| m.patterns_len());
        f.debug_struct("Redactor")
            .field("patterns", &patterns)
            .finish()
    }
}

impl Redactor {
    /// Compiles every form of every secret (raw, percent-, JSON- and base64-encoded, base64
    /// fragments) into one matcher, so [`Redactor::redact`] is one pass over the text.
    pub fn new(secrets: &Secrets) -> Self {
        let mut patterns: Vec<String> = Vec::new();
        for (_, value) in &secrets.values {
            for form in forms(value) {
                if !patterns.contains(&form) {
                    patterns.push(form);
                }
            }
        }
        if patterns.is_empty() {
            return Self { matcher: None };
        }
        // Standard semantics so overlapping matches can be merged: a secret that overlaps
        // another's base64 fragment is still covered end to end.
        let matcher = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .ok();
        Self { matcher }
    }

    /// `text` with every secret replaced by [`PLACEHOLDER`]; borrowed when nothing matched.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(matcher) = &self.matcher else {
            return Cow::Borrowed(text);
        };
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for m in matcher.find_overlapping_iter(text) {
            match spans.last_mut() {
                // Overlapping matches arrive ordered by end; merge any that touch the last span.
                Some(last) if m.start() <= last.1 => {
                    last.0 = last.0.min(m.start());
                    last.1 = last.1.max(m.end());
                }
                _ => spans.push((m.start(), m.end())),
            }
        }
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        // A later, longer match can start before an earlier span; fold those too.
        spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (s, e) in merged {
            // Patterns are valid UTF-8 and so is the text, so match bounds are char boundaries.
            out.push_str(&text[at..s]);
            out.push_str(PLACEHOLDER);
            at = e;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// Redacts every string (and object key) inside a JSON value in place.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        if self.matcher.is_none() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(clean) = self.redact(s) {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    if let Some(mut v) = map.remove(&key) {
                        self.redact_json(&mut v);
                        map.insert(self.redact(&key).into_owned(), v);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Has nothing to redact: every call returns its input unchanged.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }
}

/// Every form of `value` a peer may echo back.
fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_owned()];
    let percent: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    out.push(percent);
    if let Ok(json) = serde_json::to_string(value) {
        out.push(json[1..json.len() - 1].to_owned());
    }
    let bytes = value.as_bytes();
    for engine in [&STANDARD, &URL_SAFE] {
        out.push(engine.encode(bytes));
    }
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        out.push(engine.encode(bytes));
        // Inside a longer base64 text (`user:password`, a JSON blob) the secret starts at any
        // offset modulo 3. For each offset, the whole 3-byte groups that lie inside the secret
        // encode to the same characters whatever surrounds them.
        for skip in 0..3 {
            let Some(rest) = bytes.get(skip..) else {
                continue;
            };
            let whole = rest.len() / 3 * 3;
            let fragment = engine.encode(&rest[..whole]);
            if fragment.len() >= MIN_BASE64_FRAGMENT {
                out.push(fragment);
            }
        }
    }
    out.retain(|f| f.chars().count() >= MIN_SECRET_CHARS);
    out.sort();
    out.dedup();
    out
}

struct Global {
    secrets: Secrets,
    redactor: Arc<Redactor>,
}

static GLOBAL: LazyLock<RwLock<Global>> = LazyLock::new(|| {
    RwLock::new(Global {
        secrets: Secrets::new(),
        redactor: Arc::new(Redactor { matcher: None }),
    })
});

/// Adds `secrets` to the process-wide set that [`redact`] removes. Registration only grows the
/// set: a secret once registered stays redacted for the life of the process.
pub fn register(secrets: &Secrets) {
    let mut global = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    let before = global.secrets.values.len();
    global.secrets.extend(secrets);
    if global.secrets.values.len() != before {
        global.redactor = Arc::new(Redactor::new(&global.secrets));
    }
}

/// Shorthand for registering one value.
pub fn register_value(label: &str, value: &str) {
    let mut s = Secrets::new();
    s.add(label, value);
    register(&s);
}

/// The process-wide redactor as it is now.
pub fn current() -> Arc<Redactor> {
    GLOBAL
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .redactor
        .clone()
}

/// `text` with every registered secret replaced by [`PLACEHOLDER`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let redactor = current();
    match redactor.redact(text) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// [`redact`] for an owned string.
pub fn redact_string(text: String) -> String {
    match current().redact(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => s,
    }
}

/// [`Redactor::redact_json`] with the process-wide set.
pub fn redact_json(value: &mut serde_json::Value) {
    current().redact_json(value);
}

/// A URL fit for a banner or a log line: no userinfo, secret-looking query values replaced,
/// and whatever is still registered as a secret redacted. Text that is not a URL is only
/// redacted.
pub fn display_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url.trim()) else {
        return redact(url).into_owned();
    };
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_param(&k) {
                    PLACEHOLDER.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        parsed.set_query(Some(&query.finish()));
    }
    redact(parsed.as_str()).into_owned()
}

/// An `io::Write` that redacts what passes through it, for the log writer. Each `write` call is
/// redacted on its own, so it relies on the writer above it handing over whole records (as
/// `tracing-subscriber`'s formatter does: one buffer per event).
pub struct Writer<W> {
    inner: W,
}

impl<W> Writer<W> {
    /// Wraps `inner`; every write to the result is redacted with the process-wide redactor.
    pub fn new(inner: W) -> Self {
        Self { inner }
    }
}

impl<W: std::io::Write> std::io::Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        match redact(&text) {
            Cow::Borrowed(_) => self.inner.write_all(buf)?,
            Cow::Owned(clean) => self.inner.write_all(clean.as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests;
