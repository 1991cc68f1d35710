//! A whole workspace: the projects and persistent environments an account or workspace token
//! can see, listed for `AUTOFIX_PROJECTS` (which of them to monitor is decided by the caller).
//!
//! Cost: one `TokenWorkspaces` request (skipped when the workspace id is given), then one
//! `WorkspaceProjects` request per 50 projects of each workspace.

use serde::{Deserialize, Serialize};

use crate::client::RailwayClient;
use crate::error::RailwayError;
use crate::model::{EnvironmentRef, ProjectRef};
use crate::ops::{self, TokenWorkspaces, WorkspaceProjects};

/// Pages of 50 projects read per workspace at most (5 000 projects).
const MAX_PAGES: usize = 100;

/// One monitored (project, environment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The project, as Railway names it.
    pub project: ProjectRef,
    /// One of its persistent environments.
    pub environment: EnvironmentRef,
}

impl Target {
    /// `<project id>/<environment id>`: the Inngest concurrency key of its monitor runs.
    pub fn key(&self) -> String {
        format!("{}/{}", self.project.id, self.environment.id)
    }
}

/// A workspace the token can operate on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRef {
    /// Railway's workspace id (`AUTOFIX_WORKSPACE_ID`).
    pub id: String,
    /// Its display name.
    pub name: String,
}

impl RailwayClient {
    /// The workspaces this token can operate on.
    pub async fn token_workspaces(&self) -> Result<Vec<WorkspaceRef>, RailwayError> {
        let data = self
            .query::<TokenWorkspaces>(ops::token_workspaces::Variables)
            .await?;
        Ok(data
            .api_token
            .workspaces
            .into_iter()
            .map(|w| WorkspaceRef {
                id: w.id,
                name: w.name,
            })
            .collect())
    }

    /// Every persistent (project, environment) of `workspace_id`, or of every workspace the
    /// token can operate on, in Railway's order.
    pub async fn workspace_targets(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<Target>, RailwayError> {
        let workspaces = match workspace_id {
            Some(id) => vec![id.to_owned()],
            None => self
                .token_workspaces()
                .await?
                .into_iter()
                .map(|w| w.id)
                .collect(),
        };
        let mut out = Vec::new();
        for workspace in workspaces {
            self.projects_of(&workspace, &mut out).await?;
        }
        Ok(out)
    }

    async fn projects_of(
        &self,
        workspace_id: &str,
        out: &mut Vec<Target>,
    ) -> Result<(), RailwayError> {
        let mut after = None;
        for _ in 0..MAX_PAGES {
            let vars = ops::workspace_projects::Variables {
                workspace_id: workspace_id.to_owned(),
                after: after.take(),
            };
            let page = self
                .query::<WorkspaceProjects>(vars)
                .await?
                .workspace
                .projects;
            for edge in page.edges {
                let project = ProjectRef {
                    id: edge.node.id,
                    name: edge.node.name,
                };
                if edge.node.environments.page_info.has_next_page {
                    // A hundred persistent environments in one project is far beyond any real
                    // set-up; the rest are left out rather than paged one project at a time.
                    tracing::warn!(project = %project.name, "more than 100 environments; the first 100 are listed");
                }
                for env in edge.node.environments.edges {
                    out.push(Target {
                        project: project.clone(),
                        environment: EnvironmentRef {
                            id: env.node.id,
                            name: env.node.name,
                        },
                    });
                }
            }
            match (page.page_info.has_next_page, page.page_info.end_cursor) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => return Ok(()),
            }
        }
        tracing::warn!(
            workspace = workspace_id,
            "more than {} projects; the rest are not listed",
            MAX_PAGES * 50
        );
        Ok(())
    }
}
