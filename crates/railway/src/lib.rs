//! Railway data layer: typed GraphQL operations, a constant request budget per health read, and a
//! [`Source`] that makes the live API and a static snapshot (demo, tests) look the same.
//!
//! [`model`] holds the plain domain types the rest of the workspace uses; generated GraphQL types
//! stay private.
//!
//! Request budget of one health read (architecture + resource usage + HTTP stats) over S
//! non-database services: `2 + ceil(S / 20)` (architecture pages beyond 100 instances aside).

mod auth;
mod client;
mod error;
mod live;
mod logs;
mod ops;
mod source;

pub mod batch;
pub mod http;
pub mod model;
pub mod timefmt;
pub mod validate;

pub use auth::{Credentials, Token};
pub use client::{ClientConfig, DEFAULT_ENDPOINT, HttpStatsConfig, RailwayClient};
pub use error::RailwayError;
pub use live::{
    LOG_FALLBACK_SERVICES_PER_REQUEST, plan_http_batches, resource_report, sample_rate_seconds,
};
pub use logs::LogLimits;
pub use ops::{is_database_image, mark_databases};
pub use source::{Source, slice_http, slice_logs, slice_resources};

/// The parser the fake Railway server in `tests/` uses to read our documents.
#[doc(hidden)]
pub use graphql_parser;

/// Every operation document this crate sends, by file name, for schema validation.
pub const OPERATIONS: &[(&str, &str)] = &[
    (
        "EnvironmentArchitecture.graphql",
        include_str!("../graphql/EnvironmentArchitecture.graphql"),
    ),
    (
        "ProjectEnvironments.graphql",
        include_str!("../graphql/ProjectEnvironments.graphql"),
    ),
    (
        "EnvironmentResourceMetrics.graphql",
        include_str!("../graphql/EnvironmentResourceMetrics.graphql"),
    ),
    ("ServiceHttpMetrics.graphql", batch::HTTP_METRICS_TEMPLATE),
    ("ServiceHttpLogs.graphql", batch::HTTP_LOGS_TEMPLATE),
    ("ServiceLogs.graphql", batch::SERVICE_LOGS_TEMPLATE),
];
