//! The `autofix` binary's library half: configuration, client wiring, the HTTP router and the
//! one-shot check. `main.rs` only parses the command line; tests mount [`serve::router`] directly.

#![warn(missing_docs)]

pub mod check;
pub mod cli;
pub mod config;
pub mod deps;
pub mod doctor;
pub mod listener;
pub mod project_config;
pub mod secrets;
pub mod serve;
