//! Standard Webhooks signing (standardwebhooks.com): the receiver verifies
//! `HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The shared secret: `whsec_` followed by base64 of the key bytes (the prefix is optional, as
/// in the reference libraries). `Debug` never shows it.
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Why `AUTOFIX_WEBHOOK_SECRET` cannot be used as a Standard Webhooks signing secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// Nothing after the optional `whsec_` prefix.
    #[error("the secret is empty")]
    Empty,
    /// The key part is not valid base64.
    #[error("the secret is not base64 after its `whsec_` prefix")]
    NotBase64,
    /// The decoded key has this many bytes, fewer than the 24 we require.
    #[error("the secret decodes to {0} bytes; use at least 24 (Standard Webhooks: 24–64)")]
    TooShort(usize),
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` (or bare base64). The error never contains the secret.
    pub fn parse(raw: &str) -> Result<WebhookSecret, SignError> {
        let raw = raw.trim();
        let b64 = raw.strip_prefix("whsec_").unwrap_or(raw);
        if b64.is_empty() {
            return Err(SignError::Empty);
        }
        let key = STANDARD.decode(b64).map_err(|_| SignError::NotBase64)?;
        if key.len() < 24 {
            return Err(SignError::TooShort(key.len()));
        }
        Ok(WebhookSecret { key })
    }
}

/// The `webhook-signature` value: `v1,<base64 HMAC-SHA256>`.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.key).expect("HMAC takes keys of any size");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The three Standard Webhooks headers for one delivery.
pub fn signature_headers(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    [
        ("webhook-id", msg_id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", sign(secret, msg_id, timestamp, body)),
    ]
}
