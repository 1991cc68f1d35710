//! inngest-testkit crate.
