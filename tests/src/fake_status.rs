//! A fake of status pages for many providers at once: provider `key` is served under
//! `/<key>/api/v2/status.json` and `/<key>/api/v2/incidents/unresolved.json` (Statuspage) and
//! `/<key>/current` (Stripe's format), which is where
//! `ProviderTable::with_status_base_override` points every provider.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::served::Served;

/// How one provider's page behaves.
#[derive(Debug, Clone, PartialEq)]
pub enum PageBehavior {
    /// Indicator `none`, no incidents.
    Operational,
    /// Indicator `major`, these unresolved incidents (titles).
    Incident(Vec<String>),
    /// This indicator (`minor`, `maintenance`, …), no incidents.
    Indicator(String),
    /// Sleeps this long before answering operational (longer than the client's timeout).
    Slow(Duration),
    /// HTTP 500 on both endpoints.
    ServerError,
}

#[derive(Clone, Default)]
struct Shared {
    pages: Arc<Mutex<BTreeMap<String, PageBehavior>>>,
    hits: Arc<Mutex<BTreeMap<String, u64>>>,
}

/// A running fake; stops when dropped.
pub struct FakeStatus {
    server: Served,
    shared: Shared,
}

impl FakeStatus {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let app = Router::new()
            .route("/{key}/api/v2/status.json", get(status))
            .route("/{key}/api/v2/incidents/unresolved.json", get(incidents))
            .route("/{key}/current", get(stripe_current))
            .with_state(shared.clone());
        Self {
            server: Served::start("fake status", app).await,
            shared,
        }
    }

    /// Base for `ProviderTable::with_status_base_override`.
    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&self.server.url("")).expect("fake url")
    }

    /// Providers without a behaviour answer 404.
    pub fn set(&self, key: &str, behavior: PageBehavior) {
        self.shared
            .pages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.into(), behavior);
    }

    /// Requests received for `key` (both endpoints).
    pub fn hits(&self, key: &str) -> u64 {
        self.shared
            .hits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

async fn behavior(shared: &Shared, key: &str) -> Option<PageBehavior> {
    *shared
        .hits
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_owned())
        .or_default() += 1;
    let b = shared
        .pages
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .cloned();
    if let Some(PageBehavior::Slow(d)) = &b {
        tokio::time::sleep(*d).await;
    }
    b
}

async fn status(State(shared): State<Shared>, Path(key): Path<String>) -> Response {
    let indicator = match behavior(&shared, &key).await {
        None => return StatusCode::NOT_FOUND.into_response(),
        Some(PageBehavior::ServerError) => {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Some(PageBehavior::Operational | PageBehavior::Slow(_)) => "none".to_owned(),
        Some(PageBehavior::Incident(_)) => "major".to_owned(),
        Some(PageBehavior::Indicator(i)) => i,
    };
    axum::Json(json!({
        "page": {"id": key, "name": key, "url": format!("https://status.example/{key}")},
        "status": {"indicator": indicator, "description": "fake"},
    }))
    .into_response()
}

async fn incidents(State(shared): State<Shared>, Path(key): Path<String>) -> Response {
    let titles = match behavior(&shared, &key).await {
        None => return StatusCode::NOT_FOUND.into_response(),
        Some(PageBehavior::ServerError) => {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Some(PageBehavior::Incident(titles)) => titles,
        Some(_) => Vec::new(),
    };
    let incidents: Vec<_> = titles
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({
                "id": format!("inc{i}"),
                "name": t,
                "status": "investigating",
                "impact": "major",
                "created_at": "2026-11-23T08:50:00Z",
                "shortlink": "https://stspg.io/x",
            })
        })
        .collect();
    axum::Json(json!({"page": {"id": key}, "incidents": incidents})).into_response()
}

/// Stripe's `/current`: `largestatus` is `up`, `degraded` or `down`, with a message.
async fn stripe_current(State(shared): State<Shared>, Path(key): Path<String>) -> Response {
    let (largestatus, message) = match behavior(&shared, &key).await {
        None => return StatusCode::NOT_FOUND.into_response(),
        Some(PageBehavior::ServerError) => {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Some(PageBehavior::Operational | PageBehavior::Slow(_)) => {
            ("up".to_owned(), "Everything operating normally".to_owned())
        }
        Some(PageBehavior::Incident(titles)) => ("down".to_owned(), titles.join("; ")),
        Some(PageBehavior::Indicator(i)) => (i, String::new()),
    };
    axum::Json(json!({
        "largestatus": largestatus,
        "message": message,
        "statuses": {"api": largestatus, "dashboard": "up"},
        "time": "2026-11-23T09:00:00Z",
    }))
    .into_response()
}
