//! `verify-fix`: follows an autofix PR to production and says, with numbers, whether it worked.
//!
//! ```text
//! autofix/pr.opened ─ poll the PR (durable sleeps, or a GitHub webhook event) ─┬─ open at the maximum → stale
//!                                                                              ├─ closed unmerged → label autofix:rejected → rejected
//!                                                                              └─ merged → wait for the Railway deployment of the
//!   merge commit (or a descendant) → SUCCESS → settle → the after window elapses → detection
//!   over the after window + before/after comparison → PR comment → resolved / ineffective event
//! ```
//!
//! Every wait is a durable sleep (or `wait_for_event`) between short steps; the number of polls is
//! bounded by [`VerifyPlan`] so a run stays within Inngest's 1 000 steps whatever the settings.

use std::sync::Arc;
use std::time::Duration;

use compare::{MetricComparison, MetricInput, Verdict};
use detect::{Finding, FindingKind};
use inngest::{Ctx, Event, ServableFunction, Trigger, WaitForEvent};
use railway::model::{DeploymentStatus, TimeWindow};
use serde::{Deserialize, Serialize};

use crate::events::{
    FIX_INEFFECTIVE, FixVerified, INCIDENT_RESOLVED, PR_OPENED, PrOpened, webhook,
};
use crate::settings::VerifyPlan;
use crate::{Deps, VERIFY_FN, step_error};

/// What a `verify-fix` run ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyStatus {
    /// Merged, deployed, measured: `verdict` says how it went.
    Verified,
    /// Closed without merge: labelled `autofix:rejected`, no new PR for the cooldown.
    Rejected,
    /// Still open when the maximum wait ran out; nothing was written.
    Stale,
    /// Merged, but no deployment of the merge commit reached `SUCCESS` in time.
    NotDeployed,
    /// The deployment of the merge commit failed or crashed.
    DeployFailed,
    /// Nothing to follow: no GitHub client, or the PR does not exist.
    Skipped,
}

/// The output of one `verify-fix` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// How the run ended.
    pub status: VerifyStatus,
    /// The fix PR's repository, `owner/name`.
    pub repo: String,
    /// The fix PR's number.
    pub pr_number: u64,
    /// The repository incident's fingerprint.
    pub fingerprint: String,
    /// Why the run ended the way it did, in one line.
    pub reason: String,
    /// The window the incident was detected in: the "before" sample.
    pub incident_window: TimeWindow,
    /// The commit the merge produced, once merged.
    pub merge_commit: Option<String>,
    /// The deployment of the merge commit, once seen.
    pub deployment: Option<DeploymentSeen>,
    /// The window measured after the deployment settled.
    pub after_window: Option<TimeWindow>,
    /// The verdict over every compared metric.
    pub verdict: Option<Verdict>,
    /// One comparison per finding metric.
    pub comparisons: Vec<MetricComparison>,
    /// The comment posted on the PR, when posting worked.
    pub comment_url: Option<String>,
    /// Ids of the `autofix/incident.resolved` or `autofix/fix.ineffective` event sent.
    pub event_ids: Vec<String>,
}

/// The Railway deployment that carries the fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentSeen {
    /// Railway service id.
    pub service_id: String,
    /// Railway service name.
    pub service: String,
    /// Railway deployment id.
    pub deployment_id: String,
    /// The commit it was built from: the merge commit.
    pub commit: String,
    /// Its status at the last poll.
    pub status: DeploymentStatus,
    /// When this run first saw it `SUCCESS` (Unix seconds): the settle period starts here.
    pub success_seen_at: Option<i64>,
}

/// What the `measure` step returns: the comparison, computed inside the step so raw series never
/// enter the run state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Measured {
    comparisons: Vec<MetricComparison>,
    verdict: Verdict,
    /// Findings detection reports over the after window on the affected services.
    after_findings: Vec<String>,
}

pub(crate) fn function(deps: Arc<Deps>) -> ServableFunction {
    inngest::function(VERIFY_FN, "Verify fix")
        .trigger(Trigger::event(PR_OPENED))
        .retries(deps.settings.retries)
        // One follower per pull request, however many times the event is sent.
        .concurrency(1, Some("event.data.pr_key"))
        .handler(move |ctx: Ctx<PrOpened>| {
            let deps = deps.clone();
            async move {
                let report = run(&deps, ctx).await?;
                tracing::info!(
                    repo = %report.repo,
                    pr = report.pr_number,
                    status = ?report.status,
                    verdict = report.verdict.map_or("-", Verdict::as_str),
                    "verify run finished"
                );
                Ok(report)
            }
        })
}

