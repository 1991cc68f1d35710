//! github crate.
