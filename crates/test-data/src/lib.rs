//! Tests' access to data that lives outside the repository: `../shared` beside the checkout (the
//! Railway schema, the OpenCode OpenAPI document, the TS SDK recordings), npm installs, binaries.
//!
//! A test that cannot find its data must not pass as if it had checked something. On a developer
//! machine it says what is missing and returns early; under CI (`CI` set and non-empty, as on
//! every CI runner) [`unavailable`] panics, so a missing install or checkout fails the build.

#![warn(missing_docs)]

use std::io::Write as _;
use std::path::PathBuf;

/// True when the tests run under CI (`CI` set to a non-empty value).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Reports that a test cannot run here because `what` is missing; `remedy` says how to get it.
///
/// Panics under CI. Elsewhere it writes a `skipped:` line to the real stderr (past libtest's
/// output capture, so the skip shows in the test log) and returns, and the caller returns too.
pub fn unavailable(what: &str, remedy: &str) {
    assert!(!in_ci(), "CI is set but {what}: {remedy}");
    let _ = writeln!(std::io::stderr(), "skipped: {what} ({remedy})");
}

/// Names the shared directory when it is not beside the repository.
pub const SHARED_DIR_VAR: &str = "AUTOFIX_SHARED_DIR";

/// The path of `relative` inside the shared directory: `$AUTOFIX_SHARED_DIR`, or `shared` beside
/// the repository.
pub fn shared_path(relative: &str) -> PathBuf {
    std::env::var_os(SHARED_DIR_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join(relative)
}

/// The file `relative` inside `../shared`, or `None` after [`unavailable`] (a panic under CI).
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let path = shared_path(relative);
    if path.is_file() {
        Some(path)
    } else {
        unavailable(
            &format!("{} is absent", path.display()),
            "put the shared reference data beside the repository or name it in AUTOFIX_SHARED_DIR",
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_directory_is_beside_the_repository() {
        if std::env::var_os(SHARED_DIR_VAR).is_some() {
            return;
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        assert!(root.join("Cargo.toml").is_file());
        assert_eq!(
            shared_path("x").parent().unwrap().canonicalize().ok(),
            root.join("../shared").canonicalize().ok()
        );
    }
}
