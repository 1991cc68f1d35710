//! Client for a headless OpenCode server (`opencode serve`, pinned to 1.18.33).
//!
//! Every call is short on purpose: the pipeline drives a fix from durable Inngest steps and
//! polls [`OpenCode::status`] + [`OpenCode::last_assistant_message`] with sleeps in between,
//! instead of holding one HTTP request open for the minutes an agent run takes (the synchronous
//! `POST /session/{id}/message` can block forever while OpenCode retries a failing LLM).
//!
//! [`judge`] turns one poll into [`Outcome::Running`], [`Outcome::Completed`] or
//! [`Outcome::Failed`]; [`headless_config`] builds the `OPENCODE_CONFIG_CONTENT` document that
//! makes the server safe to run unattended.

#![warn(missing_docs)]

mod client;
mod config;
mod error;
mod judge;
#[cfg(test)]
mod openapi_check;
mod types;

pub use client::{DEFAULT_REQUEST_TIMEOUT, DEFAULT_USERNAME, OpenCode};
pub use config::{
    ApiKey, HEADLESS_PERMISSIONS, ProviderConfig, headless_config, headless_permissions,
};
pub use error::OpenCodeError;
/// Same type as [`Outcome`], under the name the pipeline uses.
pub use judge::Outcome as Judgement;
pub use judge::{Outcome, judge};
pub use types::{
    AssistantMessage, MessageError, ModelRef, PromptRequest, Session, SessionState, ToolUse,
};
