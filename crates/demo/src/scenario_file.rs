//! Scenario files: a project described in TOML with the builder's vocabulary, plus labels saying
//! what detection must find. `autofix eval DIR` reads them; `tests/scenarios/` holds the suite.
//!
//! ```toml
//! name = "redeploy fixed the 5xx"
//! source = "synthetic"            # or where the incident came from
//! window_minutes = 30             # optional, default 30
//! environment = "production"      # optional
//!
//! [[service]]
//! name = "api"
//! repo = "acme/api"
//! rps = 5.0
//! error_burst = { from = 25, to = 6, rate = 0.5 }
//! redeployed = 6
//!
//! [expect]
//! incidents = [{ service = "api", kind = "latency" }]
//! recovered = [{ service = "api", kind = "error_rate_5xx" }]
//! healthy = ["web"]
//! ```

use std::collections::BTreeMap;

use railway::model::{ProjectSnapshot, ServiceBaseline};
use serde::Deserialize;

use crate::scenario::{ProjectBuilder, ServiceBuilder};

/// End of every scenario's window unless the file says otherwise: 2026-11-23T09:10:00Z.
pub const DEFAULT_NOW: i64 = 1_795_425_000;

/// One labelled scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Scenario name, shown in the evaluation table and used in the project id.
    pub name: String,
    /// Where it came from: `synthetic`, or the real incident it reproduces.
    #[serde(default)]
    pub source: Option<String>,
    /// Length of the detection window, minutes: 5–1440 (default 30).
    #[serde(default = "default_window")]
    pub window_minutes: i64,
    /// End of the window, Unix seconds (default [`DEFAULT_NOW`]).
    #[serde(default)]
    pub now: Option<i64>,
    /// Environment name (default `production`).
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(rename = "service")]
    pub(crate) services: Vec<ServiceSpec>,
    /// What detection must report.
    pub expect: Expect,
}

fn default_window() -> i64 {
    30
}

/// What detection must say. Every incident of the run must be listed in `incidents` (exact
/// match); `healthy` services must have none; `recovered` entries must be reported as recovered.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Findings that must be reported as incidents: exactly these, no more.
    #[serde(default)]
    pub incidents: Vec<Label>,
    /// Findings that must be reported as recovered.
    #[serde(default)]
    pub recovered: Vec<Label>,
    /// Findings that must be reported as observations (never incidents).
    #[serde(default)]
    pub observations: Vec<Label>,
    /// Services that must have no incident.
    #[serde(default)]
    pub healthy: Vec<String>,
}