async fn run(deps: &Deps, ctx: Ctx<PrOpened>) -> Result<VerifyReport, inngest::Error> {
    let req = &ctx.event.data;
    let step = &ctx.step;
    let settings = &deps.settings;
    let plan = VerifyPlan::from_settings(settings);
    let mut report = VerifyReport {
        status: VerifyStatus::Skipped,
        repo: req.repo.clone(),
        pr_number: req.pr_number,
        fingerprint: req.fingerprint.clone(),
        reason: String::new(),
        incident_window: req.window,
        merge_commit: None,
        deployment: None,
        after_window: None,
        verdict: None,
        comparisons: Vec::new(),
        comment_url: None,
        event_ids: Vec::new(),
    };
    let Some(gh) = &deps.github else {
        report.reason = "GITHUB_TOKEN is not set: the pull request cannot be followed".into();
        return Ok(report);
    };

    // 1. Follow the PR until it is merged or closed, or the maximum wait runs out.
    let mut pr: Option<github::PullDetails> = None;
    for i in 0..plan.pr_polls {
        if i > 0 {
            wait_or_webhook(
                step,
                "wait-for-merge",
                plan.pr_interval,
                settings.github_webhooks.then(|| {
                    (
                        webhook::PULL_REQUEST_CLOSED,
                        "async.data.repository.full_name == event.data.repo && async.data.pull_request.number == event.data.pr_number".to_owned(),
                    )
                }),
            )
            .await?;
        }
        let seen: Option<github::PullDetails> = step
            .run("read-pr", || async {
                gh.pull(&req.repo, req.pr_number).await.map_err(step_error)
            })
            .await?;
        let Some(seen) = seen else {
            report.reason = format!("{}#{} does not exist on GitHub", req.repo, req.pr_number);
            return Ok(report);
        };
        let done = !seen.is_open();
        pr = Some(seen);
        if done {
            break;
        }
    }
    let pr = pr.expect("at least one PR poll");

    if pr.is_open() {
        report.status = VerifyStatus::Stale;
        report.reason = format!(
            "still open after {}: stopped following it",
            inngest::format_duration(settings.verify_max_wait)
        );
        return Ok(report);
    }

    if pr.closed_unmerged() {
        report.comment_url = step
            .run("record-rejection", || async {
                gh.add_label(&req.repo, req.pr_number, github::REJECTED_LABEL)
                    .await
                    .map_err(step_error)?;
                let body = rejection_comment(&req.fingerprint, settings.rejected_cooldown);
                gh.comment(&req.repo, req.pr_number, &body)
                    .await
                    .map(Some)
                    .map_err(step_error)
            })
            .await?;
        report.status = VerifyStatus::Rejected;
        report.reason = format!(
            "closed without merge: labelled {} — no new PR for this incident for {} unless the label is removed or the PR reopened",
            github::REJECTED_LABEL,
            inngest::format_duration(settings.rejected_cooldown)
        );
        return Ok(report);
    }

    // 2. Merged: wait for the deployment of the merge commit (or a later commit that contains it).
    let merge = pr.merge_commit_sha.clone().unwrap_or_default();
    report.merge_commit = Some(merge.clone()).filter(|m| !m.is_empty());
    let mut deployment: Option<DeploymentSeen> = None;
    for i in 0..plan.deploy_polls {
        if i > 0 {
            step.sleep("wait-for-deployment", plan.deploy_interval)
                .await?;
        }
        let previous = deployment.clone();
        deployment = step
            .run("find-deployment", || async {
                // Each poll reads only the fixed services, not the architecture.
                let (_, named) = deps
                    .named_services(&req.project.id, &req.environment.id, &req.service_ids)
                    .await?;
                find_deployment(
                    gh,
                    &req.repo,
                    &merge,
                    &req.service_ids,
                    &named,
                    previous,
                    (deps.now)(),
                )
                .await
            })
            .await?;
        match deployment.as_ref().map(|d| &d.status) {
            Some(DeploymentStatus::Success) => break,
            Some(s) if s.is_broken() => break,
            _ => {}
        }
    }
    report.deployment = deployment.clone();
    let Some(deployed) = deployment.filter(|d| d.status == DeploymentStatus::Success) else {
        let failed = report
            .deployment
            .as_ref()
            .is_some_and(|d| d.status.is_broken());
        report.status = if failed {
            VerifyStatus::DeployFailed
        } else {
            VerifyStatus::NotDeployed
        };
        report.reason = if failed {
            "the Railway deployment of the merge commit failed: the fix never ran".into()
        } else {
            format!(
                "no Railway deployment of {} (or a later commit) reached SUCCESS within {}",
                short(&merge),
                inngest::format_duration(settings.verify_deploy_timeout)
            )
        };
        let body = deploy_problem_comment(&report);
        report.comment_url = post_verdict(step, gh, req, &body).await?;
        return Ok(report);
    };

    // 3. Settle, then let a whole window of traffic pass on the new code.
    let success_at = deployed.success_seen_at.unwrap_or((deps.now)());
    let window_len = req.window.seconds().max(300);
    let start = success_at + settings.verify_settle.as_secs() as i64;
    let after = TimeWindow {
        start,
        end: start + window_len,
    };
    report.after_window = Some(after);
    // Railway's metrics trail real time by a little; a minute of margin keeps the last bucket.
    let wait_until = after.end + 60;
    let remaining = wait_until - (deps.now)();
    if remaining > 0 {
        step.sleep("settle-and-observe", Duration::from_secs(remaining as u64))
            .await?;
    }

    // 4. The same detection over the after window, and the comparison with the incident.
    let measured: Measured = step
        .run("measure", || async {
            let (source, mut arch) = deps
                .target_architecture(&req.project.id, &req.environment.id)
                .await?;
            // Usage stays environment-wide (`metrics` answers every service, so its slices are
            // planned for all of them); only the fixed services' HTTP figures are read: at 2 000
            // services the whole environment's over two windows would be hundreds of requests.
            let environment_services = arch.services.len();
            arch.services.retain(|s| req.service_ids.contains(&s.id));
            let (before_res, before_http, after_res, after_http) = futures::try_join!(
                source.resource_usage(environment_services, req.window),
                source.http_stats(&arch, req.window),
                source.resource_usage(environment_services, after),
                source.http_stats(&arch, after),
            )
            .map_err(step_error)?;
            let after_report = detect::detect(&arch, &after_res, &after_http, &settings.thresholds);
            let after_findings: Vec<&Finding> = after_report
                .incidents()
                .filter(|f| req.service_ids.contains(&f.service_id))
                .collect();
            let comparisons = compare_findings(
                &req.findings,
                &after_findings,
                (&before_res, &before_http),
                (&after_res, &after_http),
            );
            Ok(Measured {
                verdict: compare::overall(&comparisons),
                after_findings: after_findings.iter().map(|f| f.evidence.clone()).collect(),
                comparisons,
            })
        })
        .await?;
    report.status = VerifyStatus::Verified;
    report.verdict = Some(measured.verdict);
    report.comparisons = measured.comparisons;
    report.reason = format!(
        "{} after deploying {}",
        measured.verdict.as_str(),
        short(&deployed.commit)
    );

    // 5. Tell the engineer on the PR, and the rest of the system by event.
    let body = verdict_comment(&report, &deployed, after, &measured.after_findings);
    report.comment_url = post_verdict(step, gh, req, &body).await?;
    let name = match measured.verdict {
        Verdict::Fixed => Some(INCIDENT_RESOLVED),
        Verdict::NotFixed | Verdict::Improved => Some(FIX_INEFFECTIVE),
        Verdict::Inconclusive => None,
    };
    if let Some(name) = name {
        let data = FixVerified {
            repo: req.repo.clone(),
            pr_number: req.pr_number,
            pr_url: req.pr_url.clone(),
            fingerprint: req.fingerprint.clone(),
            project: req.project.clone(),
            environment: req.environment.clone(),
            service_ids: req.service_ids.clone(),
            verdict: measured.verdict,
            comparisons: report.comparisons.clone(),
            comment_url: report.comment_url.clone(),
            merge_commit: report.merge_commit.clone(),
            after_window: after,
        };
        report.event_ids = step
            .send_event("send-verdict", vec![Event::new(name, &data)?])
            .await?;
    }
    Ok(report)
}

