//! `X-Inngest-Signature`: HMAC-SHA256 over `body ‖ decimal(t)`, keyed with the signing key
//! minus its `signkey-<env>-` prefix (as text).

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::config::SigningKey;

type HmacSha256 = Hmac<Sha256>;

/// Requests older or newer than this are refused (same window as the JS SDK).
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// Why a request signature was refused. Only logged at debug level, never sent to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Inngest-Signature` header.
    #[error("missing signature header")]
    Missing,
    /// Header not of the form `t=<secs>&s=<64 hex>`.
    #[error("malformed signature header")]
    Malformed,
    /// Timestamp outside the allowed window.
    #[error("signature timestamp outside the allowed window")]
    Expired,
    /// No key produced the given MAC.
    #[error("signature does not match")]
    Mismatch,
    /// Cloud mode without any signing key.
    #[error("no signing key configured")]
    NoKey,
    /// A valid signature already used for this path within the time window.
    #[error("signature already used (replay)")]
    Replayed,
}

fn mac(key: &SigningKey, body: &[u8], ts: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key.hmac_key()).expect("HMAC accepts any key length");
    m.update(body);
    m.update(ts.as_bytes());
    m
}

/// Builds a header value `t=<ts>&s=<hex mac>` over the exact `body` bytes.
pub fn sign(key: &SigningKey, body: &[u8], ts: i64) -> String {
    let ts = ts.to_string();
    let s = hex::encode(mac(key, body, &ts).finalize().into_bytes());
    format!("t={ts}&s={s}")
}

fn parse_header(header: &str) -> Result<(i64, &str, Vec<u8>), SignatureError> {
    let mut t = None;
    let mut s = None;
    for pair in header.trim().split('&') {
        match pair.split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("s", v)) => s = Some(v),
            _ => {}
        }
    }
    let (Some(t_str), Some(s)) = (t, s) else {
        return Err(SignatureError::Malformed);
    };
    let t: i64 = t_str.parse().map_err(|_| SignatureError::Malformed)?;
    let s = hex::decode(s).map_err(|_| SignatureError::Malformed)?;
    if s.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    Ok((t, t_str, s))
}

/// A well-formed, fresh `X-Inngest-Signature`, checked before the body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    t_str: String,
    mac: Vec<u8>,
}

/// The checks that need no body: a header is present, well-formed and within the time window.
/// The serve endpoint runs them first, so a request that can never verify costs no body read.
pub fn check_header(header: Option<&str>, now: i64) -> Result<Signature, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (t, t_str, mac) = parse_header(header)?;
    if (now - t).abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Expired);
    }
    Ok(Signature {
        t_str: t_str.to_owned(),
        mac,
    })
}

