//! The services an event names, re-read from Railway: the trust boundary of the context, fix,
//! issue and verify functions. Only the named services are read (one aliased request per 18 of
//! them, with the project and environment, their names and the environment checked against the
//! project in the same request), not the whole architecture, which at 2 000 services is 20
//! requests.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::batch::{self, BatchEntry};
use crate::client::RailwayClient;
use crate::error::RailwayError;
use crate::model::{Architecture, Deployment, DeploymentStatus, EnvironmentRef, ProjectRef};
use crate::ops::is_database_image;
use crate::workspace::Target;

/// The `ServiceTargets` template (one service's instance; the project and environment once).
pub const SERVICE_TARGETS_TEMPLATE: &str = include_str!("../graphql/ServiceTargets.graphql");

/// Volume pages read at most (10 000 volumes): a cursor that never ends is a server bug.
const MAX_VOLUME_PAGES: usize = 100;

/// One service an event named, as Railway configures it in the configured environment.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedService {
    /// The service id (the one asked).
    pub id: String,
    /// The service's name, as Railway has it (not cleaned).
    pub name: String,
    /// The GitHub repository it deploys from (`owner/name`), if any.
    pub repo: Option<String>,
    /// The root directory of its source, if set.
    pub root_directory: Option<String>,
    /// Its latest deployment in the environment, if any (status and commit as in
    /// [`Architecture`]).
    pub latest_deployment: Option<Deployment>,
    /// An image of a known database engine, or a volume attached (as in [`Architecture`]).
    pub is_database: bool,
}

/// The client's project and environment as Railway confirmed them (ids and names), and those of
/// the asked services that are instances in that environment (an unknown or foreign id is
/// absent).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedServices {
    /// The project and environment read, by Railway's ids and names.
    pub target: Target,
    /// The asked services found there, in the asked order, without repeats.
    pub services: Vec<NamedService>,
}

impl NamedServices {
    /// The service with this id, if Railway has it in the environment.
    pub fn service(&self, id: &str) -> Option<&NamedService> {
        self.services.iter().find(|s| s.id == id)
    }

    /// The asked services out of a whole architecture (snapshots, the demo).
    pub fn from_architecture(arch: &Architecture, ids: &[String]) -> Self {
        let services = unique(ids)
            .filter_map(|id| arch.service(id))
            .map(|s| NamedService {
                id: s.id.clone(),
                name: s.name.clone(),
                repo: s.source.repo.clone(),
                root_directory: s.root_directory.clone(),
                latest_deployment: s.latest_deployment.clone(),
                is_database: s.is_database,
            })
            .collect();
        Self {
            target: Target {
                project: arch.project.clone(),
                environment: arch.environment.clone(),
            },
            services,
        }
    }
}

