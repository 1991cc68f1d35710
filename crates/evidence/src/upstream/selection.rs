//! Which providers to check for one service, and the statuses that come out.

use std::collections::BTreeMap;

use railway::model::ServiceLogs;

use super::{PageReading, Provider, ProviderTable, hosts_in_logs, providers_in_hosts};
use crate::{UpstreamHealth, UpstreamStatus};

/// The providers suspected for one service, why each is suspected, and which of them get checked.
///
/// Log evidence is about this incident, manifests only say "could be involved": providers named
/// in the logs are checked first (and can be read while the manifests still are), manifest-only
/// providers fill the room left under the cap; the rest are named in a note.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    max: usize,
    evidence: BTreeMap<String, Vec<String>>,
    from_logs: Vec<String>,
    skipped: Vec<String>,
}

impl Selection {
    /// The providers whose hosts appear in the service's error and warning lines; at most `max`
    /// (at least one) providers are checked in all.
    pub fn from_logs(table: &ProviderTable, logs: &ServiceLogs, max: usize) -> Self {
        let mut selection = Self {
            max: max.max(1),
            evidence: BTreeMap::new(),
            from_logs: Vec::new(),
            skipped: Vec::new(),
        };
        let found = providers_in_hosts(table, &hosts_in_logs(logs));
        selection.from_logs = found.iter().map(|(key, _)| key.clone()).collect();
        selection.add(found);
        let cap = selection.from_logs.len().min(selection.max);
        selection.skipped = selection.from_logs.split_off(cap);
        selection
    }

    /// The providers to check first: named in the logs, within the cap.
    pub fn log_providers(&self) -> &[String] {
        &self.from_logs
    }

    /// Adds what the manifests say (`(provider key, evidence)`) and returns the providers only the
    /// manifests name that fit under the cap: the second batch to check.
    pub fn add_manifests(&mut self, found: Vec<(String, String)>) -> Vec<String> {
        self.add(found);
        let mut only_manifests: Vec<String> = self
            .evidence
            .keys()
            .filter(|k| !self.from_logs.contains(k) && !self.skipped.contains(k))
            .cloned()
            .collect();
        let room = self.max.saturating_sub(self.from_logs.len());
        let cap = only_manifests.len().min(room);
        self.skipped.extend(only_manifests.split_off(cap));
        only_manifests
    }

    /// One status per provider read, worst health first, and the notes: the providers left
    /// unchecked, then each reading's own note.
    pub fn statuses<'a>(
        mut self,
        readings: impl IntoIterator<Item = (&'a Provider, PageReading)>,
    ) -> (Vec<UpstreamStatus>, Vec<String>) {
        let mut notes = Vec::new();
        if !self.skipped.is_empty() {
            notes.push(format!(
                "{} more providers not checked: {}",
                self.skipped.len(),
                self.skipped.join(", ")
            ));
        }
        let mut statuses = Vec::new();
        for (p, r) in readings {
            notes.extend(r.note);
            statuses.push(UpstreamStatus {
                provider: p.key.clone(),
                name: p.name.clone(),
                evidence: self.evidence.remove(&p.key).unwrap_or_default(),
                health: r.health,
                incidents: r.incidents,
            });
        }
        statuses.sort_by_key(|s| (health_rank(s.health), s.provider.clone()));
        (statuses, notes)
    }

    fn add(&mut self, found: Vec<(String, String)>) {
        for (key, why) in found {
            let list = self.evidence.entry(key).or_default();
            if !list.contains(&why) {
                list.push(why);
            }
        }
    }
}

fn health_rank(h: UpstreamHealth) -> u8 {
    match h {
        UpstreamHealth::Incident => 0,
        UpstreamHealth::Degraded => 1,
        UpstreamHealth::Unknown => 2,
        UpstreamHealth::Operational => 3,
    }
}
