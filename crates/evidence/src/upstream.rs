//! Upstream awareness: which third-party providers a service depends on, and whether they are
//! having an incident right now.
//!
//! A failing payment provider shows up as 5xx and timeouts in *our* service; the right reaction
//! is to wait it out, not to open a pull request. So before an analysis, Autofix:
//!
//! 1. infers providers from the repository's dependency manifests (`package.json`,
//!    `requirements.txt`, `pyproject.toml`, `Cargo.toml`, `go.mod`, `Gemfile`, at the repository
//!    root and under the service's root directory), read through the GitHub API with the
//!    configured token; without a token or a repository this step is skipped quietly;
//! 2. infers providers from hostnames in error and warning log lines and in HTTP failure details
//!    (`api.stripe.com` → Stripe). Lines with `ECONNREFUSED` are not used: a refused connection
//!    is almost always a private target (database, sidecar) that is down, not a SaaS API;
//! 3. reads each provider's public status API, all in parallel, each with a short timeout
//!    (default 3 s): Statuspage's `/api/v2/status.json` and `/api/v2/incidents/unresolved.json`,
//!    or Stripe's `/current` (see [`StatusApi`]). A page that times out or answers garbage gives [`UpstreamHealth::Unknown`] and a
//!    note; it never fails the run.
//!
//! ## Provider table
//!
//! [`ProviderTable::builtin`] knows Stripe, PayPal, Shopify, OpenAI, Anthropic, Twilio, SendGrid,
//! Mailgun, Discord, GitHub, Cloudflare, Supabase, Vercel and Sentry. Extend or override it with a
//! JSON array (`AUTOFIX_PROVIDERS_JSON`, or a file the binary reads); an entry with a built-in
//! key replaces the built-in one:
//!
//! ```json
//! [{
//!   "key": "acme-pay",
//!   "name": "Acme Pay",
//!   "packages": { "npm": ["@acme/pay"], "pypi": ["acme-pay"], "cargo": [], "go": ["github.com/acme/pay-go"], "gem": [] },
//!   "hosts": ["api.acmepay.com"],
//!   "status_page": "https://status.acmepay.com"
//! }]
//! ```
//!
//! `hosts` match the host itself and its subdomains; `status_page` is the base URL of the status
//! page, read as an Atlassian Statuspage unless `"status_api": "stripe_current"` says otherwise
//! (omit `status_page` when the provider has none: the provider is still reported, with health
//! `unknown`). Package names compare the way each ecosystem does
//! (PyPI: case-insensitive, `-`/`_`/`.` equal; Cargo: `-`/`_` equal; Go: module path prefix).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use std::time::Duration;

use futures::future::join_all;
use railway::model::{Service, ServiceLogs};
use regex::Regex;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::normalize::{self, Level};
use crate::sanitize;
use crate::{UpstreamHealth, UpstreamStatus};

/// Package names of one provider's SDKs, per ecosystem.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Packages {
    pub npm: Vec<String>,
    pub pypi: Vec<String>,
    pub cargo: Vec<String>,
    pub go: Vec<String>,
    pub gem: Vec<String>,
}

/// One third-party provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Stable id: lowercase letters, digits, `-`, `_`.
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub packages: Packages,
    /// API hostnames; subdomains match too.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Base URL of the provider's status page.
    #[serde(default)]
    pub status_page: Option<Url>,
    /// How to read `status_page`.
    #[serde(default)]
    pub status_api: StatusApi,
}

/// The machine-readable status formats Autofix reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusApi {
    /// Atlassian Statuspage and compatible pages: `/api/v2/status.json` for the overall
    /// indicator and `/api/v2/incidents/unresolved.json` for open incidents.
    #[default]
    Statuspage,
    /// Stripe's own page: `/current` answers `{"largestatus": "up" | "degraded" | "down",
    /// "message": …}` (what the Stripe CLI's `status` command reads).
    StripeCurrent,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderConfigError {
    #[error("provider table JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("provider {key:?}: {reason}")]
    Invalid { key: String, reason: String },
}

/// The providers Autofix knows; see the module documentation for the JSON format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderTable {
    providers: Vec<Provider>,
}

/// The built-in providers: a data file in the `AUTOFIX_PROVIDERS_JSON` format, so a built-in row
/// and a user's row are read and validated by the same code.
const BUILTIN_JSON: &str = include_str!("upstream/providers.json");