/// A durable sleep, or with webhooks a wait for the matching GitHub event that ends early.
/// The `post-verdict` step: the one comment that ends a verification (a verdict, or why there
/// is none); its URL goes into the report.
async fn post_verdict(
    step: &inngest::Step,
    gh: &github::GitHub,
    req: &PrOpened,
    body: &str,
) -> Result<Option<String>, inngest::Error> {
    step.run("post-verdict", || async {
        gh.comment(&req.repo, req.pr_number, body)
            .await
            .map(Some)
            .map_err(step_error)
    })
    .await
}

pub(crate) async fn wait_or_webhook(
    step: &inngest::Step,
    id: &str,
    interval: Duration,
    webhook: Option<(&str, String)>,
) -> Result<(), inngest::Error> {
    match webhook {
        None => step.sleep(id, interval).await,
        Some((event, if_expr)) => step
            .wait_for_event(
                id,
                WaitForEvent {
                    event: event.into(),
                    timeout: interval,
                    if_expr: Some(if_expr),
                },
            )
            .await
            .map(|_| ()),
    }
}

/// The deployment of `merge` (or of a descendant of it) among the affected services' latest
/// deployments; the first `SUCCESS` sighting is remembered across polls.
async fn find_deployment(
    gh: &github::GitHub,
    repo: &str,
    merge: &str,
    service_ids: &[String],
    named: &railway::NamedServices,
    previous: Option<DeploymentSeen>,
    now: i64,
) -> Result<Option<DeploymentSeen>, inngest::Error> {
    for id in service_ids {
        let Some(svc) = named.service(id) else {
            continue;
        };
        if svc.repo.as_deref() != Some(repo) {
            continue;
        }
        let Some(dep) = &svc.latest_deployment else {
            continue;
        };
        let Some(commit) = dep.commit_hash.clone() else {
            continue;
        };
        let contains_merge = commit == merge
            || (!merge.is_empty()
                && gh
                    .compare(repo, merge, &commit)
                    .await
                    .map_err(step_error)?
                    .is_some_and(|c| c.contains_base()));
        if !contains_merge {
            continue;
        }
        let same = previous.as_ref().filter(|p| p.deployment_id == dep.id);
        let success_seen_at = match (&dep.status, same.and_then(|p| p.success_seen_at)) {
            (DeploymentStatus::Success, Some(t)) => Some(t),
            (DeploymentStatus::Success, None) => Some(now),
            _ => None,
        };
        return Ok(Some(DeploymentSeen {
            service_id: svc.id.clone(),
            service: svc.name.clone(),
            deployment_id: dep.id.clone(),
            commit,
            status: dep.status.clone(),
            success_seen_at,
        }));
    }
    Ok(None)
}

