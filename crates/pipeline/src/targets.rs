//! Event data is a request to look, never a fact: the services an event names are re-read from
//! Railway (the configured project and environment only), and the repository, names and
//! fingerprint the functions act on are Railway's and recomputed, never the event's.

use crate::events::{AffectedService, ContextRequested, FixRequested};

/// Service names are Railway's, but whoever may edit the project chooses them: one line,
/// printable, markdown-neutral and capped, as evidence shows them (`evidence::build_context`).
fn clean_name(name: &str) -> String {
    evidence::sanitize::clean_line(name, 80)
}

/// A refusal that no retry can fix: the event names something outside what Railway says.
pub(crate) fn refuse(message: String) -> inngest::Error {
    inngest::Error::non_retriable(message).with_name("UntrustedTarget")
}

/// The event's services as Railway configures them, in the event's order, read with
/// [`read`]. An id Railway does not know in the project/environment read, or a
/// project/environment other than the one read, is refused by name.
pub(crate) fn resolve(
    named: &railway::NamedServices,
    project_id: &str,
    environment_id: &str,
    services: &[AffectedService],
) -> Result<Vec<AffectedService>, inngest::Error> {
    let (project, environment) = (&named.target.project, &named.target.environment);
    if project_id != project.id || environment_id != environment.id {
        return Err(refuse(format!(
            "event names project {project_id:?} / environment {environment_id:?}; this worker monitors only {:?} / {:?}",
            project.id, environment.id
        )));
    }
    services
        .iter()
        .map(|s| {
            let real = named.service(&s.id).ok_or_else(|| {
                refuse(format!(
                    "service id {:?} is not a service of the configured Railway project and environment",
                    s.id
                ))
            })?;
            Ok(AffectedService {
                id: real.id.clone(),
                name: clean_name(&real.name),
                repo: real.repo.clone(),
                root_directory: real.root_directory.clone(),
                deployment_id: real.latest_deployment.as_ref().map(|d| d.id.clone()),
                is_database: real.is_database,
            })
        })
        .collect()
}

/// Re-reads from Railway the services an event names (only those, not the architecture; in
/// workspace mode from the target the event names, refused unless selected) and [`resolve`]s
/// the event's against them. Also returns the source the target is read with.
pub(crate) async fn read<'d>(
    deps: &'d crate::Deps,
    project_id: &str,
    environment_id: &str,
    services: &[AffectedService],
) -> Result<(std::borrow::Cow<'d, railway::Source>, Vec<AffectedService>), inngest::Error> {
    let ids: Vec<String> = services.iter().map(|s| s.id.clone()).collect();
    let (source, named) = deps
        .named_services(project_id, environment_id, &ids)
        .await?;
    let services = resolve(&named, project_id, environment_id, services)?;
    Ok((source, services))
}

/// Replaces the fix request's targets with Railway's `services` (from [`resolve`]): the
/// repository taken from them (one repository per request), finding fingerprints and the
/// incident fingerprint recomputed; the fingerprint must match `^af-[0-9a-f]{12}$` and the
/// event's value.
pub(crate) fn verify_fix_request(
    services: Vec<AffectedService>,
    req: &mut FixRequested,
) -> Result<(), inngest::Error> {
    let mut repos: Vec<Option<String>> = services
        .iter()
        .filter(|s| req.findings.iter().any(|f| f.service_id == s.id))
        .map(|s| s.repo.clone())
        .collect();
    repos.sort();
    repos.dedup();
    let repo = match repos.as_slice() {
        [one] => one.clone(),
        [] => None,
        _ => {
            return Err(refuse(format!(
                "the request's services deploy from several repositories in Railway ({repos:?})"
            )));
        }
    };
    if repo != req.repo {
        return Err(refuse(format!(
            "event names repository {:?}, but Railway's services deploy from {repo:?}",
            req.repo
        )));
    }
    if let Some(r) = &repo {
        fix_plan::commands::validate_repo(r).map_err(|e| refuse(e.to_string()))?;
    }
    align_findings(&services, &mut req.findings)?;
    let key = fix_plan::naming::group_key(
        repo.as_deref(),
        services
            .iter()
            .filter(|s| req.findings.iter().any(|f| f.service_id == s.id))
            .map(|s| s.id.as_str()),
    );
    let fingerprint = fix_plan::naming::incident_fingerprint(&key, &req.findings);
    fix_plan::commands::validate_fingerprint(&fingerprint).map_err(|e| refuse(e.to_string()))?;
    if fingerprint != req.fingerprint {
        return Err(refuse(format!(
            "event fingerprint {:?} does not match {fingerprint:?}, recomputed from Railway's services and the findings",
            req.fingerprint.chars().take(40).collect::<String>()
        )));
    }
    req.services = services;
    req.concurrency_key = key;
    Ok(())
}

/// Every finding must be on one of `services` (already Railway's); its service name and
/// fingerprint are recomputed from them, so an event cannot choose either.
fn align_findings(
    services: &[AffectedService],
    findings: &mut [detect::Finding],
) -> Result<(), inngest::Error> {
    for f in findings {
        let Some(s) = services.iter().find(|s| s.id == f.service_id) else {
            return Err(refuse(format!(
                "a finding names service id {:?}, which the request does not list",
                f.service_id
            )));
        };
        f.fingerprint = detect::fingerprint(&s.id, f.kind);
        f.service = s.name.clone();
    }
    Ok(())
}

/// The context request with Railway's `services` (from [`resolve`]) in place of the event's,
/// its findings aligned to them and its fingerprint list recomputed.
pub(crate) fn verify_context_request(
    services: Vec<AffectedService>,
    req: &ContextRequested,
) -> Result<ContextRequested, inngest::Error> {
    let mut verified = req.clone();
    align_findings(&services, &mut verified.findings)?;
    verified.services = services;
    let mut fingerprints: Vec<String> = verified
        .findings
        .iter()
        .map(|f| f.fingerprint.clone())
        .collect();
    fingerprints.sort();
    fingerprints.dedup();
    verified.fingerprints = fingerprints;
    Ok(verified)
}
