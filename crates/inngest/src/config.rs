//! SDK configuration: mode, keys and origins, read from `INNGEST_*` variables.

use std::fmt;

use sha2::{Digest as _, Sha256};
use url::Url;

/// Where the SDK talks to: a local Dev Server or Inngest Cloud (or a self-hosted server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No signature checks; talks to a Dev Server (default `http://localhost:8288`).
    Dev,
    /// Every request must be signed; a signing key is mandatory.
    Cloud,
}

impl Mode {
    /// The lowercase name used in introspection bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Dev => "dev",
            Mode::Cloud => "cloud",
        }
    }
}

/// Configuration problems, each naming the variable or item at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Cloud mode needs `INNGEST_SIGNING_KEY`.
    #[error("{var} must be set in cloud mode (set INNGEST_DEV=1 to talk to a local Dev Server)")]
    MissingSigningKey {
        /// The variable to set.
        var: &'static str,
    },
    /// A variable holds something the SDK cannot use.
    #[error("{var} is invalid: {reason}")]
    InvalidVar {
        /// The offending variable.
        var: &'static str,
        /// Why it was refused (never contains the value of a secret).
        reason: String,
    },
    /// A cron trigger expression was refused.
    #[error("invalid cron expression {expr:?}: {reason}")]
    InvalidCron {
        /// The expression as given.
        expr: String,
        /// Why it was refused.
        reason: String,
    },
}

/// An Inngest signing key (`signkey-<env>-<hex>`). Its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    raw: String,
    /// Byte offset where the part after `signkey-<env>-` starts.
    body_start: usize,
}

impl SigningKey {
    /// Parses a key; the part after the optional `signkey-<env>-` prefix must be non-empty,
    /// even-length hex (the Bearer token is computed from its hex-decoded bytes).
    pub fn new(raw: impl Into<String>) -> Result<SigningKey, String> {
        let raw = raw.into().trim().to_owned();
        let body_start = prefix_len(&raw);
        let body = &raw[body_start..];
        if body.is_empty() {
            return Err("the key is empty after its signkey-<env>- prefix".into());
        }
        if hex::decode(body).is_err() {
            return Err("the key is not hex after its signkey-<env>- prefix".into());
        }
        Ok(SigningKey { raw, body_start })
    }

    /// The key as configured. It is a secret: only for registering it with a redactor.
    pub fn expose_secret(&self) -> &str {
        &self.raw
    }

    /// Bytes used as the HMAC key: the key minus its `signkey-<env>-` prefix, as ASCII text.
    pub(crate) fn hmac_key(&self) -> &[u8] {
        &self.raw.as_bytes()[self.body_start..]
    }

    /// The value sent after `Bearer `: prefix kept, then `hex(sha256(hex_decode(rest)))`.
    pub fn hashed(&self) -> String {
        let body = &self.raw[self.body_start..];
        // Validated in `new`.
        let decoded = hex::decode(body).unwrap_or_default();
        let digest = Sha256::digest(&decoded);
        format!("{}{}", &self.raw[..self.body_start], hex::encode(digest))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}<redacted>)", &self.raw[..self.body_start])
    }
}

/// Length of a leading `signkey-<word>-` (the official SDKs strip `^signkey-\w+-`).
fn prefix_len(raw: &str) -> usize {
    let Some(rest) = raw.strip_prefix("signkey-") else {
        return 0;
    };
    let word = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if word > 0 && rest.as_bytes().get(word) == Some(&b'-') {
        "signkey-".len() + word + 1
    } else {
        0
    }
}