static BUILTIN: LazyLock<Vec<Provider>> = LazyLock::new(|| {
    parse_providers(BUILTIN_JSON).expect("the built-in provider table is valid (tested)")
});

/// Providers from a JSON array, each validated.
fn parse_providers(json: &str) -> Result<Vec<Provider>, ProviderConfigError> {
    let mut providers: Vec<Provider> = serde_json::from_str(json)?;
    for p in &mut providers {
        validate(p)?;
    }
    Ok(providers)
}

impl ProviderTable {
    /// The providers Autofix knows without configuration (`upstream/providers.json`).
    pub fn builtin() -> Self {
        Self {
            providers: BUILTIN.clone(),
        }
    }

    /// Adds providers from a JSON array; an entry whose key exists replaces that entry.
    pub fn with_extra_json(mut self, json: &str) -> Result<Self, ProviderConfigError> {
        for p in parse_providers(json)? {
            match self.providers.iter_mut().find(|q| q.key == p.key) {
                Some(existing) => *existing = p,
                None => self.providers.push(p),
            }
        }
        Ok(self)
    }

    /// Points every provider's status page at `base` + `/<key>` (tests, or a caching proxy).
    pub fn with_status_base_override(mut self, base: Url) -> Self {
        let root = base.as_str().trim_end_matches('/').to_owned();
        for p in &mut self.providers {
            p.status_page = Url::parse(&format!("{root}/{}", p.key)).ok();
        }
        self
    }

    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    pub fn get(&self, key: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.key == key)
    }
}

fn validate(p: &mut Provider) -> Result<(), ProviderConfigError> {
    let invalid = |reason: &str| ProviderConfigError::Invalid {
        key: p.key.clone(),
        reason: reason.into(),
    };
    let key_ok = (1..=40).contains(&p.key.len())
        && p.key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !key_ok {
        return Err(invalid(
            "key must be 1-40 lowercase letters, digits, '-' or '_'",
        ));
    }
    if p.name.trim().is_empty() || p.name.len() > 80 {
        return Err(invalid("name must be 1-80 characters"));
    }
    for host in &mut p.hosts {
        *host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        let ok = host.contains('.')
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return Err(invalid(
                "hosts must be plain DNS names like api.example.com",
            ));
        }
    }
    if let Some(url) = &p.status_page
        && !matches!(url.scheme(), "https" | "http")
    {
        return Err(invalid("status_page must be an http(s) URL"));
    }
    Ok(())
}

/// A package ecosystem, by the manifest that lists its dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecosystem {
    Npm,
    Pypi,
    Cargo,
    Go,
    Gem,
}

/// Manifest file names read from a repository, with their ecosystem.
pub const MANIFESTS: [(&str, Ecosystem); 6] = [
    ("package.json", Ecosystem::Npm),
    ("requirements.txt", Ecosystem::Pypi),
    ("pyproject.toml", Ecosystem::Pypi),
    ("Cargo.toml", Ecosystem::Cargo),
    ("go.mod", Ecosystem::Go),
    ("Gemfile", Ecosystem::Gem),
];

/// Dependency names declared by a manifest, by file name. Unknown files and unparsable text give
/// an empty list: a manifest we cannot read is not evidence of anything.
pub fn manifest_dependencies(file_name: &str, text: &str) -> Vec<String> {
    match file_name {
        "package.json" => package_json_deps(text),
        "requirements.txt" => requirements_deps(text),
        "pyproject.toml" => pyproject_deps(text),
        "Cargo.toml" => cargo_deps(text),
        "go.mod" => go_mod_deps(text),
        "Gemfile" => gemfile_deps(text),
        _ => Vec::new(),
    }
}

fn package_json_deps(text: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    [
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "peerDependencies",
    ]
    .iter()
    .filter_map(|k| v.get(k)?.as_object())
    .flat_map(|o| o.keys().cloned())
    .collect()
}

/// The name part of a PEP 508 requirement (`stripe[async]>=5; python_version>"3.8"`).
fn pep508_name(req: &str) -> Option<String> {
    let req = req.trim();
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(req.len());
    let name = &req[..end];
    (!name.is_empty()).then(|| name.to_owned())
}

