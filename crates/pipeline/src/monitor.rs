//! `monitor-project-health`: one read step that also detects, one event when something is wrong.
//!
//! Steps per cycle are constant in the number of services: `choose-window`, `read-health`
//! (architecture, then CPU/memory, HTTP metrics and the deployment history concurrently, then
//! detection), and at most one `request-service-context` send. Detection runs inside the read
//! step so that what Inngest stores is the verdict, bounded whatever the project's size (see
//! [`crate::health`]), not the metric series (about 8 KB per service).

use std::sync::Arc;

use detect::Finding;
use inngest::{Ctx, Event, ServableFunction, Trigger};
use railway::model::TimeWindow;
use serde::{Deserialize, Serialize};

use crate::events::{
    CONTEXT_REQUESTED, ContextRequested, HEALTH_CHECK_REQUESTED, HealthCheckRequested,
};
use crate::health::{self, DetectionInputs, HealthRead};
use crate::{Deps, MONITOR_FN, step_error};

/// What a cycle returns: readable in the Inngest UI (markdown) and structured (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorReport {
    /// No incident in the window.
    pub healthy: bool,
    /// True when the data is the built-in demo project.
    pub demo: bool,
    /// Railway project name.
    pub project: String,
    /// Railway environment name.
    pub environment: String,
    /// The detection window.
    pub window: TimeWindow,
    /// Services monitored this cycle.
    #[serde(default)]
    pub services: usize,
    /// Compact markdown: the architecture and the findings (bounded, see `crate::health`).
    pub architecture_markdown: String,
    /// The findings table, as markdown (bounded).
    pub findings_markdown: String,
    /// Every incident, then the first recoveries and observations, worst first.
    pub findings: Vec<Finding>,
    /// Findings left out of `findings` to keep the run state bounded.
    #[serde(default)]
    pub omitted_findings: usize,
    /// Distinct incident fingerprints, sorted.
    pub fingerprints: Vec<String>,
    /// The signal of each incident over the window (series, threshold, deployments).
    #[serde(default)]
    pub charts: Vec<charts::Chart>,
    /// Ids of the `autofix/service.context.requested` event, when one was sent.
    pub context_event_ids: Vec<String>,
    /// Services of the environment this cycle did not monitor, and why.
    #[serde(default)]
    pub ignored_services: Vec<crate::IgnoredService>,
    /// Ignored services beyond those listed.
    #[serde(default)]
    pub omitted_ignored: usize,
}

pub(crate) fn function(deps: Arc<Deps>) -> Result<ServableFunction, inngest::ConfigError> {
    let cron = Trigger::cron(&deps.settings.cron)?;
    Ok(inngest::function(MONITOR_FN, "Monitor project health")
        .trigger(cron)
        .trigger(Trigger::event(HEALTH_CHECK_REQUESTED))
        .retries(deps.settings.retries)
        // Overlapping cycles of one project would only duplicate work and events.
        .concurrency(1, None)
        .handler(move |ctx: Ctx<HealthCheckRequested>| {
            let deps = deps.clone();
            async move { run(&deps, ctx).await }
        }))
}

async fn run(deps: &Deps, ctx: Ctx<HealthCheckRequested>) -> Result<MonitorReport, inngest::Error> {
    let minutes = match ctx.event.data.window_minutes {
        Some(m) if !crate::settings::defaults::WINDOW_MINUTES_RANGE.contains(&m) => {
            let range = crate::settings::defaults::WINDOW_MINUTES_RANGE;
            return Err(inngest::Error::non_retriable(format!(
                "data.window_minutes must be between {} and {}, got {m}",
                range.start(),
                range.end()
            )));
        }
        Some(m) => m,
        None => deps.settings.window_minutes,
    };
    let step = &ctx.step;

    // The window is fixed in a step so every replay of this run analyses the same slice of time.
    let window: TimeWindow = step
        .run("choose-window", || async move {
            Ok(TimeWindow::last_minutes((deps.now)(), i64::from(minutes)))
        })
        .await?;

    let read: HealthRead = step
        .run("read-health", || async {
            let inputs = read_inputs(deps, window).await.map_err(step_error)?;
            Ok(health::summarize(inputs, &deps.settings.thresholds))
        })
        .await?;
    let incidents: Vec<Finding> = read.incidents().cloned().collect();
    let fingerprints = read.fingerprints();

    let mut context_event_ids = Vec::new();
    if !incidents.is_empty() {
        let payload = ContextRequested {
            project: read.project.clone(),
            environment: read.environment.clone(),
            window,
            architecture_summary: read.architecture_markdown.clone(),
            services: read.affected.clone(),
            findings: incidents.clone(),
            fingerprints: fingerprints.clone(),
            charts: read.charts.clone(),
            demo: deps.demo,
        };
        let event = Event::new(CONTEXT_REQUESTED, &payload)?;
        context_event_ids = step
            .send_event("request-service-context", vec![event])
            .await?;
    }

    // Logged once per cycle: only the call that completes the run gets here.
    tracing::info!(
        project = %read.project.name,
        services = read.services,
        incidents = incidents.len(),
        observations = read.findings.len() - incidents.len(),
        "health cycle analysed"
    );
    Ok(MonitorReport {
        healthy: incidents.is_empty(),
        demo: deps.demo,
        project: read.project.name,
        environment: read.environment.name,
        window,
        services: read.services,
        architecture_markdown: read.architecture_markdown,
        findings_markdown: read.findings_markdown,
        findings: read.findings,
        omitted_findings: read.omitted_findings,
        fingerprints,
        charts: read.charts,
        context_event_ids,
        ignored_services: read.ignored_services,
        omitted_ignored: read.omitted_ignored,
    })
}

/// Everything detection reads, in one place: add new inputs (baselines) here and in
/// [`health::summarize`].
pub(crate) async fn read_inputs(
    deps: &Deps,
    window: TimeWindow,
) -> Result<DetectionInputs, railway::RailwayError> {
    let source = &deps.railway;
    let (architecture, ignored) = deps.settings.services.apply(source.architecture().await?);
    // One request for every service's recent deployments: the suspect of each incident.
    let (resources, http, deployments) = futures::try_join!(
        source.resource_usage(&architecture, window),
        source.http_stats(&architecture, window),
        source.deployments(),
    )?;
    // The services a normal could change the verdict on, read in one request after the window's
    // figures say which they are (none: no request).
    let wanted = detect::baseline_candidates(
        &architecture,
        &http,
        &deps.settings.thresholds,
        railway::MAX_BASELINE_SERVICES,
    );
    let baselines = if wanted.is_empty() {
        Default::default()
    } else {
        source.http_baselines(&wanted, window.start).await?
    };
    Ok(DetectionInputs {
        architecture,
        ignored,
        resources,
        http,
        history: detect::Context {
            baselines,
            deployments,
        },
    })
}