/// Everything the SDK needs to serve functions, sync and send events.
#[derive(Clone)]
pub struct Config {
    /// The app id; function ids on the wire are `<app_id>-<function id>`.
    pub app_id: String,
    /// Dev or cloud.
    pub mode: Mode,
    /// Verifies incoming requests and authenticates outgoing API calls.
    pub signing_key: Option<SigningKey>,
    /// Second key, tried when the first fails (key rotation).
    pub signing_key_fallback: Option<SigningKey>,
    /// Key for the Event API path `/e/{key}`.
    pub event_key: Option<String>,
    /// Branch environment name, sent as `X-Inngest-Env`.
    pub env: Option<String>,
    /// Origin of the REST API (`/fn/register`, `/v0/runs/...`).
    pub api_base_url: Url,
    /// Origin of the Event API (`/e/{key}`).
    pub event_api_base_url: Url,
    /// Replaces scheme and host of the URL registered on sync (e.g. `https://app.example.com`).
    pub serve_origin: Option<String>,
    /// Path the router is mounted on and that is registered on sync.
    pub serve_path: String,
    /// Allows an unsigned `PUT` to trigger an out-of-band sync in cloud mode.
    /// Off by default: the registered URL is derived from request headers, so an unsigned
    /// PUT could otherwise point Inngest at a host of the caller's choosing.
    pub allow_unsigned_sync: bool,
    /// Answer signed `PUT`s carrying `x-inngest-sync-kind: in_band` inline.
    pub allow_in_band_sync: bool,
}

/// Default serve path, as used by the official SDKs.
pub const DEFAULT_SERVE_PATH: &str = "/api/inngest";
const DEFAULT_DEV_URL: &str = "http://localhost:8288";
const DEFAULT_API_URL: &str = "https://api.inngest.com";
const DEFAULT_EVENT_API_URL: &str = "https://inn.gs";

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("app_id", &self.app_id)
            .field("mode", &self.mode)
            .field("signing_key", &self.signing_key)
            .field("signing_key_fallback", &self.signing_key_fallback)
            .field("event_key", &self.event_key.as_ref().map(|_| "<redacted>"))
            .field("env", &self.env)
            .field("api_base_url", &self.api_base_url.as_str())
            .field("event_api_base_url", &self.event_api_base_url.as_str())
            .field("serve_origin", &self.serve_origin)
            .field("serve_path", &self.serve_path)
            .field("allow_unsigned_sync", &self.allow_unsigned_sync)
            .field("allow_in_band_sync", &self.allow_in_band_sync)
            .finish()
    }
}

/// `INNGEST_DEV` as the JS SDK reads it: a boolean first, then a Dev Server URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DevFlag {
    /// Cloud mode (the variable is unset or false).
    #[default]
    Off,
    /// Dev mode against the default Dev Server.
    On,
    /// Dev mode against this Dev Server.
    Url(Url),
}

impl DevFlag {
    /// Parses one `INNGEST_DEV` value: a boolean in the [`parse_flag`] grammar, else an http(s) URL.
    pub fn parse(value: &str) -> Result<DevFlag, String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(DevFlag::Off);
        }
        if let Ok(on) = parse_flag(value) {
            return Ok(if on { DevFlag::On } else { DevFlag::Off });
        }
        parse_http_url(value)
            .map(DevFlag::Url)
            .map_err(|_| format!("expected {FLAG_GRAMMAR} or a Dev Server URL"))
    }
}

/// The one boolean grammar every flag and variable accepts.
pub const FLAG_GRAMMAR: &str = "1/0, true/false, yes/no or on/off";

/// Parses a boolean written as `1/0`, `true/false`, `yes/no` or `on/off` (any case).
pub fn parse_flag(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("`{other}` is not a boolean; use {FLAG_GRAMMAR}")),
    }
}

/// Parses an absolute `http://` or `https://` URL.
pub fn parse_http_url(value: &str) -> Result<Url, String> {
    let value = value.trim();
    let url = Url::parse(value).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            format!("`{value}` has no scheme; write it as http://{value} or https://{value}")
        }
        e => format!("`{value}` is not a URL: {e}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "`{value}` is not an http(s) URL; write it as http://host:port or https://host"
        ));
    }
    Ok(url)
}

fn invalid(var: &'static str) -> impl FnOnce(String) -> ConfigError {
    move |reason| ConfigError::InvalidVar { var, reason }
}

fn default_url(s: &str) -> Url {
    Url::parse(s).expect("built-in URL constant parses")
}

