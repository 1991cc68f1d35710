//! Which services a cycle monitors: all of the environment's, minus the ignored ones.
//!
//! The worker's own service and the OpenCode service are ignored by the binary automatically:
//! an agent busy on a fix, or the worker itself under load, must not become an incident that
//! starts another fix.

use railway::model::Architecture;
use serde::{Deserialize, Serialize};

/// One rule: a service name or id, `*` matching any run of characters (names compare
/// case-insensitively), and why the service is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoreRule {
    /// Name or id, `*` matching any run of characters; names compare case-insensitively.
    pub pattern: String,
    /// Why matching services are ignored, shown in the report.
    pub why: String,
}

/// The ignore rules of one worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSelection {
    /// Rules in order; a service matching any of them is ignored.
    pub rules: Vec<IgnoreRule>,
}

/// A service a cycle left out, and the rule's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredService {
    /// Railway service id.
    pub id: String,
    /// Railway service name.
    pub name: String,
    /// The matching rule's reason.
    pub why: String,
}

impl ServiceSelection {
    /// Adds a rule; blank patterns are dropped.
    pub fn ignore(mut self, pattern: &str, why: &str) -> Self {
        let pattern = pattern.trim();
        if !pattern.is_empty() {
            self.rules.push(IgnoreRule {
                pattern: pattern.to_owned(),
                why: why.to_owned(),
            });
        }
        self
    }

    /// The first rule matching a service, by id or by name.
    pub fn rule_for(&self, id: &str, name: &str) -> Option<&IgnoreRule> {
        self.rules.iter().find(|r| {
            glob_match(&r.pattern, id)
                || glob_match(&r.pattern.to_lowercase(), &name.to_lowercase())
        })
    }

    /// The architecture without the ignored services (and their volumes), and what was left out.
    pub fn apply(&self, mut arch: Architecture) -> (Architecture, Vec<IgnoredService>) {
        let mut ignored = Vec::new();
        arch.services
            .retain(|s| match self.rule_for(&s.id, &s.name) {
                Some(rule) => {
                    ignored.push(IgnoredService {
                        id: s.id.clone(),
                        name: s.name.clone(),
                        why: rule.why.clone(),
                    });
                    false
                }
                None => true,
            });
        arch.volumes.retain(|v| {
            v.service_id
                .as_deref()
                .is_none_or(|id| !ignored.iter().any(|i| i.id == id))
        });
        (arch, ignored)
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names_and_ids() {
        assert!(glob_match("api", "api"));
        assert!(!glob_match("api", "api-2"));
        assert!(glob_match("*-staging", "web-staging"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxc"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("ab*ba", "aba"));
        let s = ServiceSelection::default()
            .ignore("Postgres", "AUTOFIX_IGNORE_SERVICES")
            .ignore("svc-123", "the worker itself")
            .ignore(" ", "dropped");
        assert_eq!(s.rules.len(), 2);
        assert_eq!(
            s.rule_for("x", "postgres").unwrap().why,
            "AUTOFIX_IGNORE_SERVICES"
        );
        assert_eq!(
            s.rule_for("svc-123", "autofix").unwrap().why,
            "the worker itself"
        );
        assert!(s.rule_for("svc-1234", "api").is_none());
    }
}