/// One comparison per incident finding: the finding's own series before and after, and whether
/// detection still reports it.
fn compare_findings(
    incident: &[crate::events::FindingRef],
    after_findings: &[&Finding],
    before: (&railway::model::ResourceReport, &railway::model::HttpReport),
    after: (&railway::model::ResourceReport, &railway::model::HttpReport),
) -> Vec<MetricComparison> {
    let policy = compare::Policy::default();
    incident
        .iter()
        .map(|f| {
            let still_detected = after_findings
                .iter()
                .any(|a| a.service_id == f.service_id && a.kind == f.kind);
            let input = MetricInput {
                service: &f.service,
                metric: &f.metric,
                unit: &f.unit,
                threshold: f.threshold,
                incident_value: f.value,
                still_detected,
            };
            let series =
                |(res, http): (&railway::model::ResourceReport, &railway::model::HttpReport)| {
                    compare::samples::series(&f.metric, &f.service_id, res, http)
                };
            match (f.kind, series(before), series(after)) {
                (FindingKind::Deployment, _, _) | (_, None, _) | (_, _, None) => {
                    compare::judge_state(&input)
                }
                (_, Some(b), Some(a)) => compare::judge(&input, &b, &a, &policy),
            }
        })
        .collect()
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn fmt_value(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(v) if v.abs() >= 100.0 => format!("{v:.0} {unit}"),
        Some(v) => format!("{v:.1} {unit}"),
        None => "—".into(),
    }
}