fn requirements_deps(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('-'))
        .filter_map(pep508_name)
        .collect()
}

fn pyproject_deps(text: &str) -> Vec<String> {
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let strings = |v: Option<&toml::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str())
                    .filter_map(pep508_name)
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(project) = doc.get("project").and_then(|p| p.as_table()) {
        out.extend(strings(project.get("dependencies")));
        if let Some(optional) = project
            .get("optional-dependencies")
            .and_then(|o| o.as_table())
        {
            for group in optional.values() {
                out.extend(strings(Some(group)));
            }
        }
    }
    if let Some(groups) = doc.get("dependency-groups").and_then(|g| g.as_table()) {
        for group in groups.values() {
            out.extend(strings(Some(group)));
        }
    }
    let poetry = doc
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.as_table());
    if let Some(poetry) = poetry {
        for key in ["dependencies", "dev-dependencies"] {
            if let Some(t) = poetry.get(key).and_then(|d| d.as_table()) {
                out.extend(t.keys().cloned());
            }
        }
        if let Some(groups) = poetry.get("group").and_then(|g| g.as_table()) {
            for g in groups.values() {
                if let Some(t) = g.get("dependencies").and_then(|d| d.as_table()) {
                    out.extend(t.keys().cloned());
                }
            }
        }
    }
    out
}

fn cargo_deps(text: &str) -> Vec<String> {
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut add_table = |t: Option<&toml::Value>| {
        if let Some(t) = t.and_then(|t| t.as_table()) {
            for (name, spec) in t {
                // `alias = { package = "real-name", … }`
                let real = spec.get("package").and_then(|p| p.as_str()).unwrap_or(name);
                out.push(real.to_owned());
            }
        }
    };
    for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
        add_table(doc.get(key));
    }
    add_table(doc.get("workspace").and_then(|w| w.get("dependencies")));
    if let Some(targets) = doc.get("target").and_then(|t| t.as_table()) {
        for target in targets.values() {
            for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
                add_table(target.get(key));
            }
        }
    }
    out
}

fn go_mod_deps(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default().trim();
        if in_block {
            if line.starts_with(')') {
                in_block = false;
            } else if let Some(module) = line.split_whitespace().next() {
                out.push(module.to_owned());
            }
        } else if let Some(rest) = line.strip_prefix("require") {
            let rest = rest.trim();
            if rest.starts_with('(') {
                in_block = true;
            } else if let Some(module) = rest.split_whitespace().next() {
                out.push(module.to_owned());
            }
        }
    }
    out
}

static GEM_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\s*gem\s+["']([A-Za-z0-9_.-]+)["']"#).expect("static regex"));

fn gemfile_deps(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| GEM_LINE.captures(l).map(|c| c[1].to_owned()))
        .collect()
}

fn package_matches(eco: Ecosystem, declared: &str, known: &str) -> bool {
    match eco {
        Ecosystem::Npm | Ecosystem::Gem => declared.eq_ignore_ascii_case(known),
        Ecosystem::Pypi => pypi_normal(declared) == pypi_normal(known),
        Ecosystem::Cargo => declared
            .replace('_', "-")
            .eq_ignore_ascii_case(&known.replace('_', "-")),
        // Major versions live in the path (`github.com/stripe/stripe-go/v76`).
        Ecosystem::Go => declared == known || declared.starts_with(&format!("{known}/")),
    }
}

fn pypi_normal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_sep {
                out.push('-');
            }
            last_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            last_sep = false;
        }
    }
    out
}

impl Packages {
    fn of(&self, eco: Ecosystem) -> &[String] {
        match eco {
            Ecosystem::Npm => &self.npm,
            Ecosystem::Pypi => &self.pypi,
            Ecosystem::Cargo => &self.cargo,
            Ecosystem::Go => &self.go,
            Ecosystem::Gem => &self.gem,
        }
    }
}

/// Providers a manifest depends on: `(provider key, evidence)`.
pub fn providers_in_manifest(
    table: &ProviderTable,
    path: &str,
    text: &str,
) -> Vec<(String, String)> {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    let Some(&(_, eco)) = MANIFESTS.iter().find(|(name, _)| *name == file_name) else {
        return Vec::new();
    };
    let deps = manifest_dependencies(file_name, text);
    let mut out = Vec::new();
    for p in &table.providers {
        if let Some(dep) = deps.iter().find(|d| {
            p.packages
                .of(eco)
                .iter()
                .any(|k| package_matches(eco, d, k))
        }) {
            let dep = sanitize::clean_line(dep, 80);
            out.push((p.key.clone(), format!("manifest:{path} ({dep})")));
        }
    }
    out
}

