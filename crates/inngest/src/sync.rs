//! Registration ("sync"): telling Inngest which functions live at which URL.

use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::client::{SDK_IDENT, SDK_VERSION, error_message};
use crate::config::{Mode, SigningKey};
use crate::{Client, ServableFunction};

/// Failures of a sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A function definition breaks a server limit.
    #[error("invalid function definition: {0}")]
    InvalidFunction(String),
    /// The public serve URL could not be determined.
    #[error("cannot determine the public serve URL: {0}")]
    ServeUrl(String),
    /// Network failure.
    #[error("registering functions failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// Inngest refused the registration.
    #[error("Inngest refused the registration ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The `error` field of the answer.
        message: String,
    },
}

/// Result of a successful registration.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisterOutcome {
    /// Whether the server saw a changed configuration.
    pub modified: bool,
    /// The server's answer body (`{"ok","modified","app_id","sync_id"}` from a Dev Server).
    pub response: Value,
}

/// Capabilities advertised on register and in introspection (only what is implemented).
pub(crate) fn capabilities(client: &Client) -> Value {
    let mut caps = json!({ "trust_probe": "v1" });
    if client.config().allow_in_band_sync {
        caps["in_band_sync"] = json!("v1");
    }
    caps
}

/// The register body, shaped like the official SDKs' (`deployType: "ping"`, `v: "0.1"`).
pub fn register_body(client: &Client, functions: &[ServableFunction], serve_url: &Url) -> Value {
    let app_id = &client.config().app_id;
    json!({
        "url": strip_sync_query(serve_url).as_str(),
        "deployType": "ping",
        "appName": app_id,
        "sdk": SDK_IDENT,
        "v": "0.1",
        "framework": "axum",
        "capabilities": capabilities(client),
        "functions": functions.iter().map(|f| f.config_json(app_id, serve_url)).collect::<Vec<_>>(),
    })
}

/// Out-of-band sync initiated by the app itself (e.g. at startup): POSTs the function configs
/// to `{api}/fn/register`, with the hashed signing key in cloud mode.
pub async fn register(
    client: &Client,
    functions: &[ServableFunction],
    serve_url: &Url,
) -> Result<RegisterOutcome, SyncError> {
    register_with(client, functions, serve_url, None, None).await
}

pub(crate) async fn register_with(
    client: &Client,
    functions: &[ServableFunction],
    serve_url: &Url,
    deploy_id: Option<&str>,
    expected_server_kind: Option<&str>,
) -> Result<RegisterOutcome, SyncError> {
    for f in functions {
        f.validate().map_err(SyncError::InvalidFunction)?;
    }
    let body = register_body(client, functions, serve_url);
    let config = client.config();
    let mut url = config.api_base_url.clone();
    url.set_path("/fn/register");
    if let Some(d) = deploy_id {
        url.query_pairs_mut().append_pair("deployId", d);
    }
    let bearers: Vec<Option<String>> = match (config.mode, &config.signing_key) {
        (_, Some(_)) => config.keys().map(|k| Some(k.hashed())).collect(),
        (Mode::Dev, None) | (Mode::Cloud, None) => vec![None],
    };
    let mut last_err = None;
    for bearer in bearers {
        let mut req = client
            .base_request(client.http().post(url.clone()))
            .header("x-inngest-sync-kind", "out_of_band")
            .json(&body);
        if let Some(kind) = expected_server_kind {
            req = req.header("X-Inngest-Expected-Server-Kind", kind);
        }
        if let Some(b) = &bearer {
            req = req.bearer_auth(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| SyncError::Transport(e.without_url()))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            let response: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let modified = response
                .get("modified")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            tracing::info!(functions = functions.len(), modified, "synced with Inngest");
            return Ok(RegisterOutcome { modified, response });
        }
        last_err = Some(SyncError::Rejected {
            status: status.as_u16(),
            message: error_message(&text),
        });
        if !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            break;
        }
    }
    Err(last_err.expect("at least one attempt"))
}