/// Checks the MAC of a pre-checked signature against each key in turn (primary, then fallback):
/// over the raw bytes first, then — only when the body is at most `canonicalize_limit` bytes —
/// over its JCS form. Canonicalising means parsing the whole document, so it is kept for the
/// small bodies that need it (sync pings); a large body with a wrong MAC costs one HMAC pass.
pub fn verify_body<'k>(
    sig: &Signature,
    body: &[u8],
    keys: impl IntoIterator<Item = &'k SigningKey>,
    canonicalize_limit: usize,
) -> Result<usize, SignatureError> {
    let keys: Vec<&SigningKey> = keys.into_iter().collect();
    if keys.is_empty() {
        return Err(SignatureError::NoKey);
    }
    for (i, key) in keys.iter().enumerate() {
        if mac(key, body, &sig.t_str).verify_slice(&sig.mac).is_ok() {
            return Ok(i);
        }
    }
    if body.len() > canonicalize_limit {
        return Err(SignatureError::Mismatch);
    }
    // Sync pings are produced by Go's json.Marshal but signed over their JCS form.
    if let Some(canonical) = canonicalize_bytes(body).filter(|c| c.as_slice() != body) {
        for (i, key) in keys.iter().enumerate() {
            if mac(key, &canonical, &sig.t_str)
                .verify_slice(&sig.mac)
                .is_ok()
            {
                return Ok(i);
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// Verifies a request signature against each key in turn (primary, then fallback), first over
/// the raw body and then over its JCS form; returns the index of the key that matched.
pub fn verify<'k>(
    header: Option<&str>,
    body: &[u8],
    keys: impl IntoIterator<Item = &'k SigningKey>,
    now: i64,
) -> Result<usize, SignatureError> {
    let keys: Vec<&SigningKey> = keys.into_iter().collect();
    if keys.is_empty() {
        return Err(SignatureError::NoKey);
    }
    let sig = check_header(header, now)?;
    verify_body(&sig, body, keys, usize::MAX)
}

/// RFC 8785 (JCS) form of a JSON document, or `None` if the bytes are not JSON.
pub fn canonicalize_bytes(body: &[u8]) -> Option<Vec<u8>> {
    if body.is_empty() {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut out = String::with_capacity(body.len());
    write_canonical(&v, &mut out);
    Some(out.into_bytes())
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null | Value::Bool(_) | Value::String(_) => {
            // serde_json escapes exactly like ECMAScript JSON.stringify for these.
            out.push_str(&v.to_string());
        }
        Value::Number(n) => out.push_str(&canonical_number(n)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // JCS orders members by the UTF-16 code units of their names.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(val, out);
            }
            out.push('}');
        }
    }
}

/// ECMAScript number-to-string for the values JSON can carry.
fn canonical_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 {
        return "0".into();
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        return format!("{f:.0}");
    }
    let abs = f.abs();
    if (1e-6..1e21).contains(&abs) {
        // Rust's shortest round-trip Display matches ECMAScript in this range.
        return format!("{f}");
    }
    // Exponent form: ECMAScript writes `1e+21`, `1.5e-7`.
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::new("signkey-prod-12345678").unwrap()
    }

    const VECTOR: &str =
        "t=1700000000&s=67a82077baa52522b1f612a154a25275c00a0338efc32be5ee396bd2391ba5e0";

    #[test]
    fn spec_vector_4_2() {
        assert_eq!(sign(&key(), br#"{"a":1}"#, 1_700_000_000), VECTOR);
        assert_eq!(
            verify(Some(VECTOR), br#"{"a":1}"#, [&key()], 1_700_000_000),
            Ok(0)
        );
    }

    #[test]
    fn refusals() {
        let k = key();
        let body = br#"{"a":1}"#;
        let now = 1_700_000_000;
        assert_eq!(verify(None, body, [&k], now), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some("garbage"), body, [&k], now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some(VECTOR), br#"{"a":2}"#, [&k], now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(VECTOR), body, [&k], now + MAX_SKEW_SECS + 1),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(Some(VECTOR), body, [&k], now - MAX_SKEW_SECS - 1),
            Err(SignatureError::Expired)
        );
        let other = SigningKey::new("signkey-prod-abcdef").unwrap();
        assert_eq!(
            verify(Some(VECTOR), body, [&other], now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(VECTOR), body, [], now),
            Err(SignatureError::NoKey)
        );
    }

    #[test]
    fn fallback_key_matches_second() {
        let other = SigningKey::new("signkey-prod-abcdef").unwrap();
        let k = key();
        assert_eq!(
            verify(Some(VECTOR), br#"{"a":1}"#, [&other, &k], 1_700_000_000),
            Ok(1)
        );
    }

    #[test]
    fn jcs_fallback_for_non_canonical_bodies() {
        let k = key();
        let raw = br#"{ "url": "http://x/a?b=1&c=2", "a" : [1.0, 2.5, 1e21, "<&>"] }"#;
        let canonical = canonicalize_bytes(raw).unwrap();
        assert_eq!(
            String::from_utf8(canonical.clone()).unwrap(),
            r#"{"a":[1,2.5,1e+21,"<&>"],"url":"http://x/a?b=1&c=2"}"#
        );
        let header = sign(&k, &canonical, 1_700_000_000);
        assert_eq!(verify(Some(&header), raw, [&k], 1_700_000_000), Ok(0));
        // Go's json.Marshal escapes `&` as \u0026; the JCS form undoes that.
        let go_style = br#"{"url":"http://x/a?b=1\u0026c=2"}"#;
        let header = sign(&k, br#"{"url":"http://x/a?b=1&c=2"}"#, 1_700_000_000);
        assert_eq!(verify(Some(&header), go_style, [&k], 1_700_000_000), Ok(0));
    }

    #[test]
    fn empty_body_signs_for_get() {
        let k = key();
        let header = sign(&k, b"", 1_700_000_000);
        assert_eq!(verify(Some(&header), b"", [&k], 1_700_000_000), Ok(0));
    }
}
