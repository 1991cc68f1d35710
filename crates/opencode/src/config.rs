//! The `OPENCODE_CONFIG_CONTENT` document for an unattended server.
//!
//! Run the server with this JSON in `OPENCODE_CONFIG_CONTENT` (highest precedence) **and**
//! `OPENCODE_DISABLE_PROJECT_CONFIG=1`, so a target repository's own `opencode.json` cannot
//! swap the model or loosen permissions. Also set `OPENCODE_DISABLE_AUTOUPDATE=1`,
//! `OPENCODE_DISABLE_MODELS_FETCH=1` and `OPENCODE_DISABLE_LSP_DOWNLOAD=1`.

use serde_json::{Map, Value, json};

/// Permission rules for headless use. Anything left at `ask` would block the session until a
/// human answers over HTTP, so every tool is decided up front: the agent may read, edit and run
/// commands inside the session directory, but may not ask questions, leave the directory, loop
/// on the same call, or browse the web (fetched pages are a prompt-injection path).
/// Every key is named explicitly because config files merge key by key.
pub const HEADLESS_PERMISSIONS: &[(&str, &str)] = &[
    ("*", "allow"),
    ("bash", "allow"),
    ("doom_loop", "deny"),
    ("edit", "allow"),
    ("external_directory", "deny"),
    ("glob", "allow"),
    ("grep", "allow"),
    ("list", "allow"),
    ("lsp", "allow"),
    ("question", "deny"),
    ("read", "allow"),
    ("skill", "allow"),
    ("task", "allow"),
    ("todowrite", "allow"),
    ("webfetch", "deny"),
    ("websearch", "deny"),
];

/// [`HEADLESS_PERMISSIONS`] as the JSON object OpenCode expects under `permission`.
pub fn headless_permissions() -> Value {
    Value::Object(
        HEADLESS_PERMISSIONS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect::<Map<_, _>>(),
    )
}

/// Where the provider's API key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ApiKey {
    /// `{env:VAR}`: OpenCode substitutes it from its own environment, so the key never sits in
    /// the config document (which `GET /config` would otherwise echo, resolved, to any client).
    Env(String),
    /// The key itself, inlined (tests against a fake LLM).
    Literal(String),
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(var) => f.debug_tuple("Env").field(var).finish(),
            Self::Literal(_) => f.write_str("Literal(<redacted>)"),
        }
    }
}

impl ApiKey {
    fn config_value(&self) -> String {
        match self {
            Self::Env(var) => format!("{{env:{var}}}"),
            Self::Literal(key) => key.clone(),
        }
    }
}

/// The one LLM provider the agent may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Provider id: a built-in one (`openai`, `anthropic`, …) or our own name for a custom one.
    pub id: String,
    /// AI-SDK package for a custom provider, e.g. `@ai-sdk/openai-compatible`; `None` for
    /// built-ins (the binary embeds them, nothing is downloaded).
    pub npm: Option<String>,
    /// Display name for a custom provider; `None` lets OpenCode use the id.
    pub name: Option<String>,
    /// API base including `/v1`; OpenCode posts to `{base_url}/chat/completions`.
    pub base_url: Option<String>,
    /// The provider key: inline, or by environment variable so it stays out of the config file.
    pub api_key: Option<ApiKey>,
    /// Model id within the provider; also used for titles unless `small_model` is set.
    pub model: String,
    /// Cheaper model for titles and summaries; `None` uses `model`.
    pub small_model: Option<String>,
    /// Context window of the model(s), tokens: declared because without the models catalogue
    /// OpenCode cannot know it.
    pub context_limit: u64,
    /// Most tokens one answer may produce, declared for the same reason.
    pub output_limit: u64,
}

impl ProviderConfig {
    /// A provider OpenCode knows by id, with its key taken from an environment variable.
    pub fn builtin(id: &str, model: &str, api_key_env: &str) -> Self {
        Self {
            id: id.to_owned(),
            npm: None,
            name: None,
            base_url: None,
            api_key: Some(ApiKey::Env(api_key_env.to_owned())),
            model: model.to_owned(),
            small_model: None,
            context_limit: 128_000,
            output_limit: 8_192,
        }
    }

    /// Any OpenAI-compatible chat-completions endpoint.
    pub fn openai_compatible(id: &str, base_url: &str, model: &str, api_key: ApiKey) -> Self {
        Self {
            id: id.to_owned(),
            npm: Some("@ai-sdk/openai-compatible".to_owned()),
            name: Some(id.to_owned()),
            base_url: Some(base_url.to_owned()),
            api_key: Some(api_key),
            model: model.to_owned(),
            small_model: None,
            context_limit: 128_000,
            output_limit: 4_096,
        }
    }
}

