//! Generated projects of any size for the scale benchmark and the scale tests.
//!
//! Simulating every service's requests would take minutes at 2 000 services, so a handful of
//! template services (healthy web services, a worker, a leak, a 5xx burst, a database) are
//! simulated once and copied under new ids. One service in [`INCIDENT_EVERY`] carries an
//! incident, so the chain after detection has real work at every size.

use demo::scenario::{ProjectBuilder, ServiceBuilder};
use railway::model::{ProjectSnapshot, Service};

/// One service in this many is a copy of an unhealthy template.
pub const INCIDENT_EVERY: usize = 100;

fn templates(project_id: &str, now: i64, window_minutes: i64) -> ProjectSnapshot {
    ProjectBuilder::new(project_id, "template", now, window_minutes)
        .service(ServiceBuilder::new("web").repo("acme/web").rps(2.0))
        .service(
            ServiceBuilder::new("api")
                .repo("acme/api")
                .rps(3.0)
                .cpu_idle(20.0),
        )
        .service(ServiceBuilder::new("jobs").repo("acme/jobs").worker())
        .service(
            ServiceBuilder::new("leaky")
                .repo("acme/leaky")
                .rps(2.0)
                .memory_leak(60.0, 40.0),
        )
        .service(
            ServiceBuilder::new("bursty")
                .repo("acme/bursty")
                .rps(4.0)
                .error_burst(5, 0.4),
        )
        .service(ServiceBuilder::new("postgres").database("postgres:16"))
        .build()
}

/// A project `p<index>` of `services` services (about one database per 20) in one environment,
/// whose data ends at `now`; two services in [`INCIDENT_EVERY`] carry an incident.
pub fn project(index: usize, services: usize, now: i64, window_minutes: i64) -> ProjectSnapshot {
    project_with(index, services, INCIDENT_EVERY, now, window_minutes)
}

/// [`project`] with two incidents in every `incident_every` services.
pub fn project_with(
    index: usize,
    services: usize,
    incident_every: usize,
    now: i64,
    window_minutes: i64,
) -> ProjectSnapshot {
    let project_id = format!("p{index}");
    let t = templates(&project_id, now, window_minutes);
    let by_name = |name: &str| -> &Service {
        t.architecture
            .services
            .iter()
            .find(|s| s.name == name)
            .expect("template service")
    };
    let mut snap = ProjectSnapshot {
        architecture: t.architecture.clone(),
        resources: t.resources.clone(),
        http: t.http.clone(),
        logs: Default::default(),
        deployments: Default::default(),
        baselines: Default::default(),
    };
    snap.architecture.project.name = format!("project-{index}");
    snap.architecture.environment.id = format!("p{index}-env");
    snap.architecture.services.clear();
    snap.architecture.volumes.clear();
    snap.resources.services.clear();
    snap.http.services.clear();
    for i in 0..services {
        let template = match i {
            i if i % 20 == 19 => "postgres",
            i if i % incident_every == 7 => "leaky",
            i if i % incident_every == incident_every / 2 + 7 => "bursty",
            i if i % 5 == 0 => "jobs",
            i if i % 2 == 0 => "api",
            _ => "web",
        };
        let src = by_name(template);
        let id = format!("p{index}-s{i}");
        let mut svc = src.clone();
        svc.id = id.clone();
        svc.instance_id = format!("{id}-instance");
        svc.name = format!("{template}-{i}");
        if let Some(repo) = &mut svc.source.repo {
            *repo = format!("acme/{template}-{i}");
        }
        if let Some(d) = &mut svc.latest_deployment {
            d.id = format!("{id}-dep");
        }
        for v in t
            .architecture
            .volumes
            .iter()
            .filter(|v| v.service_id.as_deref() == Some(&src.id))
        {
            let mut v = v.clone();
            v.id = format!("{id}-volume-instance");
            v.volume_id = format!("{id}-volume");
            v.service_id = Some(id.clone());
            snap.architecture.volumes.push(v);
        }
        if let Some(u) = t.resources.services.get(&src.id) {
            let mut u = u.clone();
            u.service_id = id.clone();
            snap.resources.services.insert(id.clone(), u);
        }
        if let Some(h) = t.http.services.get(&src.id) {
            let mut h = h.clone();
            h.service_id = id.clone();
            snap.http.services.insert(id.clone(), h);
        }
        if let Some(l) = t.logs.get(&src.id) {
            let mut l = l.clone();
            l.service_id = id.clone();
            l.deployment_id = svc.latest_deployment.as_ref().map(|d| d.id.clone());
            snap.logs.insert(id.clone(), l);
        }
        if let Some(history) = t.deployments.get(&src.id) {
            let history = history
                .iter()
                .enumerate()
                .map(|(n, d)| railway::model::DeploymentRecord {
                    id: if n == 0 {
                        format!("{id}-dep")
                    } else {
                        format!("{id}-dep{n}")
                    },
                    ..d.clone()
                })
                .collect();
            snap.deployments.insert(id.clone(), history);
        }
        snap.architecture.services.push(svc);
    }
    snap
}

/// Services of a generated project ([`project_with`]) that carry an incident.
pub fn incident_services(services: usize, incident_every: usize) -> usize {
    (0..services)
        .filter(|i| {
            let k = i % incident_every;
            i % 20 != 19 && (k == 7 || k == incident_every / 2 + 7)
        })
        .count()
}
