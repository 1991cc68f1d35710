//! The names one incident goes by: its fingerprint, the Inngest concurrency key of its group, and
//! the branch, PR marker and working directory derived from the fingerprint. They are wire
//! contracts (Inngest keys, GitHub searches), so each is written exactly once, here.

use std::collections::BTreeSet;

use detect::Finding;

/// Head branches of autofix pull requests start with this.
pub const BRANCH_PREFIX: &str = "autofix/";

/// The group key of an incident: the repository (`owner/name`), or for services without one
/// `no-repo:<id>,<id>` in the given order. It is the Inngest concurrency key of `generate-fix`.
pub fn group_key<'a>(repo: Option<&str>, service_ids: impl IntoIterator<Item = &'a str>) -> String {
    match repo {
        Some(repo) => repo.to_owned(),
        None => format!(
            "no-repo:{}",
            service_ids.into_iter().collect::<Vec<_>>().join(",")
        ),
    }
}

/// The id of a group's ongoing incident: a hash of the group key and the sorted, distinct
/// fingerprints of its incident findings (warning or critical). Finding fingerprints depend only
/// on service and kind, so the value is the same on every cycle while the same problems persist,
/// whatever the measured numbers or the order of `findings`; observations do not move it. A new
/// kind of problem on the repository yields a new fingerprint, hence a new branch and PR.
pub fn incident_fingerprint(group_key: &str, findings: &[Finding]) -> String {
    use sha2::{Digest, Sha256};
    let parts: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f.is_incident())
        .map(|f| f.fingerprint.as_str())
        .collect();
    let mut hasher = Sha256::new();
    hasher.update(group_key.as_bytes());
    for p in parts {
        hasher.update([0u8]);
        hasher.update(p.as_bytes());
    }
    format!("af-{}", &hex::encode(hasher.finalize())[..12])
}

/// The head branch an autofix PR for `fingerprint` uses.
pub fn branch(fingerprint: &str) -> String {
    format!("{BRANCH_PREFIX}{fingerprint}")
}

/// The HTML comment that marks a pull request as Autofix's for one fingerprint. It renders as
/// nothing on GitHub, so it sits in every PR body, and the duplicate check searches for exactly
/// this string (a PR whose branch a human renamed still counts).
pub fn marker(fingerprint: &str) -> String {
    format!("<!-- autofix:fingerprint={fingerprint} -->")
}

/// A fresh directory per run under the agent's base directory: the fingerprint says which
/// incident, the run id's tail keeps a retried run from reusing a half-done checkout.
pub fn workdir(base: &str, fingerprint: &str, run_id: &str) -> String {
    format!(
        "{}/autofix-{fingerprint}-{}",
        base.trim_end_matches('/'),
        run_id_tail(run_id)
    )
}

/// The last 8 ASCII alphanumerics of a run id, lower-cased (ULIDs put the random part last).
fn run_id_tail(run_id: &str) -> String {
    let clean: Vec<char> = run_id.chars().filter(char::is_ascii_alphanumeric).collect();
    let start = clean.len().saturating_sub(8);
    clean[start..].iter().collect::<String>().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_wire_contract() {
        assert_eq!(branch("af-1"), "autofix/af-1");
        assert_eq!(marker("af-1"), "<!-- autofix:fingerprint=af-1 -->");
        assert_eq!(group_key(Some("acme/api"), ["a"]), "acme/api");
        assert_eq!(group_key(None, ["svc-a", "svc-b"]), "no-repo:svc-a,svc-b");
        assert_eq!(
            workdir("/workspace/", "af-1", "01HX-ABCDEFGHJK"),
            "/workspace/autofix-af-1-cdefghjk"
        );
        assert_eq!(run_id_tail("ab"), "ab");
    }
}
