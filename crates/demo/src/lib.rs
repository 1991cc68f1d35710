//! demo crate.
