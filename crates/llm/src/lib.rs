//! llm crate.