static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}(?-u:\b)")
        .expect("static regex")
});

/// Hostnames in error and warning lines (and HTTP failure details), lowercased.
pub fn hosts_in_logs(logs: &ServiceLogs) -> BTreeSet<String> {
    const MAX_HOSTS: usize = 500;
    let mut hosts = BTreeSet::new();
    let lines = logs
        .build
        .iter()
        .chain(&logs.deploy)
        .filter(|l| normalize::level_of(l.severity.as_deref(), &l.message) <= Level::Warn)
        .map(|l| l.message.as_str())
        .chain(
            logs.http
                .iter()
                .filter_map(|r| r.response_details.as_deref()),
        );
    for line in lines {
        if line.contains("ECONNREFUSED") {
            continue;
        }
        for m in HOSTNAME.find_iter(line) {
            if hosts.len() >= MAX_HOSTS {
                return hosts;
            }
            hosts.insert(m.as_str().to_ascii_lowercase());
        }
    }
    hosts
}

/// Providers whose hosts appear in `hosts`: `(provider key, evidence)`.
pub fn providers_in_hosts(
    table: &ProviderTable,
    hosts: &BTreeSet<String>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in &table.providers {
        let hit = hosts.iter().find(|h| {
            p.hosts.iter().any(|k| {
                *h == k || (h.ends_with(k.as_str()) && h[..h.len() - k.len()].ends_with('.'))
            })
        });
        if let Some(h) = hit {
            out.push((p.key.clone(), format!("log-host:{h}")));
        }
    }
    out
}

/// Why a status page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusPageError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("HTTP {0}")]
    Status(u16),
    #[error("request failed: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("unexpected answer: {0}")]
    Decode(String),
}

#[derive(Deserialize)]
struct StatusDoc {
    status: StatusIndicator,
}

#[derive(Deserialize)]
struct StatusIndicator {
    indicator: String,
}

#[derive(Deserialize)]
struct IncidentsDoc {
    incidents: Vec<IncidentDoc>,
}

