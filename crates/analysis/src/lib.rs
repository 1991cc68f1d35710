//! analysis crate.