/// The verdict as a PR comment: a headline, one table row per metric, and what it means.
fn verdict_comment(
    report: &VerifyReport,
    deployed: &DeploymentSeen,
    after: TimeWindow,
    after_findings: &[String],
) -> String {
    use std::fmt::Write;
    let verdict = report.verdict.unwrap_or(Verdict::Inconclusive);
    let headline = match verdict {
        Verdict::Fixed => "✅ **Fixed** — the incident is gone in production",
        Verdict::Improved => "🟡 **Improved** — significantly better, but not back to healthy",
        Verdict::Inconclusive => "⚪ **Inconclusive** — not enough evidence either way yet",
        Verdict::NotFixed => "❌ **Not fixed** — the problem is still there in production",
    };
    let mut out = String::new();
    let _ = writeln!(out, "### Autofix verification: {headline}\n");
    let _ = writeln!(
        out,
        "Deployment `{}` of `{}` on **{}** reached SUCCESS. Before: the incident window {} – {}; after: {} – {} (once the settle period had passed).\n",
        deployed.deployment_id,
        short(&deployed.commit),
        deployed.service,
        railway::timefmt::rfc3339(report.incident_window.start),
        railway::timefmt::rfc3339(report.incident_window.end),
        railway::timefmt::rfc3339(after.start),
        railway::timefmt::rfc3339(after.end),
    );
    let _ = writeln!(
        out,
        "| service | metric | threshold | before (median / p95, n) | after (median / p95, n) | shift | Cliff's δ | p | verdict |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for c in &report.comparisons {
        let side = |s: &compare::SampleSummary| {
            if s.n == 0 {
                "—".to_owned()
            } else {
                format!(
                    "{} / {} (n={})",
                    fmt_value(s.median, &c.unit),
                    fmt_value(s.p95, &c.unit),
                    s.n
                )
            }
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | **{}** |",
            c.service,
            c.metric,
            fmt_value(Some(c.threshold), &c.unit),
            side(&c.before),
            side(&c.after),
            fmt_value(c.shift, &c.unit),
            c.cliffs_delta.map_or("—".into(), |d| format!("{d:.2}")),
            c.test
                .map_or("—".into(), |t| format!("{:.4}", t.p_decrease)),
            c.verdict.as_str()
        );
    }
    out.push('\n');
    for c in &report.comparisons {
        let _ = writeln!(out, "- **{}** `{}`: {}.", c.service, c.metric, c.reason);
    }
    if !after_findings.is_empty() {
        let _ = writeln!(out, "\nStill detected after the deploy:");
        for f in after_findings {
            let _ = writeln!(out, "- {f}");
        }
    }
    let meaning = match verdict {
        Verdict::Fixed => "Nothing to do: Autofix closes this incident.",
        Verdict::Improved => {
            "The change helped; the remaining load or errors need another look (Autofix may open a follow-up for the incident if it is still detected)."
        }
        Verdict::Inconclusive => {
            "Too little traffic or too small a difference to decide; the figures above say how many more samples would."
        }
        Verdict::NotFixed => {
            "The root cause is probably elsewhere: revert or investigate. The incident stays open and is detected again."
        }
    };
    let _ = writeln!(
        out,
        "\n{meaning}\n\n<sub>Mann-Whitney U (one-sided, α = 0.05, tie- and continuity-corrected), Cliff's δ and the Hodges-Lehmann shift (before − after) per metric; verdict = the worst metric.</sub>"
    );
    out
}

fn deploy_problem_comment(report: &VerifyReport) -> String {
    format!(
        "### Autofix verification: ⚠️ {}\n\n{}.\n",
        match report.status {
            VerifyStatus::DeployFailed => "the deployment failed",
            _ => "no deployment",
        },
        report.reason
    )
}

fn rejection_comment(fingerprint: &str, cooldown: Duration) -> String {
    format!(
        "Autofix will not open another pull request for incident `{fingerprint}` for {} because this one was closed without merging (label `{}`).\n\nRemove the label, or reopen this PR, to lift that.\n",
        inngest::format_duration(cooldown),
        github::REJECTED_LABEL
    )
}
