//! Deployment history of an environment: one request, every service, newest first.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use crate::client::RailwayClient;
use crate::error::RailwayError;
use crate::model::{DeploymentRecord, DeploymentStatus};
use crate::timefmt;

/// The GraphQL document (also listed in [`crate::OPERATIONS`] and checked against the schema).
pub const DEPLOYMENTS_DOCUMENT: &str = include_str!("../graphql/EnvironmentDeployments.graphql");

/// Deployments read per cycle: enough for a few per service in a busy environment, one page.
pub const DEPLOYMENTS_PER_READ: i64 = 100;

#[derive(Debug, Deserialize)]
struct Data {
    environment: Env,
}

#[derive(Debug, Deserialize)]
struct Env {
    deployments: Connection,
}

#[derive(Debug, Deserialize)]
struct Connection {
    edges: Vec<Edge>,
}

#[derive(Debug, Deserialize)]
struct Edge {
    node: Node,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    id: String,
    #[serde(default)]
    service_id: Option<String>,
    status: DeploymentStatus,
    created_at: String,
    #[serde(default)]
    meta: Option<serde_json::Value>,
}

/// Groups the decoded deployments by service, newest first; rows without a service or a
/// readable time are dropped (they cannot be matched with an incident).
fn group(data: Data) -> BTreeMap<String, Vec<DeploymentRecord>> {
    let mut out: BTreeMap<String, Vec<DeploymentRecord>> = BTreeMap::new();
    for n in data
        .environment
        .deployments
        .edges
        .into_iter()
        .map(|e| e.node)
    {
        let (Some(service), Some(created_at)) = (n.service_id, timefmt::unix(&n.created_at)) else {
            continue;
        };
        let meta = |key: &str| crate::ops::meta_str(n.meta.as_ref(), key);
        out.entry(service).or_default().push(DeploymentRecord {
            id: n.id,
            status: n.status,
            created_at,
            commit_hash: meta("commitHash"),
            commit_message: meta("commitMessage")
                .map(|m| m.lines().next().unwrap_or("").chars().take(200).collect()),
        });
    }
    for v in out.values_mut() {
        v.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    }
    out
}

impl RailwayClient {
    /// The environment's latest [`DEPLOYMENTS_PER_READ`] deployments, grouped by service.
    pub async fn deployments(
        &self,
    ) -> Result<BTreeMap<String, Vec<DeploymentRecord>>, RailwayError> {
        let data: Data = self
            .query_document(
                "EnvironmentDeployments",
                DEPLOYMENTS_DOCUMENT,
                json!({
                    "environmentId": self.credentials().environment_id,
                    "first": DEPLOYMENTS_PER_READ,
                }),
            )
            .await?;
        Ok(group(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_are_grouped_newest_first_with_commit_meta() {
        let data: Data = serde_json::from_value(json!({"environment": {"deployments": {"edges": [
            {"node": {"id": "d1", "serviceId": "s1", "status": "REMOVED", "createdAt": "2026-11-23T08:00:00Z",
                      "meta": {"commitHash": "aaa", "commitMessage": "Old\n\nbody"}}},
            {"node": {"id": "d2", "serviceId": "s1", "status": "SUCCESS", "createdAt": "2026-11-23T09:00:00Z",
                      "meta": {"commitHash": "bbb", "commitMessage": "Add response cache"}}},
            {"node": {"id": "d3", "serviceId": null, "status": "SUCCESS", "createdAt": "2026-11-23T09:00:00Z", "meta": null}},
            {"node": {"id": "d4", "serviceId": "s2", "status": "SOMETHING_NEW", "createdAt": "2026-11-23T09:00:00Z"}}
        ]}}}))
        .unwrap();
        let g = group(data);
        assert_eq!(g.len(), 2);
        let s1 = &g["s1"];
        assert_eq!(s1[0].id, "d2");
        assert_eq!(s1[0].commit_message.as_deref(), Some("Add response cache"));
        assert_eq!(s1[1].commit_message.as_deref(), Some("Old"));
        assert_eq!(
            g["s2"][0].status,
            DeploymentStatus::Other("SOMETHING_NEW".into())
        );
    }
}