#[derive(Deserialize)]
struct IncidentDoc {
    name: String,
    #[serde(default)]
    impact: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// What a provider's status page said, before it is attached to a dependency.
#[derive(Debug, Clone, PartialEq)]
pub struct PageReading {
    pub health: UpstreamHealth,
    pub incidents: Vec<String>,
    pub note: Option<String>,
}

/// Combines the two Statuspage answers: an open incident wins; otherwise the overall indicator.
fn reading(
    name: &str,
    status: Result<StatusDoc, StatusPageError>,
    incidents: Result<IncidentsDoc, StatusPageError>,
) -> PageReading {
    const MAX_INCIDENTS: usize = 5;
    let titles: Option<Vec<String>> = incidents.as_ref().ok().map(|doc| {
        doc.incidents
            .iter()
            .take(MAX_INCIDENTS)
            .map(|i| {
                let mut t = sanitize::clean_line(&i.name, 200);
                let extra: Vec<&str> = [i.impact.as_deref(), i.status.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                if !extra.is_empty() {
                    t.push_str(&format!(
                        " ({})",
                        sanitize::clean_line(&extra.join(", "), 60)
                    ));
                }
                t
            })
            .collect()
    });
    if let Some(t) = &titles
        && !t.is_empty()
    {
        return PageReading {
            health: UpstreamHealth::Incident,
            incidents: t.clone(),
            note: None,
        };
    }
    match status {
        Ok(doc) => {
            let health = match doc.status.indicator.as_str() {
                "none" => UpstreamHealth::Operational,
                "minor" | "major" | "critical" | "maintenance" => UpstreamHealth::Degraded,
                _ => UpstreamHealth::Unknown,
            };
            PageReading {
                health,
                incidents: Vec::new(),
                note: None,
            }
        }
        Err(e) => PageReading {
            health: UpstreamHealth::Unknown,
            incidents: Vec::new(),
            note: Some(format!("status page of {name} unreadable: {e}")),
        },
    }
}

#[derive(Deserialize)]
struct StripeCurrent {
    largestatus: String,
    #[serde(default)]
    message: Option<String>,
}

fn stripe_reading(name: &str, doc: Result<StripeCurrent, StatusPageError>) -> PageReading {
    let doc = match doc {
        Ok(doc) => doc,
        Err(e) => {
            return PageReading {
                health: UpstreamHealth::Unknown,
                incidents: Vec::new(),
                note: Some(format!("status page of {name} unreadable: {e}")),
            };
        }
    };
    let health = match doc.largestatus.as_str() {
        "up" => UpstreamHealth::Operational,
        "degraded" => UpstreamHealth::Degraded,
        "down" => UpstreamHealth::Incident,
        _ => UpstreamHealth::Unknown,
    };
    // The message describes the problem only when there is one.
    let incidents = match (health, doc.message) {
        (UpstreamHealth::Degraded | UpstreamHealth::Incident, Some(m)) if !m.trim().is_empty() => {
            vec![sanitize::clean_line(&m, 200)]
        }
        _ => Vec::new(),
    };
    PageReading {
        health,
        incidents,
        note: None,
    }
}

/// Finds the providers a service depends on and reads their status pages.
#[derive(Debug, Clone)]
pub struct UpstreamChecker {
    http: reqwest::Client,
    table: ProviderTable,
    github: Option<github::GitHub>,
    timeout: Duration,
    max_providers: usize,
}

/// Default per-request timeout for status pages and manifest reads.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

impl UpstreamChecker {
    pub fn new(
        http: reqwest::Client,
        table: ProviderTable,
        github: Option<github::GitHub>,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            table,
            github,
            timeout,
            max_providers: 12,
        }
    }

    /// At most this many providers are checked per service (default 12).
    pub fn with_max_providers(mut self, n: usize) -> Self {
        self.max_providers = n.max(1);
        self
    }

    pub fn table(&self) -> &ProviderTable {
        &self.table
    }

    /// Manifests at the repository root, plus hosts in `logs`.
    pub async fn check(
        &self,
        repo: Option<&str>,
        logs: &ServiceLogs,
    ) -> (Vec<UpstreamStatus>, Vec<String>) {
        self.check_at(repo, None, logs).await
    }

    /// Like [`Self::check`], also reading manifests under the service's root directory.
    pub async fn check_service(
        &self,
        service: &Service,
        logs: &ServiceLogs,
    ) -> (Vec<UpstreamStatus>, Vec<String>) {
        self.check_at(
            service.source.repo.as_deref(),
            service.root_directory.as_deref(),
            logs,
        )
        .await
    }

    async fn check_at(
        &self,
        repo: Option<&str>,
        root_dir: Option<&str>,
        logs: &ServiceLogs,
    ) -> (Vec<UpstreamStatus>, Vec<String>) {
        let mut notes = Vec::new();
        let mut evidence: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut add = |found: Vec<(String, String)>| {
            for (key, why) in found {
                let list = evidence.entry(key).or_default();
                if !list.contains(&why) {
                    list.push(why);
                }
            }
        };

        // Log evidence is about this incident, manifests only say "could be involved": log
        // providers are checked first, and while the manifests are still being read.
        let mut from_logs: Vec<String> = providers_in_hosts(&self.table, &hosts_in_logs(logs))
            .into_iter()
            .map(|(key, why)| {
                add(vec![(key.clone(), why)]);
                key
            })
            .collect();
        let mut skipped = from_logs.split_off(from_logs.len().min(self.max_providers));
        let ((from_manifests, manifest_notes), mut readings) = futures::join!(
            self.manifest_providers(repo, root_dir),
            self.read_status_pages(&from_logs),
        );
        add(from_manifests);
        notes.extend(manifest_notes);

        let mut only_manifests: Vec<String> = evidence
            .keys()
            .filter(|k| !from_logs.contains(k) && !skipped.contains(k))
            .cloned()
            .collect();
        let room = self.max_providers.saturating_sub(from_logs.len());
        skipped.extend(only_manifests.split_off(only_manifests.len().min(room)));
        if !skipped.is_empty() {
            notes.push(format!(
                "{} more providers not checked: {}",
                skipped.len(),
                skipped.join(", ")
            ));
        }
        readings.extend(self.read_status_pages(&only_manifests).await);

        let mut statuses = Vec::new();
        for (p, r) in readings {
            notes.extend(r.note);
            statuses.push(UpstreamStatus {
                provider: p.key.clone(),
                name: p.name.clone(),
                evidence: evidence.remove(&p.key).unwrap_or_default(),
                health: r.health,
                incidents: r.incidents,
            });
        }
        statuses.sort_by_key(|s| (health_rank(s.health), s.provider.clone()));
        (statuses, notes)
    }

    async fn read_status_pages(&self, keys: &[String]) -> Vec<(&Provider, PageReading)> {
        join_all(
            keys.iter()
                .filter_map(|k| self.table.get(k))
                .map(|p| async move { (p, self.read_status_page(p).await) }),
        )
        .await
    }

    async fn manifest_providers(
        &self,
        repo: Option<&str>,
        root_dir: Option<&str>,
    ) -> (Vec<(String, String)>, Vec<String>) {
        let (Some(gh), Some(repo)) = (&self.github, repo) else {
            return (Vec::new(), Vec::new());
        };
        if !gh.has_token() {
            tracing::debug!(repo, "no GitHub token; dependency manifests not read");
            return (Vec::new(), Vec::new());
        }
        let mut paths: Vec<String> = MANIFESTS.iter().map(|(f, _)| (*f).to_owned()).collect();
        if let Some(dir) = root_dir
            .map(|d| d.trim_matches('/'))
            .filter(|d| !d.is_empty() && *d != ".")
        {
            paths.extend(MANIFESTS.iter().map(|(f, _)| format!("{dir}/{f}")));
        }
        let reads = join_all(paths.iter().map(|path| async move {
            let read = tokio::time::timeout(self.timeout, gh.file(repo, path)).await;
            (path, read)
        }))
        .await;
        let mut found = Vec::new();
        let mut problems = BTreeSet::new();
        for (path, read) in reads {
            match read {
                Ok(Ok(Some(text))) => found.extend(providers_in_manifest(&self.table, path, &text)),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    problems.insert(e.to_string());
                }
                Err(_) => {
                    problems.insert(format!("timed out after {:?}", self.timeout));
                }
            }
        }
        let notes = problems
            .into_iter()
            .map(|p| format!("dependency manifests of {repo} partly unread: {p}"))
            .collect();
        (found, notes)
    }

