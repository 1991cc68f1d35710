//! Step-id hashing and ULID-shaped identifiers for events and runs.

use sha1::{Digest, Sha1};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The wire id of the `occurrence`-th use (0-based) of a user step id within one
/// execution: `sha1(id)` for the first, `sha1("id:n")` for the n-th repeat.
pub fn step_id_hash(user_id: &str, occurrence: usize) -> String {
    let input = if occurrence == 0 {
        user_id.to_string()
    } else {
        format!("{user_id}:{occurrence}")
    };
    hex::encode(Sha1::digest(input.as_bytes()))
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static COUNTER: AtomicU64 = AtomicU64::new(1);

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A 26-character ULID-shaped id: 48 bits of milliseconds, then a process-wide
/// counter mixed with the process id, so ids are unique and sort by creation.
pub(crate) fn ulid() -> String {
    let ms = now_ms() as u128 & ((1 << 48) - 1);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) as u128;
    let low = ((std::process::id() as u128) << 64) | count;
    let value = (ms << 80) | (low & ((1 << 80) - 1));
    (0..26)
        .rev()
        .map(|i| CROCKFORD[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_the_protocol_vectors() {
        assert_eq!(
            step_id_hash("my-step-id", 0),
            "e7d8a2f140845095749d60246ff1110c9d01d76a"
        );
        assert_eq!(
            step_id_hash("same", 1),
            "c1023fa587daa4753ff5868c7e4bdbd03defda7d"
        );
        assert_eq!(
            step_id_hash("same", 2),
            "e48d666a39ba11b45ba1301e5228396678a2ad06"
        );
        assert_eq!(
            step_id_hash("fetch-service", 1),
            "b5d0d8f6a3a7a83edec7c5e760eb840a4e572e44"
        );
    }

    #[test]
    fn ulids_are_unique_and_well_formed() {
        let a = ulid();
        let b = ulid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 26);
        assert!(a.bytes().all(|c| CROCKFORD.contains(&c)));
    }
}