/// Builds the headless config document (see the module docs for the environment to pair it
/// with). The model entry is always declared, with `tool_call: true`, because with
/// `OPENCODE_DISABLE_MODELS_FETCH=1` OpenCode has no catalogue to learn the model's abilities.
pub fn headless_config(provider: &ProviderConfig) -> Value {
    let mut options = Map::new();
    if let Some(base_url) = &provider.base_url {
        options.insert("baseURL".into(), Value::from(base_url.as_str()));
    }
    if let Some(key) = &provider.api_key {
        options.insert("apiKey".into(), Value::from(key.config_value()));
    }
    let mut entry = Map::new();
    if let Some(npm) = &provider.npm {
        entry.insert("npm".into(), Value::from(npm.as_str()));
    }
    if let Some(name) = &provider.name {
        entry.insert("name".into(), Value::from(name.as_str()));
    }
    entry.insert("options".into(), Value::Object(options));
    let model_entry = |id: &str| {
        json!({
            "name": id,
            "tool_call": true,
            "limit": { "context": provider.context_limit, "output": provider.output_limit },
        })
    };
    let mut models = Map::new();
    models.insert(provider.model.clone(), model_entry(&provider.model));
    if let Some(small) = &provider.small_model {
        models.insert(small.clone(), model_entry(small));
    }
    entry.insert("models".into(), Value::Object(models));

    let small_model = provider.small_model.as_deref().unwrap_or(&provider.model);
    json!({
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": false,
        "share": "disabled",
        "model": format!("{}/{}", provider.id, provider.model),
        "small_model": format!("{}/{}", provider.id, small_model),
        "enabled_providers": [provider.id],
        "provider": { provider.id.clone(): Value::Object(entry) },
        "permission": headless_permissions(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_provider_document() {
        let p = ProviderConfig::openai_compatible(
            "fake",
            "http://127.0.0.1:9/v1",
            "fake-model",
            ApiKey::Literal("test-key".into()),
        );
        let c = headless_config(&p);
        assert_eq!(c["model"], "fake/fake-model");
        assert_eq!(c["small_model"], "fake/fake-model");
        assert_eq!(c["enabled_providers"], json!(["fake"]));
        assert_eq!(c["provider"]["fake"]["npm"], "@ai-sdk/openai-compatible");
        assert_eq!(
            c["provider"]["fake"]["options"]["baseURL"],
            "http://127.0.0.1:9/v1"
        );
        assert_eq!(c["provider"]["fake"]["options"]["apiKey"], "test-key");
        assert_eq!(
            c["provider"]["fake"]["models"]["fake-model"]["tool_call"],
            true
        );
        assert_eq!(
            c["provider"]["fake"]["models"]["fake-model"]["limit"]["output"],
            4096
        );
    }

    #[test]
    fn builtin_provider_keeps_key_out_of_the_document() {
        let mut p = ProviderConfig::builtin("openai", "gpt-4.1", "OPENAI_API_KEY");
        p.small_model = Some("gpt-4.1-mini".into());
        let c = headless_config(&p);
        assert_eq!(
            c["provider"]["openai"]["options"]["apiKey"],
            "{env:OPENAI_API_KEY}"
        );
        assert!(c["provider"]["openai"].get("npm").is_none());
        assert!(c["provider"]["openai"]["options"].get("baseURL").is_none());
        assert_eq!(c["small_model"], "openai/gpt-4.1-mini");
        assert!(
            c["provider"]["openai"]["models"]
                .get("gpt-4.1-mini")
                .is_some()
        );
    }

    #[test]
    fn nothing_is_left_at_ask() {
        let c = headless_config(&ProviderConfig::builtin("openai", "m", "K"));
        let perms = c["permission"].as_object().unwrap();
        assert_eq!(perms["*"], "allow");
        for key in ["question", "external_directory", "doom_loop", "webfetch"] {
            assert_eq!(perms[key], "deny", "{key}");
        }
        assert!(perms.values().all(|v| v == "allow" || v == "deny"));
    }

    /// The image's baked config must grant exactly what the client documents.
    #[test]
    fn dockerfile_config_matches_headless_permissions() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../opencode/Dockerfile");
        let dockerfile = std::fs::read_to_string(&path).expect("opencode/Dockerfile");
        let json: String = dockerfile
            .lines()
            .skip_while(|l| !l.starts_with("COPY <<'JSON' /etc/opencode/headless.json"))
            .skip(1)
            .take_while(|l| *l != "JSON")
            .map(|l| format!("{l}\n"))
            .collect();
        let baked: Value = serde_json::from_str(&json).expect("baked config is JSON");
        assert_eq!(baked["permission"], headless_permissions());
        assert_eq!(baked["autoupdate"], false);
        assert_eq!(baked["share"], "disabled");
    }

    #[test]
    fn literal_key_is_redacted_in_debug() {
        let p = ProviderConfig::openai_compatible(
            "fake",
            "http://x/v1",
            "m",
            ApiKey::Literal("sk-very-secret".into()),
        );
        assert!(!format!("{p:?}").contains("sk-very-secret"));
    }
}