fn unique(ids: &[String]) -> impl Iterator<Item = &String> {
    let mut seen = BTreeSet::new();
    ids.iter().filter(move |id| seen.insert(id.as_str()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentNode {
    id: String,
    name: String,
    project_id: String,
    volume_instances: VolumeConnection,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VolumeConnection {
    page_info: PageInfo,
    edges: Vec<VolumeEdge>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VolumeEdge {
    node: VolumeNode,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VolumeNode {
    service_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceNode {
    service_id: String,
    service_name: String,
    environment_id: String,
    root_directory: Option<String>,
    source: Option<SourceNode>,
    latest_deployment: Option<DeploymentNode>,
    service: ProjectOf,
}

#[derive(Debug, Deserialize)]
struct SourceNode {
    repo: Option<String>,
    image: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentNode {
    id: String,
    status: DeploymentStatus,
    created_at: String,
    meta: Option<Value>,
}

impl From<DeploymentNode> for Deployment {
    fn from(d: DeploymentNode) -> Self {
        Self {
            commit_hash: crate::ops::meta_str(d.meta.as_ref(), "commitHash"),
            id: d.id,
            status: d.status,
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectOf {
    project_id: String,
}

/// What one request answered: the project and environment (when asked) and the instances, by
/// index.
#[derive(Default)]
struct Answer {
    project: Option<ProjectRef>,
    environment: Option<EnvironmentNode>,
    instances: Vec<(usize, InstanceNode)>,
}

/// An error that says this one service cannot be read with this token in this environment,
/// once the environment itself was read with the same token: Railway answers an unknown or
/// foreign service id with a GraphQL error (or *Not Authorized*).
fn is_refusal(e: &RailwayError) -> bool {
    matches!(
        e,
        RailwayError::GraphQl { .. } | RailwayError::Unauthorized { .. }
    )
}

impl RailwayClient {
    /// The services `ids` names, each re-read from Railway in this client's project and
    /// environment: `ceil((n + 2) / 20)` requests (two aliases for the project and the
    /// environment with its volumes, one per service). A batch Railway refuses (an id it does not know voids the whole
    /// answer) is re-read service by service, so the unknown id is the one left out.
    pub async fn named_services(&self, ids: &[String]) -> Result<NamedServices, RailwayError> {
        let ids: Vec<&String> = unique(ids).collect();
        let Value::Object(shared) = json!({
            "projectId": self.credentials.project_id,
            "environmentId": self.credentials.environment_id,
        }) else {
            unreachable!("json! object literal")
        };
        // Entry 0 is the project and the environment, then one entry per service.
        let share = |aliases| batch::Share {
            aliases,
            points: 0,
            cost: 1,
        };
        let shares: Vec<batch::Share> = std::iter::once(share(2))
            .chain(ids.iter().map(|_| share(1)))
            .collect();
        let chunks = batch::pack(&shares, batch::REQUEST_BUDGET);
        let shared = &shared;
        let ids = &ids;
        let reads = chunks.into_iter().map(|range| async move {
            let with_env = range.start == 0;
            let services: Vec<usize> = range.filter(|&i| i > 0).map(|i| i - 1).collect();
            let entries = target_entries(ids, &services, with_env);
            match self.targets_request(&entries, &services, shared).await {
                Ok(answer) => Ok(answer),
                Err(e) if is_refusal(&e) => {
                    tracing::warn!(error = %e, "service batch refused, reading services one by one");
                    let mut answer = Answer::default();
                    if with_env {
                        // Read alone, the environment's own error is the one to report.
                        let env = target_entries(ids, &[], true);
                        let alone = self.targets_request(&env, &[], shared).await?;
                        answer.project = alone.project;
                        answer.environment = alone.environment;
                    }
                    for &i in &services {
                        let one = target_entries(ids, &[i], false);
                        match self.targets_request(&one, &[i], shared).await {
                            Ok(a) => answer.instances.extend(a.instances),
                            Err(e) if is_refusal(&e) => {
                                tracing::warn!(service_id = %ids[i], error = %e, "named service not readable in this environment");
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Ok::<_, RailwayError>(answer)
                }
                Err(e) => Err(e),
            }
        });
        let mut project = None;
        let mut environment = None;
        let mut instances = Vec::new();
        for answer in futures::future::try_join_all(reads).await? {
            project = project.or(answer.project);
            environment = environment.or(answer.environment);
            instances.extend(answer.instances);
        }
        let missing = || RailwayError::MissingData {
            operation: "ServiceTargetsBatch".into(),
        };
        let (project, environment) = (
            project.ok_or_else(missing)?,
            environment.ok_or_else(missing)?,
        );
        if project.id != environment.project_id {
            // Railway answers `environment(id, projectId)` by id; a mismatch means the pair was
            // never one target.
            return Err(RailwayError::GraphQl {
                operation: "ServiceTargetsBatch".into(),
                messages: vec![format!(
                    "environment {:?} belongs to project {:?}, not {:?}",
                    environment.id, environment.project_id, project.id
                )],
            });
        }
        let volumes = self
            .volume_owners(environment.volume_instances, shared)
            .await?;
        instances.sort_by_key(|(i, _)| *i);
        let services = instances
            .into_iter()
            .filter(|(i, n)| {
                let ok = n.service_id == *ids[*i]
                    && n.environment_id == environment.id
                    && n.service.project_id == environment.project_id;
                if !ok {
                    tracing::warn!(service_id = %ids[*i], "instance is not the named service in this environment; left out");
                }
                ok
            })
            .map(|(_, n)| {
                let source = n.source.unwrap_or(SourceNode {
                    repo: None,
                    image: None,
                });
                NamedService {
                    is_database: volumes.contains(&n.service_id)
                        || source.image.as_deref().is_some_and(is_database_image),
                    id: n.service_id,
                    name: n.service_name,
                    repo: source.repo,
                    root_directory: n.root_directory,
                    latest_deployment: n.latest_deployment.map(Deployment::from),
                }
            })
            .collect();
        Ok(NamedServices {
            target: Target {
                project,
                environment: EnvironmentRef {
                    id: environment.id,
                    name: environment.name,
                },
            },
            services,
        })
    }

    /// One request over `entries` (the environment first when asked, then `services` in order).
    async fn targets_request(
        &self,
        entries: &[BatchEntry],
        services: &[usize],
        shared: &Map<String, Value>,
    ) -> Result<Answer, RailwayError> {
        let doc = batch::build(SERVICE_TARGETS_TEMPLATE, entries, shared)
            .map_err(RailwayError::Config)?;
        let mut data: batch::BatchData = self
            .query_document(&doc.operation, &doc.query, doc.variables)
            .await?;
        let op = doc.operation.as_str();
        let decode = |e: serde_json::Error| RailwayError::Decode {
            operation: op.to_owned(),
            reason: e.to_string(),
        };
        let offset = usize::from(entries.len() > services.len());
        let mut answer = Answer::default();
        if offset == 1 {
            answer.project = batch::take(&mut data, 0, "project").map_err(decode)?;
            answer.environment = batch::take(&mut data, 0, "environment").map_err(decode)?;
        }
        for (bi, &i) in services.iter().enumerate() {
            if let Some(n) = batch::take(&mut data, bi + offset, "instance").map_err(decode)? {
                answer.instances.push((i, n));
            }
        }
        Ok(answer)
    }

    /// Services with a volume: the first page came with the first batch; further pages (past
    /// 100 volumes) are read on their own.
    async fn volume_owners(
        &self,
        mut page: VolumeConnection,
        shared: &Map<String, Value>,
    ) -> Result<BTreeSet<String>, RailwayError> {
        let mut owners = BTreeSet::new();
        for _ in 0..MAX_VOLUME_PAGES {
            let next = page.end_cursor_if_more();
            owners.extend(page.edges.into_iter().filter_map(|e| e.node.service_id));
            let Some(cursor) = next else { break };
            let mut vars = shared.clone();
            vars.insert("volumesAfter".into(), json!(cursor));
            let entries = target_entries(&[], &[], true);
            page = self
                .targets_request(&entries, &[], &vars)
                .await?
                .environment
                .ok_or_else(|| RailwayError::MissingData {
                    operation: "ServiceTargetsBatch".into(),
                })?
                .volume_instances;
        }
        Ok(owners)
    }
}

/// The project-and-environment entry (when asked), then one entry per service of `services`.
fn target_entries(ids: &[&String], services: &[usize], with_env: bool) -> Vec<BatchEntry> {
    let env = with_env.then(|| BatchEntry {
        vars: BTreeMap::new(),
        fields: vec!["project", "environment"],
    });
    env.into_iter()
        .chain(services.iter().map(|&i| BatchEntry {
            vars: BTreeMap::from([("serviceId", json!(ids[i]))]),
            fields: vec!["instance"],
        }))
        .collect()
}

impl VolumeConnection {
    fn end_cursor_if_more(&self) -> Option<String> {
        if self.page_info.has_next_page {
            self.page_info.end_cursor.clone()
        } else {
            None
        }
    }
}