/// The public URL of the serve endpoint as seen by whoever sent `headers`: scheme from
/// `X-Forwarded-Proto`, host from `X-Forwarded-Host` or `Host`, the request path; then
/// `serve_origin` replaces scheme and host. `deployId`/`probe` never end up in it.
pub(crate) fn public_serve_url(
    serve_origin: Option<&str>,
    headers: &HeaderMap,
    path: &str,
) -> Result<Url, SyncError> {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let origin = match serve_origin {
        Some(o) => o.to_owned(),
        None => {
            let scheme = match first("x-forwarded-proto") {
                Some(p) if p.eq_ignore_ascii_case("https") => "https",
                _ => "http",
            };
            let host = first("x-forwarded-host")
                .or_else(|| first("host"))
                .ok_or_else(|| SyncError::ServeUrl("the request has no Host header".into()))?;
            format!("{scheme}://{host}")
        }
    };
    let mut url =
        Url::parse(&origin).map_err(|e| SyncError::ServeUrl(format!("{origin:?}: {e}")))?;
    url.set_path(path);
    Ok(url)
}

fn strip_sync_query(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u
}

/// Introspection body. `authenticated` adds the fields only a verified caller may see.
pub(crate) fn introspection(client: &Client, function_count: usize, authenticated: bool) -> Value {
    let config = client.config();
    let mut v = json!({
        "schema_version": "2024-05-24",
        "mode": config.mode.as_str(),
        "function_count": function_count,
        "has_event_key": config.event_key.is_some(),
        "has_signing_key": config.signing_key.is_some(),
        "has_signing_key_fallback": config.signing_key_fallback.is_some(),
        "authentication_succeeded": Value::Null,
        "extra": {},
    });
    if authenticated {
        use sha2::Digest as _;
        let extra = json!({
            "authentication_succeeded": true,
            "api_origin": config.api_base_url.as_str().trim_end_matches('/'),
            "event_api_origin": config.event_api_base_url.as_str().trim_end_matches('/'),
            "app_id": config.app_id,
            "env": config.env,
            "framework": "axum",
            "sdk_language": "rust",
            "sdk_version": SDK_VERSION,
            "serve_origin": config.serve_origin,
            "serve_path": config.serve_path,
            "capabilities": capabilities(client),
            "event_key_hash": config.event_key.as_ref()
                .map(|k| hex::encode(sha2::Sha256::digest(k.as_bytes()))),
            // The hashed key is the Bearer token for the Inngest API: like the JS SDK, show
            // only enough of it to tell keys apart.
            "signing_key_hash": config.signing_key.as_ref().map(key_hint),
            "signing_key_fallback_hash": config.signing_key_fallback.as_ref().map(key_hint),
        });
        if let (Value::Object(base), Value::Object(more)) = (&mut v, extra) {
            base.extend(more);
        }
    }
    v
}

/// First 12 hex characters of the hashed key without its prefix, as the official JS SDK reports.
fn key_hint(key: &SigningKey) -> String {
    let hashed = key.hashed();
    let body = hashed
        .strip_prefix("signkey-")
        .and_then(|rest| rest.split_once('-').map(|(_, b)| b))
        .unwrap_or(&hashed);
    body.chars().take(12).collect()
}

/// Body of an in-band sync answer (no `/fn/register` call happens).
pub(crate) fn in_band_body(client: &Client, functions: &[ServableFunction], url: &Url) -> Value {
    let config = client.config();
    json!({
        "app_id": config.app_id,
        "appVersion": Value::Null,
        "env": config.env,
        "framework": "axum",
        "sdk": SDK_IDENT,
        "sdk_author": "inngest",
        "sdk_language": "rust",
        "sdk_version": SDK_VERSION,
        "url": strip_sync_query(url).as_str(),
        "capabilities": capabilities(client),
        "functions": functions.iter().map(|f| f.config_json(&config.app_id, url)).collect::<Vec<_>>(),
        "inspection": introspection(client, functions.len(), true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn serve_url_from_headers() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("app:3000"));
        let u = public_serve_url(None, &h, "/api/inngest").unwrap();
        assert_eq!(u.as_str(), "http://app:3000/api/inngest");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https, http"));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("autofix.example.com"),
        );
        let u = public_serve_url(None, &h, "/api/inngest").unwrap();
        assert_eq!(u.as_str(), "https://autofix.example.com/api/inngest");
        let u = public_serve_url(Some("https://pub.example.com:8443"), &h, "/api/inngest").unwrap();
        assert_eq!(u.as_str(), "https://pub.example.com:8443/api/inngest");
        assert!(public_serve_url(None, &HeaderMap::new(), "/x").is_err());
    }
}