/// A service name and a finding kind (`cpu`, `memory`, `memory_trend`, `error_rate_5xx`,
/// `error_rate_4xx`, `latency`, `deployment`). With `count` on the service, `api` matches every
/// copy (`api-1` … `api-N`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// The `[[service]]` name (without the `-N` suffix of counted copies).
    pub service: String,
    /// The finding kind's JSON name, one of [`KINDS`].
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) enum Role {
    Web,
    Worker,
    Database,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cpu {
    #[serde(default)]
    pub(crate) idle: Option<f64>,
    #[serde(default)]
    pub(crate) sustained: Option<f64>,
    /// With `sustained`: back to idle from this many minutes before the end.
    #[serde(default)]
    pub(crate) until: Option<i64>,
    #[serde(default)]
    pub(crate) spiky: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Memory {
    #[serde(default)]
    pub(crate) flat: Option<f64>,
    /// `[start % of the limit, MB per hour]`.
    #[serde(default)]
    pub(crate) leak: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Burst {
    /// Minutes before the end of the window.
    pub(crate) from: i64,
    #[serde(default)]
    pub(crate) to: i64,
    pub(crate) rate: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Slowdown {
    pub(crate) minutes: i64,
    pub(crate) factor: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientErrors {
    pub(crate) rate: f64,
    pub(crate) status: u16,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointSpec {
    pub(crate) method: String,
    pub(crate) path: String,
    #[serde(default = "one")]
    pub(crate) weight: f64,
    pub(crate) median_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SlowEndpointSpec {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) p95_ms: f64,
}

fn one() -> f64 {
    1.0
}

/// One service, in the vocabulary of [`ServiceBuilder`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceSpec {
    pub(crate) name: String,
    /// Copies of this service, named `name-1` … `name-N` (for projects of 40 or 200 services).
    #[serde(default)]
    pub(crate) count: Option<usize>,
    #[serde(default)]
    pub(crate) role: Option<Role>,
    #[serde(default)]
    pub(crate) repo: Option<String>,
    /// Database image, with `role = "database"`.
    #[serde(default)]
    pub(crate) image: Option<String>,
    /// `[vCPU, GB]`.
    #[serde(default)]
    pub(crate) limits: Option<(f64, f64)>,
    #[serde(default)]
    pub(crate) no_limits: bool,
    #[serde(default)]
    pub(crate) rps: Option<f64>,
    #[serde(default)]
    pub(crate) cpu: Option<Cpu>,
    #[serde(default)]
    pub(crate) memory: Option<Memory>,
    #[serde(default)]
    pub(crate) endpoints: Vec<EndpointSpec>,
    #[serde(default)]
    pub(crate) slow_endpoints: Vec<SlowEndpointSpec>,
    #[serde(default)]
    pub(crate) error_burst: Option<Burst>,
    #[serde(default)]
    pub(crate) redeployed: Option<i64>,
    #[serde(default)]
    pub(crate) commit_message: Option<String>,
    #[serde(default)]
    pub(crate) slower_since: Option<Slowdown>,
    #[serde(default)]
    pub(crate) scanners: Option<f64>,
    #[serde(default)]
    pub(crate) client_errors: Option<ClientErrors>,
    #[serde(default)]
    pub(crate) crashed: bool,
    #[serde(default)]
    pub(crate) failed_build: bool,
    #[serde(default)]
    pub(crate) low_traffic_errors: bool,
    /// The service's normal p95 over the 24 h before the window (the baseline read).
    #[serde(default)]
    pub(crate) baseline_p95_ms: Option<f64>,
}

/// A scenario file that cannot be used; the message names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file as given.
        path: String,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// The file parses but contradicts itself (an unknown service or kind, a bad window).
    #[error("{path}: {message}")]
    Invalid {
        /// The file as given.
        path: String,
        /// What is wrong, naming the field.
        message: String,
    },
}

impl ScenarioFile {
    /// Parses and checks one file's text; `path` is only for messages.
    pub fn parse(path: &str, text: &str) -> Result<Self, ScenarioError> {
        let file: Self = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let invalid = |message: String| ScenarioError::Invalid {
            path: path.to_owned(),
            message,
        };
        if file.services.is_empty() {
            return Err(invalid("no [[service]]".into()));
        }
        if !(5..=1440).contains(&file.window_minutes) {
            return Err(invalid(format!(
                "window_minutes must be 5–1440, got {}",
                file.window_minutes
            )));
        }
        let names: Vec<&str> = file.services.iter().map(|s| s.name.as_str()).collect();
        for l in file
            .expect
            .incidents
            .iter()
            .chain(&file.expect.recovered)
            .chain(&file.expect.observations)
        {
            if !names.contains(&l.service.as_str()) {
                return Err(invalid(format!(
                    "expect: service `{}` is not a [[service]] of this file",
                    l.service
                )));
            }
            if !KINDS.contains(&l.kind.as_str()) {
                return Err(invalid(format!(
                    "expect: unknown kind `{}` (one of {})",
                    l.kind,
                    KINDS.join(", ")
                )));
            }
        }
        for h in &file.expect.healthy {
            if !names.contains(&h.as_str()) {
                return Err(invalid(format!(
                    "expect.healthy: `{h}` is not a [[service]] of this file"
                )));
            }
        }
        Ok(file)
    }

    /// The project and the baselines the scenario describes.
    pub fn build(&self) -> (ProjectSnapshot, BTreeMap<String, ServiceBaseline>) {
        let id = format!("scenario-{}", self.name);
        let mut p = ProjectBuilder::new(
            &id,
            &self.name,
            self.now.unwrap_or(DEFAULT_NOW),
            self.window_minutes,
        );
        if let Some(env) = &self.environment {
            p = p.environment(env);
        }
        let mut baselines = Vec::new();
        for spec in &self.services {
            for name in spec.names() {
                if let Some(ms) = spec.baseline_p95_ms {
                    baselines.push((p.service_id(&name), ms));
                }
                p = p.service(spec.builder(&name));
            }
        }
        let mut snap = p.build();
        let baselines: BTreeMap<String, ServiceBaseline> = baselines
            .into_iter()
            .map(|(id, ms)| {
                (
                    id,
                    ServiceBaseline {
                        period_seconds: 86_400,
                        p95_ms: Some(ms),
                        cpu: None,
                        memory_gb: None,
                    },
                )
            })
            .collect();
        // Served as the 24 h before the window by the fake Railway and the static source.
        snap.baselines = baselines.clone();
        (snap, baselines)
    }

    /// The scenario name of a service as labels use it (`api-7` → `api` for counted services).
    pub fn label_name<'a>(&'a self, service: &'a str) -> &'a str {
        for spec in &self.services {
            if spec.count.is_some() && spec.names().iter().any(|n| n == service) {
                return &spec.name;
            }
        }
        service
    }
}

/// Kind names labels may use (the JSON names of `detect::FindingKind`).
pub const KINDS: &[&str] = &[
    "cpu",
    "memory",
    "memory_trend",
    "error_rate_5xx",
    "error_rate_4xx",
    "latency",
    "deployment",
    "scanners",
];

impl ServiceSpec {
    fn names(&self) -> Vec<String> {
        match self.count {
            Some(n) => (1..=n).map(|i| format!("{}-{i}", self.name)).collect(),
            None => vec![self.name.clone()],
        }
    }

    fn builder(&self, name: &str) -> ServiceBuilder {
        let mut b = ServiceBuilder::new(name);
        match self.role {
            Some(Role::Worker) => b = b.worker(),
            Some(Role::Database) => {
                b = b.database(self.image.as_deref().unwrap_or("postgres:16"));
            }
            Some(Role::Web) | None => {}
        }
        if let Some(repo) = &self.repo {
            b = b.repo(repo);
        }
        if let Some((vcpu, gb)) = self.limits {
            b = b.limits(vcpu, gb);
        }
        if self.no_limits {
            b = b.no_limits();
        }
        if let Some(rps) = self.rps {
            b = b.rps(rps);
        }
        for e in &self.endpoints {
            b = b.endpoint(&e.method, &e.path, e.weight, e.median_ms);
        }
        for e in &self.slow_endpoints {
            b = b.slow_endpoint(&e.method, &e.path, e.p95_ms);
        }
        if let Some(c) = &self.cpu {
            if c.spiky {
                b = b.cpu_spiky();
            } else if let Some(p) = c.sustained {
                b = match c.until {
                    Some(m) => b.cpu_sustained_until(p, m),
                    None => b.cpu_sustained(p),
                };
            } else if let Some(p) = c.idle {
                b = b.cpu_idle(p);
            }
        }
        if let Some(m) = &self.memory {
            if let Some((start, slope)) = m.leak {
                b = b.memory_leak(start, slope);
            } else if let Some(p) = m.flat {
                b = b.memory_flat(p);
            }
        }
        if let Some(burst) = &self.error_burst {
            b = b.error_burst_between(burst.from, burst.to, burst.rate);
        }
        if let Some(m) = self.redeployed {
            b = b.redeployed(m);
        }
        if let Some(msg) = &self.commit_message {
            b = b.commit_message(msg);
        }
        if let Some(s) = &self.slower_since {
            b = b.slower_since(s.minutes, s.factor);
        }
        if let Some(share) = self.scanners {
            b = b.scanners(share);
        }
        if let Some(c) = &self.client_errors {
            b = b.client_errors(c.rate, c.status);
        }
        if self.crashed {
            b = b.crashed();
        }
        if self.failed_build {
            b = b.failed_build();
        }
        if self.low_traffic_errors {
            b = b.low_traffic_errors();
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_name_the_field() {
        let err = ScenarioFile::parse(
            "x.toml",
            "name = \"a\"\n[[service]]\nname = \"api\"\nrsp = 3\n[expect]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("x.toml:") && err.contains("rsp"), "{err}");
        let err = ScenarioFile::parse(
            "y.toml",
            "name = \"a\"\n[[service]]\nname = \"api\"\n[expect]\nincidents = [{service = \"web\", kind = \"cpu\"}]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`web` is not a [[service]]"), "{err}");
        let err = ScenarioFile::parse(
            "z.toml",
            "name = \"a\"\n[[service]]\nname = \"api\"\n[expect]\nincidents = [{service = \"api\", kind = \"slow\"}]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown kind `slow`"), "{err}");
    }

    #[test]
    fn counted_services_build_copies_and_share_a_label() {
        let f = ScenarioFile::parse(
            "c.toml",
            "name = \"many\"\n[[service]]\nname = \"api\"\ncount = 3\nbaseline_p95_ms = 40\n[expect]\nhealthy = [\"api\"]\n",
        )
        .unwrap();
        let (snap, baselines) = f.build();
        assert_eq!(snap.architecture.services.len(), 3);
        assert_eq!(baselines.len(), 3);
        assert_eq!(f.label_name("api-2"), "api");
    }
}
