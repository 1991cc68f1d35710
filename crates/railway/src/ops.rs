//! Generated operations for the fixed-shape queries, and their conversion to [`crate::model`].
//! Generated paths stay in this module.

#![allow(
    clippy::upper_case_acronyms,
    reason = "graphql_client keeps the schema's upper-case enum values (`CRASHED`, `CPU_USAGE`) as variant names"
)]

use graphql_client::GraphQLQuery;

use crate::model::{
    Architecture, Deployment, DeploymentStatus, EnvironmentRef, ProjectRef, Service, ServiceSource,
    Volume,
};

type DateTime = String;
type DeploymentMeta = serde_json::Value;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/EnvironmentArchitecture.graphql",
    response_derives = "Debug",
    skip_serializing_none
)]
pub struct EnvironmentArchitecture;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/ProjectEnvironments.graphql",
    response_derives = "Debug"
)]
pub struct ProjectEnvironments;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/EnvironmentResourceMetrics.graphql",
    response_derives = "Debug",
    skip_serializing_none
)]
pub struct EnvironmentResourceMetrics;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/TokenWorkspaces.graphql",
    response_derives = "Debug"
)]
pub struct TokenWorkspaces;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "graphql/WorkspaceProjects.graphql",
    response_derives = "Debug",
    skip_serializing_none
)]
pub struct WorkspaceProjects;

pub(crate) use environment_architecture::ResponseData as ArchitecturePage;
pub(crate) use environment_resource_metrics::ResponseData as MetricsData;
pub(crate) use project_environments::ResponseData as EnvironmentsData;

/// Image names (last path segment, before the tag) Railway's CLI treats as databases, plus a few
/// close relatives.
const DATABASE_IMAGES: &[&str] = &[
    "postgres",
    "postgis",
    "timescale",
    "timescaledb",
    "pgvector",
    "redis",
    "valkey",
    "keydb",
    "dragonfly",
    "mongo",
    "mongodb",
    "mysql",
    "mariadb",
    "memcached",
    "clickhouse",
    "clickhouse-server",
];

/// Whether a Docker image reference names a known database engine.
pub fn is_database_image(image: &str) -> bool {
    let name = image.rsplit('/').next().unwrap_or(image);
    let name = name
        .split(['@', ':'])
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase();
    DATABASE_IMAGES
        .iter()
        .any(|db| name == *db || name.starts_with(&format!("{db}-")))
}

/// Accumulates pages of [`EnvironmentArchitecture`] into an [`Architecture`].
#[derive(Debug, Default)]
pub(crate) struct ArchitectureBuilder {
    project: Option<ProjectRef>,
    environment: Option<EnvironmentRef>,
    services: Vec<Service>,
    volumes: Vec<Volume>,
    pub services_cursor: Option<String>,
    pub volumes_cursor: Option<String>,
    pub services_done: bool,
    pub volumes_done: bool,
}

impl ArchitectureBuilder {
    pub fn done(&self) -> bool {
        self.services_done && self.volumes_done
    }