/// The `INNGEST_*` settings, typed. `None` means unset. The binary fills this from its
/// command line; [`Config::from_lookup`] from variables; [`Config::from_settings`] applies the
/// SDK's precedence rules to either.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// `INNGEST_DEV`.
    pub dev: DevFlag,
    /// `INNGEST_BASE_URL`: both origins at once.
    pub base_url: Option<Url>,
    /// `INNGEST_API_BASE_URL`.
    pub api_base_url: Option<Url>,
    /// `INNGEST_EVENT_API_BASE_URL`.
    pub event_api_base_url: Option<Url>,
    /// `INNGEST_SIGNING_KEY`.
    pub signing_key: Option<SigningKey>,
    /// `INNGEST_SIGNING_KEY_FALLBACK`.
    pub signing_key_fallback: Option<SigningKey>,
    /// `INNGEST_EVENT_KEY`.
    pub event_key: Option<String>,
    /// `INNGEST_ENV`.
    pub env: Option<String>,
    /// `INNGEST_SERVE_ORIGIN`.
    pub serve_origin: Option<String>,
    /// `INNGEST_SERVE_HOST`, the older name of `INNGEST_SERVE_ORIGIN` (which wins).
    pub serve_host: Option<String>,
    /// `INNGEST_SERVE_PATH`.
    pub serve_path: Option<String>,
    /// `INNGEST_ENABLE_UNAUTHED_SYNC` (default false).
    pub allow_unsigned_sync: Option<bool>,
    /// `INNGEST_ALLOW_IN_BAND_SYNC` (default true).
    pub allow_in_band_sync: Option<bool>,
}

impl Settings {
    /// Reads the variables through `get`; empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let url = |var: &'static str| {
            get(var)
                .map(|v| parse_http_url(&v).map_err(invalid(var)))
                .transpose()
        };
        let key = |var: &'static str| {
            get(var)
                .map(|v| SigningKey::new(v).map_err(invalid(var)))
                .transpose()
        };
        let flag = |var: &'static str| {
            get(var)
                .map(|v| parse_flag(&v).map_err(invalid(var)))
                .transpose()
        };
        Ok(Settings {
            dev: get("INNGEST_DEV")
                .map(|v| DevFlag::parse(&v).map_err(invalid("INNGEST_DEV")))
                .transpose()?
                .unwrap_or_default(),
            base_url: url("INNGEST_BASE_URL")?,
            api_base_url: url("INNGEST_API_BASE_URL")?,
            event_api_base_url: url("INNGEST_EVENT_API_BASE_URL")?,
            signing_key: key("INNGEST_SIGNING_KEY")?,
            signing_key_fallback: key("INNGEST_SIGNING_KEY_FALLBACK")?,
            event_key: get("INNGEST_EVENT_KEY"),
            env: get("INNGEST_ENV"),
            serve_origin: get("INNGEST_SERVE_ORIGIN"),
            serve_host: get("INNGEST_SERVE_HOST"),
            serve_path: get("INNGEST_SERVE_PATH"),
            allow_unsigned_sync: flag("INNGEST_ENABLE_UNAUTHED_SYNC")?,
            allow_in_band_sync: flag("INNGEST_ALLOW_IN_BAND_SYNC")?,
        })
    }
}

impl Config {
    /// Reads `INNGEST_DEV`, `INNGEST_BASE_URL`, `INNGEST_API_BASE_URL`,
    /// `INNGEST_EVENT_API_BASE_URL`, `INNGEST_SIGNING_KEY(_FALLBACK)`, `INNGEST_EVENT_KEY`,
    /// `INNGEST_ENV`, `INNGEST_SERVE_ORIGIN` (or the older `INNGEST_SERVE_HOST`),
    /// `INNGEST_SERVE_PATH`, `INNGEST_ENABLE_UNAUTHED_SYNC` and `INNGEST_ALLOW_IN_BAND_SYNC`
    /// from the process environment.
    pub fn from_env(app_id: &str) -> Result<Config, ConfigError> {
        Config::from_lookup(app_id, |k| std::env::var(k).ok())
    }

