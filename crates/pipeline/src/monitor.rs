//! `monitor-project-health`: one read step that also detects, one event when something is wrong.
//!
//! Steps per cycle are constant in the number of services: `choose-window`, `read-health`
//! (architecture, then CPU/memory, HTTP metrics and the deployment history concurrently, then
//! detection), and at most one `request-service-context` send. Detection runs inside the read
//! step so that what Inngest stores is the verdict, bounded whatever the project's size (see
//! [`crate::health`]), not the metric series (about 8 KB per service).

use std::borrow::Cow;
use std::sync::Arc;

use detect::Finding;
use inngest::{Ctx, Event, ServableFunction, Trigger};
use railway::model::TimeWindow;
use serde::{Deserialize, Serialize};

use crate::events::{
    CONTEXT_REQUESTED, ContextRequested, HEALTH_CHECK_REQUESTED, HealthCheckRequested,
};
use crate::health::{self, DetectionInputs, HealthRead};
use crate::targets::refuse;
use crate::workspace::{MAX_FAN_OUT_BYTES, MAX_TARGETS, TargetSettings, Workspace};
use crate::{Deps, MONITOR_FN, step_error};
use railway::workspace::Target;

/// Concurrency key of a monitor run: its project and environment. Runs without a target (one
/// project, or the cron tick that fans out) share one slot.
pub const TARGET_CONCURRENCY_KEY: &str = "event.data.target_key";

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
    /// Workspace mode: the project and environment this run checked (Railway's ids and names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Workspace fan-out: the `<project id>/<environment id>` keys sent to their own runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fanned_out: Vec<String>,
}

pub(crate) fn function(deps: Arc<Deps>) -> Result<ServableFunction, inngest::ConfigError> {
    let cron = Trigger::cron(&deps.settings.cron)?;
    let mut function = inngest::function(MONITOR_FN, "Monitor project health")
        .trigger(cron)
        .trigger(Trigger::event(HEALTH_CHECK_REQUESTED))
        .retries(deps.settings.retries)
        // Overlapping cycles of one project and environment would only duplicate work and
        // events; the targets of a workspace each have their own slot.
        .concurrency(1, Some(TARGET_CONCURRENCY_KEY));
    if let Some(key) = &deps.settings.railway_budget_key {
        // Inngest enforces this for every replica of the worker: one monitor run per Railway
        // token reads at a time, so the replicas' pacers never add up past the plan's rate.
        function = function.concurrency(1, Some(&format!("\"{key}\"")));
    }
    Ok(function.handler(move |ctx: Ctx<HealthCheckRequested>| {
        let deps = deps.clone();
        async move { run(&deps, ctx).await }
    }))
}

async fn run(deps: &Deps, ctx: Ctx<HealthCheckRequested>) -> Result<MonitorReport, inngest::Error> {
    let data = &ctx.event.data;
    if let Some(m) = data.window_minutes
        && !crate::settings::defaults::WINDOW_MINUTES_RANGE.contains(&m)
    {
        let range = crate::settings::defaults::WINDOW_MINUTES_RANGE;
        return Err(inngest::Error::non_retriable(format!(
            "data.window_minutes must be between {} and {}, got {m}",
            range.start(),
            range.end()
        )));
    }
    let target = match (&deps.workspace, &data.target) {
        (Some(ws), None) => return fan_out(deps, ws, &ctx).await,
        (Some(ws), Some(target)) => {
            if data.target_key.as_deref() != Some(target.key().as_str()) {
                return Err(refuse(format!(
                    "data.target_key must be {:?} (the target's project id/environment id)",
                    target.key()
                )));
            }
            // Checked here by the event's names, and again against Railway's in `read-health`.
            if !ws.selection.matches(target) {
                return Err(refuse(format!(
                    "data.target {} is not selected by AUTOFIX_PROJECTS",
                    target.key()
                )));
            }
            Some(target)
        }
        (None, Some(target)) => {
            return Err(refuse(format!(
                "data.target {} given, but this worker monitors one project (set AUTOFIX_PROJECTS to monitor several)",
                target.key()
            )));
        }
        (None, None) => None,
    };
    let scope = deps.settings.for_target(target);
    let source = match target {
        Some(t) => deps.railway_for(&t.project.id, &t.environment.id),
        None => Cow::Borrowed(&deps.railway),
    };
    let minutes = data.window_minutes.unwrap_or(scope.window_minutes);
    let step = &ctx.step;

    // The window is fixed in a step so every replay of this run analyses the same slice of time.
    let window: TimeWindow = step
        .run("choose-window", || async move {
            Ok(TimeWindow::last_minutes((deps.now)(), i64::from(minutes)))
        })
        .await?;

    let read: HealthRead = step
        .run("read-health", || async {
            let inputs = read_inputs(&source, &scope, target, window).await?;
            Ok(health::summarize(inputs, scope.thresholds))
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
        target: target.cloned(),
        fanned_out: Vec::new(),
    })
}

