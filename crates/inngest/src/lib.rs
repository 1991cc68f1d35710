//! inngest crate.
