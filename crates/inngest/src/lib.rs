//! An Inngest SDK for axum 0.8: durable functions served over HTTP.
//!
//! Inngest calls the app at one URL (`/api/inngest` by default): `GET` for introspection,
//! `PUT` to trigger a sync, `POST` to run a function. Each `POST` replays the function from the
//! top; finished steps come back memoized in the request, so a step body runs once per run.
//!
//! - [`Config`] reads the `INNGEST_*` variables (dev vs cloud mode, keys, origins).
//! - [`function`] defines a function; [`FunctionBuilder::handler`] attaches its body.
//! - [`serve`] builds the axum router; [`register`] syncs from the app itself.
//! - [`Client::send`] sends events; [`Step`] has the durable step tools.
//! - [`InlineRunner`] runs functions in-process without Inngest (dry runs, tests).
//!
//! In cloud mode every request must carry a valid `X-Inngest-Signature` (primary or fallback
//! key); others get `401 {"message":"Unauthorized"}`, and answers are signed in return.
//!
//! ```
//! use inngest::{Client, Config, Ctx, Error, Trigger, function, serve};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Requested { project_id: String }
//!
//! let hello = function("hello", "Say hello")
//!     .trigger(Trigger::event("demo/hello.requested"))
//!     .retries(2)
//!     .handler(|ctx: Ctx<Requested>| async move {
//!         let project = ctx.event.data.project_id.clone();
//!         let greeting: String = ctx
//!             .step
//!             .run("greet", || async move { Ok::<_, Error>(format!("hello {project}")) })
//!             .await?;
//!         Ok(serde_json::json!({ "greeting": greeting }))
//!     });
//!
//! let config = Config::dev("demo", "http://127.0.0.1:8288".parse().unwrap());
//! let client = Client::new(config, reqwest::Client::new());
//! let app: axum::Router = serve(client, vec![hello]);
//! # let _ = app;
//! ```
//!
//! Step code should be deterministic between replays, and code outside steps should not
//! await I/O: a request is answered as soon as every branch of the function is waiting on a
//! step.

#![warn(missing_docs)]

mod client;
mod config;
mod error;
mod event;
mod exec;
mod function;
mod inline;
pub mod limits;
mod serve;
mod signature;
mod step;
mod sync;

pub use client::{ApiError, Client, SDK_IDENT, SDK_VERSION, SendError, SendRetry};
pub use config::{
    Config, ConfigError, DEFAULT_SERVE_PATH, DevFlag, FLAG_GRAMMAR, Mode, Settings, SigningKey,
    parse_flag, parse_http_url,
};
pub use error::{Error, Retry};
pub use event::{Event, FUNCTION_INVOKED_EVENT, SCHEDULED_TIMER_EVENT};
pub use function::{FunctionBuilder, ServableFunction, Trigger, cron_runs_per_hour, function};
pub use inline::{DEFAULT_MAX_DEPTH, InlineRun, InlineRunner};
pub use limits::{MAX_EVENT_BYTES, MAX_STEP_OUTPUT_BYTES};
pub use serve::{DEFAULT_BODY_LIMIT, ServeOptions, serve, serve_with};
pub use signature::{
    MAX_SKEW_SECS, Signature, SignatureError, canonicalize_bytes, check_header, sign, verify,
    verify_body,
};
pub use step::{Ctx, Invoke, Step, WaitForEvent, format_duration, hash_step_id};
pub use sync::{RegisterOutcome, SyncError, register, register_body};