/// Everything detection reads, in one place: add new inputs (baselines) here and in
/// [`health::summarize`]. With a `target`, Railway's project and environment must be the ones
/// the event names (ids and names, so the overrides chosen by name are Railway's).
pub(crate) async fn read_inputs(
    source: &railway::Source,
    scope: &TargetSettings<'_>,
    target: Option<&Target>,
    window: TimeWindow,
) -> Result<DetectionInputs, inngest::Error> {
    let arch = source.architecture().await.map_err(step_error)?;
    if let Some(t) = target
        && (arch.project != t.project || arch.environment != t.environment)
    {
        return Err(refuse(format!(
            "data.target {} names project {:?} / environment {:?}, Railway says {:?} / {:?}",
            t.key(),
            t.project.name,
            t.environment.name,
            arch.project.name,
            arch.environment.name
        )));
    }
    // Usage is read over the whole environment (`metrics` answers every service of it, ignored
    // or not), so its time slices are planned for all of them.
    let environment_services = arch.services.len();
    let (architecture, ignored) = scope.services.apply(arch);
    // One request for every service's recent deployments: the suspect of each incident.
    let (resources, http, deployments) = futures::try_join!(
        source.resource_usage(environment_services, window),
        source.http_stats(&architecture, window),
        source.deployments(),
    )
    .map_err(step_error)?;
    // The services a normal could change the verdict on, read in one request after the window's
    // figures say which they are (none: no request).
    let wanted = detect::baseline_candidates(
        &architecture,
        &http,
        scope.thresholds,
        railway::MAX_BASELINE_SERVICES,
    );
    let baselines = if wanted.is_empty() {
        Default::default()
    } else {
        source
            .http_baselines(&wanted, window.start)
            .await
            .map_err(step_error)?
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

/// Workspace mode, a cron tick or an untargeted request: one `autofix/health.check.requested`
/// per selected project and environment, all in one durable send, so a retried tick sends them
/// once.
async fn fan_out(
    deps: &Deps,
    ws: &Workspace,
    ctx: &Ctx<HealthCheckRequested>,
) -> Result<MonitorReport, inngest::Error> {
    let step = &ctx.step;
    let targets: Vec<Target> = step
        .run("list-targets", || async {
            let all = ws
                .client
                .workspace_targets(ws.workspace_id.as_deref())
                .await
                .map_err(step_error)?;
            Ok(ws.selection.select(&all))
        })
        .await?;
    let events = fan_out_events(&targets, &ctx.event.data)?;
    let ids = if events.is_empty() {
        tracing::warn!("AUTOFIX_PROJECTS selects no project environment the token can see");
        Vec::new()
    } else {
        step.send_event("fan-out", events).await?
    };
    tracing::info!(targets = targets.len(), "workspace cycle fanned out");
    Ok(MonitorReport {
        healthy: true,
        demo: deps.demo,
        project: "workspace".into(),
        environment: String::new(),
        window: TimeWindow { start: 0, end: 0 },
        services: 0,
        architecture_markdown: String::new(),
        findings_markdown: format!(
            "{} project environments are checked in their own runs (events {})",
            targets.len(),
            ids.len()
        ),
        findings: Vec::new(),
        omitted_findings: 0,
        fingerprints: Vec::new(),
        charts: Vec::new(),
        context_event_ids: Vec::new(),
        ignored_services: Vec::new(),
        omitted_ignored: 0,
        target: None,
        fanned_out: targets.iter().map(Target::key).collect(),
    })
}

/// One `autofix/health.check.requested` per target, refused as a whole when the selection is
/// larger than one fan-out may carry (Inngest's per-request limits), so a tick never sends half.
fn fan_out_events(
    targets: &[Target],
    request: &HealthCheckRequested,
) -> Result<Vec<Event>, inngest::Error> {
    if targets.len() > MAX_TARGETS {
        return Err(inngest::Error::non_retriable(format!(
            "AUTOFIX_PROJECTS selects {} project environments; one worker fans out to at most {MAX_TARGETS} (narrow the selection or split it over several workers)",
            targets.len()
        )));
    }
    let events = target_events(targets, request)?;
    // What Inngest measures is the request as sent: each event stamped with `ts`.
    let bytes = inngest::limits::send_request_bytes(&events)?;
    if bytes > MAX_FAN_OUT_BYTES {
        return Err(inngest::Error::non_retriable(format!(
            "the fan-out to {} targets is {bytes} bytes; Inngest accepts at most {MAX_FAN_OUT_BYTES} per request (narrow AUTOFIX_PROJECTS)",
            targets.len()
        )));
    }
    Ok(events)
}

/// The `autofix/health.check.requested` of each target, in order.
fn target_events(
    targets: &[Target],
    request: &HealthCheckRequested,
) -> Result<Vec<Event>, inngest::Error> {
    targets
        .iter()
        .map(|t| {
            let data = HealthCheckRequested {
                window_minutes: request.window_minutes,
                reason: Some(match &request.cron {
                    Some(_) => "workspace cycle (cron)".to_owned(),
                    None => "workspace cycle".to_owned(),
                }),
                cron: None,
                target: Some(t.clone()),
                target_key: Some(t.key()),
            };
            Event::new(HEALTH_CHECK_REQUESTED, &data)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use railway::model::{EnvironmentRef, ProjectRef};

    fn targets(n: usize, name_len: usize) -> Vec<Target> {
        (0..n)
            .map(|i| Target {
                project: ProjectRef {
                    id: format!("p{i}"),
                    name: format!("{i}{}", "n".repeat(name_len)),
                },
                environment: EnvironmentRef {
                    id: format!("e{i}"),
                    name: "production".into(),
                },
            })
            .collect()
    }

    #[test]
    fn a_fan_out_stays_within_one_inngest_request_or_is_refused_whole() {
        let cron = HealthCheckRequested {
            cron: Some("*/10 * * * *".into()),
            ..Default::default()
        };
        let events = fan_out_events(&targets(MAX_TARGETS, 20), &cron).unwrap();
        assert_eq!(events.len(), MAX_TARGETS);
        assert_eq!(events[7].data["target_key"], "p7/e7");
        let e = fan_out_events(&targets(MAX_TARGETS + 1, 20), &cron).unwrap_err();
        assert!(e.message().contains("at most 500"), "{}", e.message());
        let e = fan_out_events(&targets(400, 600), &cron).unwrap_err();
        assert!(e.message().contains("bytes"), "{}", e.message());
    }

    #[test]
    fn the_fan_out_limit_counts_the_timestamps_the_send_adds() {
        let cron = HealthCheckRequested::default();
        // Names long enough that the events alone fit in one request and the stamped request
        // does not: 500 × `,"ts":<13 digits>` is 9 500 bytes.
        let edge = (0..1_000)
            .map(|len| targets(MAX_TARGETS, len))
            .find(|t| {
                let events = target_events(t, &cron).unwrap();
                let unstamped = serde_json::to_vec(&events).unwrap().len();
                unstamped <= MAX_FAN_OUT_BYTES
                    && inngest::limits::send_request_bytes(&events).unwrap() > MAX_FAN_OUT_BYTES
            })
            .expect("a selection between the two sizes");
        let e = fan_out_events(&edge, &cron).unwrap_err();
        assert!(!e.is_retriable());
        assert!(e.message().contains("bytes"), "{}", e.message());
    }
}