    pub fn add_page(&mut self, page: ArchitecturePage) {
        use environment_architecture::*;
        self.project = Some(ProjectRef {
            id: page.project.id,
            name: page.project.name,
        });
        let env = page.environment;
        self.environment = Some(EnvironmentRef {
            id: env.id,
            name: env.name,
        });
        if !self.services_done {
            let conn = env.service_instances;
            self.services_done = !conn.page_info.has_next_page;
            self.services_cursor = conn.page_info.end_cursor;
            for edge in conn.edges {
                let n: EnvironmentArchitectureEnvironmentServiceInstancesEdgesNode = edge.node;
                let source = n
                    .source
                    .map(|s| ServiceSource {
                        repo: s.repo,
                        image: s.image,
                    })
                    .unwrap_or_default();
                let mut domains: Vec<String> = n
                    .domains
                    .service_domains
                    .into_iter()
                    .map(|d| d.domain)
                    .collect();
                domains.extend(n.domains.custom_domains.into_iter().map(|d| d.domain));
                let latest_deployment = n.latest_deployment.map(|d| Deployment {
                    id: d.id,
                    status: deployment_status(&d.status),
                    created_at: d.created_at,
                    commit_hash: meta_str(d.meta.as_ref(), "commitHash"),
                });
                self.services.push(Service {
                    id: n.service_id,
                    instance_id: n.id,
                    name: n.service_name,
                    builder: Some(enum_name(&n.builder)),
                    root_directory: n.root_directory,
                    start_command: n.start_command,
                    replicas: n.num_replicas,
                    region: n.region,
                    latest_deployment,
                    is_database: source.image.as_deref().is_some_and(is_database_image),
                    source,
                    domains,
                });
            }
        }
        if !self.volumes_done {
            let conn = env.volume_instances;
            self.volumes_done = !conn.page_info.has_next_page;
            self.volumes_cursor = conn.page_info.end_cursor;
            for edge in conn.edges {
                let n = edge.node;
                self.volumes.push(Volume {
                    id: n.id,
                    volume_id: n.volume_id,
                    name: n.volume.name,
                    service_id: n.service_id,
                    mount_path: n.mount_path,
                    current_size_mb: n.current_size_mb,
                    size_mb: n.size_mb as f64,
                    state: n.state.as_ref().map(enum_name),
                });
            }
        }
        if self.services_cursor.is_none() {
            self.services_done = true;
        }
        if self.volumes_cursor.is_none() {
            self.volumes_done = true;
        }
    }

    pub fn finish(self) -> Option<Architecture> {
        let mut arch = Architecture {
            project: self.project?,
            environment: self.environment?,
            services: self.services,
            volumes: self.volumes,
        };
        mark_databases(&mut arch);
        Some(arch)
    }
}

/// A service with an attached volume is stateful storage: treat it as a database.
pub fn mark_databases(arch: &mut Architecture) {
    let with_volume: Vec<String> = arch
        .volumes
        .iter()
        .filter_map(|v| v.service_id.clone())
        .collect();
    for s in &mut arch.services {
        if with_volume.contains(&s.id) {
            s.is_database = true;
        }
    }
}

/// A string field of a deployment's untyped `meta` JSON (`commitHash`, `commitMessage`); any
/// other JSON type is absent.
pub(crate) fn meta_str(meta: Option<&serde_json::Value>, key: &str) -> Option<String> {
    meta.and_then(|m| m.get(key))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

fn enum_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "UNKNOWN".to_owned(),
    }
}

fn deployment_status(s: &environment_architecture::DeploymentStatus) -> DeploymentStatus {
    use environment_architecture::DeploymentStatus as G;
    match s {
        G::BUILDING => DeploymentStatus::Building,
        G::CRASHED => DeploymentStatus::Crashed,
        G::DEPLOYING => DeploymentStatus::Deploying,
        G::FAILED => DeploymentStatus::Failed,
        G::INITIALIZING => DeploymentStatus::Initializing,
        G::NEEDS_APPROVAL => DeploymentStatus::NeedsApproval,
        G::QUEUED => DeploymentStatus::Queued,
        G::REMOVED => DeploymentStatus::Removed,
        G::REMOVING => DeploymentStatus::Removing,
        G::SKIPPED => DeploymentStatus::Skipped,
        G::SLEEPING => DeploymentStatus::Sleeping,
        G::SUCCESS => DeploymentStatus::Success,
        G::WAITING => DeploymentStatus::Waiting,
        G::Other(s) => DeploymentStatus::Other(s.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_images() {
        for img in [
            "postgres:16",
            "ghcr.io/railwayapp-templates/postgres-ssl:16",
            "redis",
            "bitnami/mariadb:11",
            "valkey/valkey:8",
            "mongo@sha256:abc",
        ] {
            assert!(is_database_image(img), "{img}");
        }
        for img in [
            "node:20",
            "ghcr.io/acme/api",
            "nginx",
            "postgrest/postgrest",
        ] {
            assert!(!is_database_image(img), "{img}");
        }
    }
}
