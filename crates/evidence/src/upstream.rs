//! Upstream awareness: which third-party providers a service depends on, and what their status
//! pages say. This module is the pure part, over plain types; the reads (GitHub manifests, status
//! pages) are done by the `upstream-status` crate, which calls these functions.
//!
//! A failing payment provider shows up as 5xx and timeouts in *our* service; the right reaction
//! is to wait it out, not to open a pull request. So before an analysis, Autofix:
//!
//! 1. infers providers from the repository's dependency manifests (`package.json`,
//!    `requirements.txt`, `pyproject.toml`, `Cargo.toml`, `go.mod`, `Gemfile`, at the repository
//!    root and under the service's root directory: [`MANIFESTS`], [`providers_in_manifest`]);
//! 2. infers providers from hostnames in error and warning log lines and in HTTP failure details
//!    (`api.stripe.com` → Stripe: [`hosts_in_logs`], [`providers_in_hosts`]). Lines with
//!    `ECONNREFUSED` are not used: a refused connection is almost always a private target
//!    (database, sidecar) that is down, not a SaaS API;
//! 3. chooses which providers to check, log evidence first, at most a fixed number per service
//!    ([`Selection`]);
//! 4. interprets each provider's status documents: Statuspage's `/api/v2/status.json` and
//!    `/api/v2/incidents/unresolved.json`, or Stripe's `/current` (see [`StatusApi`] and
//!    [`pages`]). A page that could not be read gives [`UpstreamHealth::Unknown`] and a note; it
//!    never fails the run.
//!
//! ## Provider table
//!
//! [`ProviderTable::builtin`] knows Stripe, PayPal, Shopify, OpenAI, Anthropic, Twilio, SendGrid,
//! Mailgun, Discord, GitHub, Cloudflare, Supabase, Vercel and Sentry: the data file
//! `upstream/providers.json`, in the same format as the extension below. Extend or override it
//! with a JSON array (`AUTOFIX_PROVIDERS_JSON`, or a file the binary reads); an entry with a
//! built-in key replaces the built-in one:
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

use std::collections::BTreeSet;
use std::sync::LazyLock;

use railway::model::ServiceLogs;
use regex::Regex;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::normalize::{self, Level};

mod manifests;
pub mod pages;
mod selection;

pub use manifests::{
    Ecosystem, MANIFESTS, manifest_dependencies, manifest_paths, providers_in_manifest,
};
pub use pages::PageReading;
pub use selection::Selection;

/// Package names of one provider's SDKs, per ecosystem.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Packages {
    /// npm package names.
    pub npm: Vec<String>,
    /// PyPI package names.
    pub pypi: Vec<String>,
    /// Cargo crate names.
    pub cargo: Vec<String>,
    /// Go module paths.
    pub go: Vec<String>,
    /// RubyGems names.
    pub gem: Vec<String>,
}

/// One third-party provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Stable id: lowercase letters, digits, `-`, `_`.
    pub key: String,
    /// Display name, e.g. `Stripe`.
    pub name: String,
    /// Its SDK packages: a manifest naming one means the service depends on the provider.
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

/// Why `AUTOFIX_PROVIDERS_JSON` (or the built-in table) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProviderConfigError {
    /// Not a JSON array of provider objects (or an unknown field).
    #[error("provider table JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    /// One provider breaks a rule (bad key, non-https status page, …).
    #[error("provider {key:?}: {reason}")]
    Invalid {
        /// The provider's key.
        key: String,
        /// The rule it breaks.
        reason: String,
    },
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

    /// Every provider, built-in first, in table order.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The provider with this key.
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

#[cfg(test)]
mod tests;
