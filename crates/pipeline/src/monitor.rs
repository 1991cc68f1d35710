//! `monitor-project-health`: three reads, pure detection, one event when something is wrong.
//!
//! Steps per cycle are constant in the number of services: `read-architecture`,
//! `read-resource-usage`, `read-http-stats` and `read-deployments` (the last three planned in
//! parallel), then at most one `request-service-context` send.

use std::sync::Arc;

use detect::Finding;
use inngest::{Ctx, Event, ServableFunction, Trigger};
use railway::model::{Architecture, HttpReport, ResourceReport, TimeWindow};
use serde::{Deserialize, Serialize};

use crate::events::{
    AffectedService, CONTEXT_REQUESTED, ContextRequested, HEALTH_CHECK_REQUESTED,
    HealthCheckRequested,
};
use crate::{Deps, MONITOR_FN, step_error};

/// What a cycle returns: readable in the Inngest UI (markdown) and structured (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorReport {
    pub healthy: bool,
    pub demo: bool,
    pub project: String,
    pub environment: String,
    pub window: TimeWindow,
    /// Compact markdown: the architecture and the findings.
    pub architecture_markdown: String,
    pub findings_markdown: String,
    /// Every finding, observations included.
    pub findings: Vec<Finding>,
    pub fingerprints: Vec<String>,
    /// The signal of each incident over the window (series, threshold, deployments).
    #[serde(default)]
    pub charts: Vec<charts::Chart>,
    /// Ids of the `autofix/service.context.requested` event, when one was sent.
    pub context_event_ids: Vec<String>,
    /// Services of the environment this cycle did not monitor, and why.
    #[serde(default)]
    pub ignored_services: Vec<crate::IgnoredService>,
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

    let arch: Architecture = step
        .run("read-architecture", || async {
            deps.railway.architecture().await.map_err(step_error)
        })
        .await?;
    // Filtered after the step, so the Inngest UI still shows the whole environment.
    let (arch, ignored_services) = deps.settings.services.apply(arch);

    let (resources, http, deployments) = futures::join!(
        step.run("read-resource-usage", || async {
            deps.railway
                .resource_usage(&arch, window)
                .await
                .map_err(step_error)
        }),
        step.run("read-http-stats", || async {
            deps.railway
                .http_stats(&arch, window)
                .await
                .map_err(step_error)
        }),
        // One request for every service's recent deployments: the suspect of each incident.
        step.run("read-deployments", || async {
            deps.railway.deployments().await.map_err(step_error)
        }),
    );
    let resources: ResourceReport = resources?;
    let http: HttpReport = http?;
    // The services a normal could change the verdict on, read in one request after the window's
    // figures say which they are (none: no request).
    let wanted = detect::baseline_candidates(
        &arch,
        &http,
        &deps.settings.thresholds,
        railway::MAX_BASELINE_SERVICES,
    );
    let baselines = if wanted.is_empty() {
        Default::default()
    } else {
        step.run("read-baselines", || async {
            deps.railway
                .http_baselines(&wanted, window.start)
                .await
                .map_err(step_error)
        })
        .await?
    };
    let history = detect::Context {
        baselines,
        deployments: deployments?,
    };

    let report = detect::detect_with(
        &arch,
        &resources,
        &http,
        &deps.settings.thresholds,
        &history,
    );
    let architecture_markdown = detect::architecture_summary_markdown(&arch, Some(&resources));
    let findings_markdown = detect::findings_markdown(&report, &arch);
    let incidents: Vec<Finding> = report.incidents().cloned().collect();
    let charts = charts::for_findings(&incidents, &arch, &resources, &http);
    let mut fingerprints: Vec<String> = incidents.iter().map(|f| f.fingerprint.clone()).collect();
    fingerprints.sort();
    fingerprints.dedup();

    let mut context_event_ids = Vec::new();
    if !incidents.is_empty() {
        let payload = ContextRequested {
            project: arch.project.clone(),
            environment: arch.environment.clone(),
            window,
            architecture_summary: architecture_markdown.clone(),
            services: affected_services(&arch, &incidents),
            findings: incidents.clone(),
            fingerprints: fingerprints.clone(),
            charts: charts.clone(),
            demo: deps.demo,
        };
        let event = Event::new(CONTEXT_REQUESTED, &payload)?;
        context_event_ids = step
            .send_event("request-service-context", vec![event])
            .await?;
    }

    // Logged once per cycle: only the call that completes the run gets here.
    tracing::info!(
        project = %arch.project.name,
        services = arch.services.len(),
        incidents = incidents.len(),
        observations = report.findings.len() - incidents.len(),
        "health cycle analysed"
    );
    Ok(MonitorReport {
        healthy: incidents.is_empty(),
        demo: deps.demo,
        project: arch.project.name.clone(),
        environment: arch.environment.name.clone(),
        window,
        architecture_markdown,
        findings_markdown,
        findings: report.findings,
        fingerprints,
        charts,
        context_event_ids,
        ignored_services,
    })
}

/// Services with incidents, plus the databases of the environment: a slow API is often a slow
/// database, and its logs are the evidence.
pub(crate) fn affected_services(
    arch: &Architecture,
    incidents: &[Finding],
) -> Vec<AffectedService> {
    arch.services
        .iter()
        .filter(|s| s.is_database || incidents.iter().any(|f| f.service_id == s.id))
        .map(|s| AffectedService {
            id: s.id.clone(),
            name: s.name.clone(),
            repo: s.source.repo.clone(),
            root_directory: s.root_directory.clone(),
            deployment_id: s.latest_deployment.as_ref().map(|d| d.id.clone()),
            is_database: s.is_database,
        })
        .collect()
}