    /// Same as [`Config::from_env`], reading variables through `get`.
    pub fn from_lookup(
        app_id: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::from_settings(app_id, Settings::from_lookup(get)?)
    }

    /// Applies the SDK rules to typed settings.
    ///
    /// Origin precedence follows the JS SDK: `INNGEST_API_BASE_URL` /
    /// `INNGEST_EVENT_API_BASE_URL` > `INNGEST_BASE_URL` > URL form of `INNGEST_DEV` > mode
    /// default. Cloud mode without `INNGEST_SIGNING_KEY` is an error.
    pub fn from_settings(app_id: &str, settings: Settings) -> Result<Config, ConfigError> {
        if app_id.trim().is_empty() {
            return Err(ConfigError::InvalidVar {
                var: "app_id",
                reason: "must not be empty".into(),
            });
        }
        let Settings {
            dev,
            base_url,
            api_base_url,
            event_api_base_url,
            signing_key,
            signing_key_fallback,
            event_key,
            env,
            serve_origin,
            serve_host,
            serve_path,
            allow_unsigned_sync,
            allow_in_band_sync,
        } = settings;
        let mode = match dev {
            DevFlag::Off => Mode::Cloud,
            DevFlag::On | DevFlag::Url(_) => Mode::Dev,
        };
        let mode_default = |cloud: &str| match (&dev, mode) {
            (DevFlag::Url(u), _) => u.clone(),
            (_, Mode::Dev) => default_url(DEFAULT_DEV_URL),
            (_, Mode::Cloud) => default_url(cloud),
        };
        let api_base_url = api_base_url
            .or_else(|| base_url.clone())
            .unwrap_or_else(|| mode_default(DEFAULT_API_URL));
        let event_api_base_url = event_api_base_url
            .or(base_url)
            .unwrap_or_else(|| mode_default(DEFAULT_EVENT_API_URL));
        if mode == Mode::Cloud && signing_key.is_none() {
            return Err(ConfigError::MissingSigningKey {
                var: "INNGEST_SIGNING_KEY",
            });
        }
        let non_empty =
            |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let serve_origin = match (non_empty(serve_origin), non_empty(serve_host)) {
            (Some(v), _) => Some(normalize_origin("INNGEST_SERVE_ORIGIN", &v)?),
            (None, Some(v)) => Some(normalize_origin("INNGEST_SERVE_HOST", &v)?),
            (None, None) => None,
        };
        let serve_path = match non_empty(serve_path) {
            Some(p) if p.starts_with('/') => p,
            Some(_) => {
                return Err(ConfigError::InvalidVar {
                    var: "INNGEST_SERVE_PATH",
                    reason: "must start with '/'".into(),
                });
            }
            None => DEFAULT_SERVE_PATH.to_owned(),
        };
        Ok(Config {
            app_id: app_id.trim().to_owned(),
            mode,
            signing_key,
            signing_key_fallback,
            event_key: non_empty(event_key),
            env: non_empty(env),
            api_base_url,
            event_api_base_url,
            serve_origin,
            serve_path,
            allow_unsigned_sync: allow_unsigned_sync.unwrap_or(false),
            allow_in_band_sync: allow_in_band_sync.unwrap_or(true),
        })
    }

    /// A dev-mode config pointing both origins at `base_url` (a Dev Server or a test executor).
    pub fn dev(app_id: &str, base_url: Url) -> Config {
        Config {
            app_id: app_id.to_owned(),
            mode: Mode::Dev,
            signing_key: None,
            signing_key_fallback: None,
            event_key: None,
            env: None,
            api_base_url: base_url.clone(),
            event_api_base_url: base_url,
            serve_origin: None,
            serve_path: DEFAULT_SERVE_PATH.to_owned(),
            allow_unsigned_sync: true,
            allow_in_band_sync: true,
        }
    }

