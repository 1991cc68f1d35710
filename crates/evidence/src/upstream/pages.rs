//! What a provider's status documents mean: the formats of [`super::StatusApi`] as plain types,
//! and the pure functions that turn one provider's answers into a [`PageReading`]. The reads
//! themselves are the `upstream-status` crate's.

use std::fmt::Display;

use serde::Deserialize;
use url::Url;

use super::Provider;
use crate::UpstreamHealth;
use crate::sanitize;

/// Statuspage: the overall indicator, under the page's base URL.
pub const STATUSPAGE_STATUS_PATH: &str = "api/v2/status.json";
/// Statuspage: the incidents not yet resolved.
pub const STATUSPAGE_INCIDENTS_PATH: &str = "api/v2/incidents/unresolved.json";
/// Stripe's own page.
pub const STRIPE_CURRENT_PATH: &str = "current";

/// At most this many incident titles are kept per provider.
const MAX_INCIDENTS: usize = 5;

/// `/api/v2/status.json` of a Statuspage.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatuspageStatus {
    /// The overall indicator.
    pub status: StatuspageIndicator,
}

/// The overall indicator: `none`, `minor`, `major`, `critical` or `maintenance`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatuspageIndicator {
    /// `none` (all operational), `minor`, `major`, `critical` or `maintenance`.
    pub indicator: String,
}

/// `/api/v2/incidents/unresolved.json` of a Statuspage.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatuspageIncidents {
    /// The open incidents, in the order the page lists them.
    pub incidents: Vec<StatuspageIncident>,
}

/// One open incident.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatuspageIncident {
    /// The incident's title.
    pub name: String,
    /// `none`, `minor`, `major` or `critical`.
    #[serde(default)]
    pub impact: Option<String>,
    /// `investigating`, `identified`, `monitoring`, ….
    #[serde(default)]
    pub status: Option<String>,
}

/// Stripe's `/current`: `{"largestatus": "up" | "degraded" | "down", "message": …}` (what the
/// Stripe CLI's `status` command reads).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StripeCurrent {
    /// `up`, `degraded` or `down`.
    pub largestatus: String,
    /// What is wrong, when something is.
    #[serde(default)]
    pub message: Option<String>,
}

/// What a provider's status page said, before it is attached to a dependency.
#[derive(Debug, Clone, PartialEq)]
pub struct PageReading {
    /// The provider's health as the page states it.
    pub health: UpstreamHealth,
    /// Titles of open incidents, at most 5, each with its impact and status.
    pub incidents: Vec<String>,
    /// Why the reading is incomplete or unknown, when it is.
    pub note: Option<String>,
}

impl PageReading {
    /// A page that could not be read: health unknown, and a note saying why.
    pub fn unreadable(name: &str, why: impl Display) -> Self {
        Self {
            health: UpstreamHealth::Unknown,
            incidents: Vec::new(),
            note: Some(format!("status page of {name} unreadable: {why}")),
        }
    }

    /// A provider whose table row has no status page.
    pub fn no_status_page(provider: &Provider) -> Self {
        Self {
            health: UpstreamHealth::Unknown,
            incidents: Vec::new(),
            note: Some(format!(
                "{} has no machine-readable status page in the provider table",
                provider.name
            )),
        }
    }
}

/// `path` under the status page's base URL, keeping the base's own path
/// (`http://proxy/stripe` + `current` → `http://proxy/stripe/current`).
pub fn document_url(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(path.split('/'));
    }
    url
}

/// Combines the two Statuspage answers: an open incident wins; otherwise the overall indicator.
/// `E` is whatever the reader's failure is; it only ends up in the note.
pub fn statuspage_reading<E: Display>(
    name: &str,
    status: Result<StatuspageStatus, E>,
    incidents: Result<StatuspageIncidents, E>,
) -> PageReading {
    let titles: Vec<String> = incidents
        .map(|doc| {
            doc.incidents
                .iter()
                .take(MAX_INCIDENTS)
                .map(incident_title)
                .collect()
        })
        .unwrap_or_default();
    if !titles.is_empty() {
        return PageReading {
            health: UpstreamHealth::Incident,
            incidents: titles,
            note: None,
        };
    }
    match status {
        Ok(doc) => PageReading {
            health: indicator_health(&doc.status.indicator),
            incidents: Vec::new(),
            note: None,
        },
        Err(e) => PageReading::unreadable(name, e),
    }
}

fn incident_title(i: &StatuspageIncident) -> String {
    let mut title = sanitize::clean_line(&i.name, 200);
    let extra: Vec<&str> = [i.impact.as_deref(), i.status.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !extra.is_empty() {
        title.push_str(&format!(
            " ({})",
            sanitize::clean_line(&extra.join(", "), 60)
        ));
    }
    title
}

fn indicator_health(indicator: &str) -> UpstreamHealth {
    match indicator {
        "none" => UpstreamHealth::Operational,
        "minor" | "major" | "critical" | "maintenance" => UpstreamHealth::Degraded,
        _ => UpstreamHealth::Unknown,
    }
}

/// Reads Stripe's `/current` answer.
pub fn stripe_reading<E: Display>(name: &str, doc: Result<StripeCurrent, E>) -> PageReading {
    let doc = match doc {
        Ok(doc) => doc,
        Err(e) => return PageReading::unreadable(name, e),
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