    async fn read_status_page(&self, p: &Provider) -> PageReading {
        let Some(base) = &p.status_page else {
            return PageReading {
                health: UpstreamHealth::Unknown,
                incidents: Vec::new(),
                note: Some(format!(
                    "{} has no machine-readable status page in the provider table",
                    p.name
                )),
            };
        };
        match p.status_api {
            StatusApi::Statuspage => {
                let (status, incidents) = futures::join!(
                    self.get_json::<StatusDoc>(base, "api/v2/status.json"),
                    self.get_json::<IncidentsDoc>(base, "api/v2/incidents/unresolved.json"),
                );
                reading(&p.name, status, incidents)
            }
            StatusApi::StripeCurrent => stripe_reading(
                &p.name,
                self.get_json::<StripeCurrent>(base, "current").await,
            ),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        base: &Url,
        path: &str,
    ) -> Result<T, StatusPageError> {
        let url = join_under(base, path);
        let request = async {
            let resp = self
                .http
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| StatusPageError::Transport(e.without_url()))?;
            if !resp.status().is_success() {
                return Err(StatusPageError::Status(resp.status().as_u16()));
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| StatusPageError::Transport(e.without_url()))?;
            serde_json::from_slice(&body).map_err(|e| StatusPageError::Decode(e.to_string()))
        };
        // One deadline for connect, headers and body: a page that trickles bytes is as useless
        // as one that never answers.
        tokio::time::timeout(self.timeout, request)
            .await
            .unwrap_or(Err(StatusPageError::Timeout(self.timeout)))
    }
}

fn join_under(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(path.split('/'));
    }
    url
}

fn health_rank(h: UpstreamHealth) -> u8 {
    match h {
        UpstreamHealth::Incident => 0,
        UpstreamHealth::Degraded => 1,
        UpstreamHealth::Unknown => 2,
        UpstreamHealth::Operational => 3,
    }
}

#[cfg(test)]
mod tests;