    /// A cloud-mode config with explicit keys and both origins at `base_url`
    /// (a self-hosted server or a test executor that signs its requests).
    pub fn cloud(app_id: &str, base_url: Url, signing_key: SigningKey) -> Config {
        Config {
            mode: Mode::Cloud,
            signing_key: Some(signing_key),
            ..Config::dev(app_id, base_url)
        }
        .with_unsigned_sync(false)
    }

    fn with_unsigned_sync(mut self, allow: bool) -> Config {
        self.allow_unsigned_sync = allow;
        self
    }

    /// Composite function id as used on the wire.
    pub fn composite_id(&self, function_id: &str) -> String {
        format!("{}-{}", self.app_id, function_id)
    }

    /// Signing keys to try, primary first.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &SigningKey> {
        self.signing_key
            .iter()
            .chain(self.signing_key_fallback.iter())
    }
}

/// Accepts `https://host[:port]` (a bare host gets `https://`); keeps no path.
fn normalize_origin(var: &'static str, value: &str) -> Result<String, ConfigError> {
    let value = value.trim().trim_end_matches('/');
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("https://{value}")
    };
    let url = parse_http_url(&with_scheme).map_err(invalid(var))?;
    let host = url.host_str().ok_or_else(|| ConfigError::InvalidVar {
        var,
        reason: "no host".into(),
    })?;
    Ok(match url.port() {
        Some(p) => format!("{}://{}:{}", url.scheme(), host, p),
        None => format!("{}://{}", url.scheme(), host),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn cloud_without_key_names_the_variable() {
        let err = Config::from_lookup("agent", lookup(&[])).unwrap_err();
        assert!(err.to_string().contains("INNGEST_SIGNING_KEY"), "{err}");
        let err = Config::from_lookup("agent", lookup(&[("INNGEST_DEV", "0")])).unwrap_err();
        assert!(matches!(err, ConfigError::MissingSigningKey { .. }));
    }

    #[test]
    fn cloud_defaults() {
        let c = Config::from_lookup(
            "agent",
            lookup(&[("INNGEST_SIGNING_KEY", "signkey-prod-12345678")]),
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Cloud);
        assert_eq!(c.api_base_url.as_str(), "https://api.inngest.com/");
        assert_eq!(c.event_api_base_url.as_str(), "https://inn.gs/");
        assert_eq!(c.serve_path, "/api/inngest");
        assert!(!c.allow_unsigned_sync);
        assert!(c.allow_in_band_sync);
    }

    #[test]
    fn dev_flag_semantics_and_precedence() {
        let c = Config::from_lookup("a", lookup(&[("INNGEST_DEV", "1")])).unwrap();
        assert_eq!(c.mode, Mode::Dev);
        assert_eq!(c.api_base_url.as_str(), "http://localhost:8288/");

        let c =
            Config::from_lookup("a", lookup(&[("INNGEST_DEV", "http://inngest:8288")])).unwrap();
        assert_eq!(c.mode, Mode::Dev);
        assert_eq!(c.event_api_base_url.as_str(), "http://inngest:8288/");

        let c = Config::from_lookup(
            "a",
            lookup(&[
                ("INNGEST_DEV", "true"),
                ("INNGEST_BASE_URL", "http://devsrv:9999"),
                ("INNGEST_EVENT_API_BASE_URL", "http://events:1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.api_base_url.as_str(), "http://devsrv:9999/");
        assert_eq!(c.event_api_base_url.as_str(), "http://events:1/");

        let err = Config::from_lookup("a", lookup(&[("INNGEST_DEV", "maybe")])).unwrap_err();
        assert!(err.to_string().contains("INNGEST_DEV"));
    }

    #[test]
    fn serve_origin_and_path() {
        let c = Config::from_lookup(
            "a",
            lookup(&[
                ("INNGEST_DEV", "1"),
                ("INNGEST_SERVE_ORIGIN", "autofix.example.com/"),
                ("INNGEST_SERVE_PATH", "/x/inngest"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.serve_origin.as_deref(),
            Some("https://autofix.example.com")
        );
        assert_eq!(c.serve_path, "/x/inngest");
        let err = Config::from_lookup(
            "a",
            lookup(&[("INNGEST_DEV", "1"), ("INNGEST_SERVE_PATH", "x")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("INNGEST_SERVE_PATH"));
    }

    #[test]
    fn serve_host_is_the_older_name_of_serve_origin() {
        let c = Config::from_lookup(
            "a",
            lookup(&[
                ("INNGEST_DEV", "1"),
                ("INNGEST_SERVE_HOST", "autofix.example.com"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.serve_origin.as_deref(),
            Some("https://autofix.example.com")
        );
        let c = Config::from_lookup(
            "a",
            lookup(&[
                ("INNGEST_DEV", "1"),
                ("INNGEST_SERVE_HOST", "old.example.com"),
                ("INNGEST_SERVE_ORIGIN", "new.example.com"),
            ]),
        )
        .unwrap();
        assert_eq!(c.serve_origin.as_deref(), Some("https://new.example.com"));
    }

    #[test]
    fn one_boolean_grammar_and_empty_means_unset() {
        for (text, on) in [("1", true), ("yes", true), ("ON", true), ("true", true)]
            .into_iter()
            .chain([
                ("0", false),
                ("no", false),
                ("off", false),
                ("False", false),
            ])
        {
            assert_eq!(parse_flag(text), Ok(on), "{text}");
            let c = Config::from_lookup(
                "a",
                lookup(&[("INNGEST_DEV", "1"), ("INNGEST_ALLOW_IN_BAND_SYNC", text)]),
            )
            .unwrap();
            assert_eq!(c.allow_in_band_sync, on, "{text}");
            let dev = Config::from_lookup(
                "a",
                lookup(&[
                    ("INNGEST_DEV", text),
                    ("INNGEST_SIGNING_KEY", "signkey-p-ab"),
                ]),
            )
            .unwrap();
            assert_eq!(dev.mode == Mode::Dev, on, "{text}");
        }
        assert!(parse_flag("maybe").unwrap_err().contains("yes/no"));
        let c = Config::from_lookup(
            "a",
            lookup(&[
                ("INNGEST_DEV", "1"),
                ("INNGEST_BASE_URL", ""),
                ("INNGEST_SERVE_PATH", " "),
            ]),
        )
        .unwrap();
        assert_eq!(c.api_base_url.as_str(), "http://localhost:8288/");
        assert_eq!(c.serve_path, "/api/inngest");
    }

    #[test]
    fn urls_need_an_http_scheme() {
        let err = Config::from_lookup(
            "a",
            lookup(&[("INNGEST_DEV", "1"), ("INNGEST_BASE_URL", "inngest:8288")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("INNGEST_BASE_URL"), "{err}");
        let err = parse_http_url("opencode.internal").unwrap_err();
        assert!(err.contains("no scheme"), "{err}");
    }

    #[test]
    fn signing_key_hash_and_redaction() {
        let k = SigningKey::new("signkey-prod-12345678").unwrap();
        assert_eq!(k.hmac_key(), b"12345678");
        assert_eq!(
            k.hashed(),
            "signkey-prod-b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c"
        );
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("12345678"), "{dbg}");
        assert!(SigningKey::new("signkey-prod-").is_err());
        assert!(SigningKey::new("signkey-prod-xyz").is_err());
        // A bare hex key (self-hosted `inngest start --signing-key`) has no prefix.
        assert_eq!(SigningKey::new("abcd").unwrap().hmac_key(), b"abcd");
    }

    #[test]
    fn config_debug_redacts_secrets() {
        let c = Config::from_lookup(
            "a",
            lookup(&[
                ("INNGEST_SIGNING_KEY", "signkey-prod-deadbeef"),
                ("INNGEST_SIGNING_KEY_FALLBACK", "signkey-prod-cafebabe"),
                ("INNGEST_EVENT_KEY", "evkey-secret"),
            ]),
        )
        .unwrap();
        let dbg = format!("{c:?}");
        for secret in ["deadbeef", "cafebabe", "evkey-secret"] {
            assert!(!dbg.contains(secret), "{dbg}");
        }
    }
}
