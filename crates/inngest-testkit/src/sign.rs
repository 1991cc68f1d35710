//! Request signing and signing-key hashing, as the Inngest server does them.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The part of a signing key that is used as HMAC key: the key without its
/// `signkey-<env>-` prefix, taken as text (not hex-decoded).
pub fn signing_key_secret(key: &str) -> &str {
    split_prefix(key).1
}

/// Split `signkey-<env>-rest` into (`signkey-<env>-`, `rest`); keys without the
/// prefix (e.g. a self-hosted server's raw hex key) have an empty prefix.
fn split_prefix(key: &str) -> (&str, &str) {
    if let Some(after) = key.strip_prefix("signkey-")
        && let Some(dash) = after.find('-')
    {
        let env = &after[..dash];
        if !env.is_empty() && env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let split = "signkey-".len() + dash + 1;
            return (&key[..split], &key[split..]);
        }
    }
    ("", key)
}

/// Hex HMAC-SHA256 of `body ‖ decimal(ts)` keyed with the key's secret part.
pub fn signature(body: &[u8], signing_key: &str, ts: i64) -> String {
    let mut mac = HmacSha256::new_from_slice(signing_key_secret(signing_key).as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.update(ts.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `X-Inngest-Signature` header value for `body` signed at `ts`.
pub fn signature_header(body: &[u8], signing_key: &str, ts: i64) -> String {
    format!("t={ts}&s={}", signature(body, signing_key, ts))
}

/// Check an `X-Inngest-Signature` header (`t=…&s=…`) against `body`.
/// Response signatures cover the exact bytes; one trailing newline is ignored
/// as the Go validator does.
pub fn verify_signature_header(header: &str, body: &[u8], signing_key: &str) -> bool {
    let mut ts = None;
    let mut sig = None;
    for pair in header.split('&') {
        match pair.split_once('=') {
            Some(("t", v)) => ts = v.parse::<i64>().ok(),
            Some(("s", v)) => sig = Some(v),
            _ => {}
        }
    }
    let (Some(ts), Some(sig)) = (ts, sig) else {
        return false;
    };
    let Ok(given) = hex::decode(sig) else {
        return false;
    };
    let check = |bytes: &[u8]| {
        let mut mac = HmacSha256::new_from_slice(signing_key_secret(signing_key).as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(bytes);
        mac.update(ts.to_string().as_bytes());
        mac.verify_slice(&given).is_ok()
    };
    check(body) || body.strip_suffix(b"\n").is_some_and(check)
}

/// The bearer token an SDK sends to the Inngest API: the prefix kept, the rest
/// replaced by `hex(sha256(hex_decode(rest)))`. `None` if the rest is not hex.
pub fn hashed_signing_key(key: &str) -> Option<String> {
    let (prefix, rest) = split_prefix(key);
    let bytes = hex::decode(rest).ok()?;
    Some(format!("{prefix}{}", hex::encode(Sha256::digest(bytes))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_test_vector() {
        assert_eq!(
            signature_header(br#"{"a":1}"#, "signkey-prod-12345678", 1_700_000_000),
            "t=1700000000&s=67a82077baa52522b1f612a154a25275c00a0338efc32be5ee396bd2391ba5e0"
        );
    }

    #[test]
    fn bearer_vector() {
        assert_eq!(
            hashed_signing_key("signkey-prod-12345678").as_deref(),
            Some("signkey-prod-b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c")
        );
        assert_eq!(hashed_signing_key("signkey-prod-zz"), None);
    }

    #[test]
    fn prefix_handling() {
        assert_eq!(signing_key_secret("signkey-test-abc"), "abc");
        assert_eq!(signing_key_secret("signkey-branch_1-abc"), "abc");
        assert_eq!(signing_key_secret("deadbeef"), "deadbeef");
        assert_eq!(signing_key_secret("signkey--abc"), "signkey--abc");
    }

    #[test]
    fn verify_roundtrip_and_tamper() {
        let key = "signkey-test-00ff";
        let h = signature_header(b"{}", key, 42);
        assert!(verify_signature_header(&h, b"{}", key));
        assert!(verify_signature_header(&h, b"{}\n", key));
        assert!(!verify_signature_header(&h, b"{ }", key));
        assert!(!verify_signature_header(&h, b"{}", "signkey-test-00fe"));
        assert!(!verify_signature_header("garbage", b"{}", key));
    }
}
