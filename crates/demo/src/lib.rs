//! The built-in demo project and scenario builders producing Railway-shaped data.
//!
//! [`demo_project`] is what `autofix` serves in demo mode and what the fake Railway server
//! answers with; [`scenario`] builds smaller projects with one known problem each for tests.

#![warn(missing_docs)]

mod logs;
mod rng;
pub mod scenario;
pub mod scenario_file;

use railway::model::ProjectSnapshot;
pub use scenario::{ProjectBuilder, ServiceBuilder};

/// Project id of the demo project (stable, so incident fingerprints are stable across runs).
pub const DEMO_PROJECT_ID: &str = "6f1d3c2a-9b4e-4c1f-8a7d-2e5b0c9d4f10";
/// Project name of the demo project, as Railway would show it.
pub const DEMO_PROJECT_NAME: &str = "autofix-demo";
/// Length of the demo project's detection window, minutes.
pub const DEMO_WINDOW_MINUTES: i64 = 30;

/// Service names of the demo project, in order.
pub mod names {
    /// Node API leaking memory (repo `acme-demo/storefront-api`).
    pub const STOREFRONT_API: &str = "storefront-api";
    /// CPU-bound background worker (repo `acme-demo/image-worker`).
    pub const IMAGE_WORKER: &str = "image-worker";
    /// API whose database queries take seconds (repo `acme-demo/reports-api`).
    pub const REPORTS_API: &str = "reports-api";
    /// Healthy gateway with spiky CPU.
    pub const EDGE_GATEWAY: &str = "edge-gateway";
    /// Postgres with a volume and flat, high memory.
    pub const POSTGRES: &str = "postgres";
}

/// The demo project over the [`DEMO_WINDOW_MINUTES`] ending at `now` (Unix seconds): a Node API
/// leaking memory, a CPU-bound worker, an API with multi-second database queries, a healthy
/// service with spiky CPU and a Postgres database. Deterministic for a given `now`.
pub fn demo_project(now: i64) -> ProjectSnapshot {
    demo_builder(now).build()
}

/// The builder behind [`demo_project`], for tests that want ids before building.
pub fn demo_builder(now: i64) -> ProjectBuilder {
    use names::*;
    ProjectBuilder::new(DEMO_PROJECT_ID, DEMO_PROJECT_NAME, now, DEMO_WINDOW_MINUTES)
        .service(
            ServiceBuilder::new(STOREFRONT_API)
                .repo("acme-demo/storefront-api")
                .limits(2.0, 1.0)
                .rps(6.0)
                .cpu_idle(14.0)
                .memory_leak(61.0, 38.0),
        )
        .service(
            ServiceBuilder::new(IMAGE_WORKER)
                .repo("acme-demo/image-worker")
                .worker()
                .limits(2.0, 2.0)
                .cpu_sustained(96.0)
                .memory_flat(42.0),
        )
        .service(
            ServiceBuilder::new(REPORTS_API)
                .repo("acme-demo/reports-api")
                .limits(1.0, 1.0)
                .rps(3.0)
                .endpoint("GET", "/health", 0.15, 2.0)
                .endpoint("GET", "/reports", 0.35, 35.0)
                .endpoint("GET", "/reports/{id}", 0.3, 48.0)
                .endpoint("POST", "/reports", 0.1, 90.0)
                .slow_endpoint("GET", "/reports/monthly", 5200.0)
                .slow_endpoint("GET", "/reports/{id}/export", 3800.0)
                .memory_flat(38.0),
        )
        .service(
            ServiceBuilder::new(EDGE_GATEWAY)
                .repo("acme-demo/edge-gateway")
                .limits(1.0, 0.5)
                .rps(12.0)
                .cpu_spiky()
                .memory_flat(30.0),
        )
        .service(
            ServiceBuilder::new(POSTGRES)
                .database("ghcr.io/railwayapp-templates/postgres-ssl:16")
                .limits(2.0, 2.0)
                .memory_flat(85.0),
        )
}

/// RFC 3339 UTC with nanoseconds, as Railway timestamps its logs.
pub(crate) fn rfc3339(ts: i64, nanos: u32) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            nanos.min(999_999_999)
        ),
        Err(_) => format!("1970-01-01T00:00:00.{:09}Z", 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_nanoseconds() {
        assert_eq!(rfc3339(1_795_423_200, 5), "2026-11-23T08:40:00.000000005Z");
    }
}
