//! opencode crate.
