//! Workspace mode: which projects and environments one worker monitors (`AUTOFIX_PROJECTS`), the
//! per-project overrides (`AUTOFIX_CONFIG`), and the Railway source of one target.
//!
//! Selection syntax: a comma-separated list of items, each `all`, `PROJECT` or
//! `PROJECT/ENVIRONMENT`. Each side is an id (exact) or a name (case-insensitive), where `*`
//! matches any run of characters. A project without `/ENVIRONMENT` means each of its persistent
//! environments. Railway's names may contain neither `,` nor `/` for the selection to name them;
//! use the id then.

use std::borrow::Cow;

use railway::model::Architecture;
use railway::workspace::Target;

use crate::select::glob_match;
use crate::{Deps, ServiceSelection};

/// Most (project, environment) pairs one cron tick fans out to: their events go out in one
/// `step.sendEvent`, whose request Inngest caps at 5 000 events and (Free plan) 256 KiB.
pub const MAX_TARGETS: usize = 500;

/// Largest fan-out request body: Inngest Cloud's Free-plan limit for one event request.
pub const MAX_FAN_OUT_BYTES: usize = 256 * 1024;

/// One item of a selection: a project pattern and, optionally, an environment pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectItem {
    /// An id, or a name pattern (`*` = any run of characters, case-insensitive).
    pub project: String,
    /// Same for the environment; `None`: each persistent environment of the project.
    pub environment: Option<String>,
}

/// The projects and environments to monitor, parsed from `AUTOFIX_PROJECTS` syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The comma-separated items, in order; a target is selected when any item matches it.
    pub items: Vec<SelectItem>,
}

impl Selection {
    /// Parses the selection syntax; the error says which item is wrong and why.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut items = Vec::new();
        for raw in text.split(',') {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            items.push(parse_item(raw)?);
        }
        if items.is_empty() {
            return Err("selects nothing; use `all` or a comma-separated list of PROJECT or PROJECT/ENVIRONMENT".into());
        }
        Ok(Self { items })
    }

    /// Whether an item selects `target`.
    pub fn matches(&self, target: &Target) -> bool {
        self.items.iter().any(|item| item.matches(target))
    }

    /// The selected targets, in listing order, without duplicates.
    pub fn select(&self, all: &[Target]) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        for t in all.iter().filter(|t| self.matches(t)) {
            if !out.iter().any(|o| o.key() == t.key()) {
                out.push(t.clone());
            }
        }
        out
    }
}

fn parse_item(raw: &str) -> Result<SelectItem, String> {
    if raw.eq_ignore_ascii_case("all") {
        return Ok(SelectItem {
            project: "*".into(),
            environment: None,
        });
    }
    let mut parts = raw.split('/').map(str::trim);
    let project = parts.next().unwrap_or_default();
    let environment = parts.next();
    if parts.next().is_some() {
        return Err(format!(
            "`{raw}` has more than one `/`; expected PROJECT or PROJECT/ENVIRONMENT"
        ));
    }
    if project.is_empty() || environment.is_some_and(str::is_empty) {
        return Err(format!(
            "`{raw}`: expected PROJECT or PROJECT/ENVIRONMENT, each an id, a name or a `*` pattern"
        ));
    }
    if let Some(c) = raw.chars().find(|c| c.is_control()) {
        return Err(format!("`{raw}` contains the control character {c:?}"));
    }
    Ok(SelectItem {
        project: project.to_owned(),
        environment: environment.map(str::to_owned),
    })
}

impl SelectItem {
    /// Whether this item selects `target` (by id or by name on each side).
    pub fn matches(&self, target: &Target) -> bool {
        names(&self.project, &target.project.id, &target.project.name)
            && self
                .environment
                .as_deref()
                .is_none_or(|e| names(e, &target.environment.id, &target.environment.name))
    }
}

/// An id matches exactly; a name case-insensitively, `*` matching any run of characters.
fn names(pattern: &str, id: &str, name: &str) -> bool {
    pattern == id || glob_match(&pattern.to_lowercase(), &name.to_lowercase())
}

/// Settings of the targets one `AUTOFIX_CONFIG` entry selects; unset fields keep the worker's.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectSettings {
    /// The entry's `select` (one item of the selection syntax, or several).
    pub selection: Selection,
    /// Detection window in minutes for these targets.
    pub window_minutes: Option<u32>,
    /// The worker's thresholds with the entry's merged in.
    pub thresholds: Option<detect::Thresholds>,
    /// Added to the worker's ignored services for these targets.
    pub ignore_services: Vec<String>,
    /// Where the entry is written (`<file> [[project]] #n`), for the reasons shown in reports.
    pub origin: String,
}

/// Several projects and environments read through one client: one pacer, one connection pool.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The account/workspace-token client, aimed at each target in turn (`with_target`).
    pub client: railway::RailwayClient,
    /// `AUTOFIX_PROJECTS`.
    pub selection: Selection,
    /// Lists only this Railway workspace; `None`: every workspace the token can operate on.
    pub workspace_id: Option<String>,
}

/// What one monitor run of a target uses: Railway's view of the settings for it.
pub(crate) struct TargetSettings<'a> {
    pub window_minutes: u32,
    pub thresholds: &'a detect::Thresholds,
    pub services: Cow<'a, ServiceSelection>,
}

impl crate::Settings {
    /// The first `AUTOFIX_CONFIG` entry selecting `target`, if any.
    pub fn overrides_for(&self, target: &Target) -> Option<&ProjectSettings> {
        self.projects.iter().find(|o| o.selection.matches(target))
    }

    /// The worker's settings with the overrides for `target` applied.
    pub(crate) fn for_target(&self, target: Option<&Target>) -> TargetSettings<'_> {
        let Some(o) = target.and_then(|t| self.overrides_for(t)) else {
            return TargetSettings {
                window_minutes: self.window_minutes,
                thresholds: &self.thresholds,
                services: Cow::Borrowed(&self.services),
            };
        };
        let mut services = self.services.clone();
        for pattern in &o.ignore_services {
            services = services.ignore(pattern, &o.origin);
        }
        TargetSettings {
            window_minutes: o.window_minutes.unwrap_or(self.window_minutes),
            thresholds: o.thresholds.as_ref().unwrap_or(&self.thresholds),
            services: Cow::Owned(services),
        }
    }
}

impl Deps {
    /// The Railway source of a project and environment an event names: the configured one in
    /// single-project mode (the caller's id check refuses any other), the workspace client aimed
    /// at it in workspace mode.
    pub(crate) fn railway_for(
        &self,
        project_id: &str,
        environment_id: &str,
    ) -> Cow<'_, railway::Source> {
        match &self.workspace {
            Some(ws) => Cow::Owned(railway::Source::Live(
                ws.client.clone().with_target(project_id, environment_id),
            )),
            None => Cow::Borrowed(&self.railway),
        }
    }

    /// The architecture of the target an event names, read from Railway; in workspace mode a
    /// target `AUTOFIX_PROJECTS` does not select (by Railway's names, not the event's) is
    /// refused.
    pub(crate) async fn target_architecture(
        &self,
        project_id: &str,
        environment_id: &str,
    ) -> Result<(Cow<'_, railway::Source>, Architecture), inngest::Error> {
        let source = self.railway_for(project_id, environment_id);
        let arch = source.architecture().await.map_err(crate::step_error)?;
        if let Some(ws) = &self.workspace {
            check_selected(
                ws,
                &Target {
                    project: arch.project.clone(),
                    environment: arch.environment.clone(),
                },
            )?;
        }
        Ok((source, arch))
    }

    /// The services `ids` names in the target an event names, read from Railway (only those
    /// services, not the architecture); in workspace mode a target `AUTOFIX_PROJECTS` does not
    /// select (by Railway's names, not the event's) is refused.
    pub(crate) async fn named_services(
        &self,
        project_id: &str,
        environment_id: &str,
        ids: &[String],
    ) -> Result<(Cow<'_, railway::Source>, railway::NamedServices), inngest::Error> {
        let source = self.railway_for(project_id, environment_id);
        let named = source
            .named_services(ids)
            .await
            .map_err(crate::step_error)?;
        if let Some(ws) = &self.workspace {
            check_selected(ws, &named.target)?;
        }
        Ok((source, named))
    }
}

/// Refuses a project and environment (Railway's) that `AUTOFIX_PROJECTS` does not select.
pub(crate) fn check_selected(ws: &Workspace, target: &Target) -> Result<(), inngest::Error> {
    if ws.selection.matches(target) {
        Ok(())
    } else {
        Err(crate::targets::refuse(format!(
            "project {:?} / environment {:?} is not selected by AUTOFIX_PROJECTS",
            target.project.name, target.environment.name
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use railway::model::{EnvironmentRef, ProjectRef};

    fn t(p: &str, pn: &str, e: &str, en: &str) -> Target {
        Target {
            project: ProjectRef {
                id: p.into(),
                name: pn.into(),
            },
            environment: EnvironmentRef {
                id: e.into(),
                name: en.into(),
            },
        }
    }

    fn keys(selection: &str, all: &[Target]) -> Vec<String> {
        Selection::parse(selection)
            .unwrap()
            .select(all)
            .iter()
            .map(Target::key)
            .collect()
    }

    #[test]
    fn selections_by_all_name_id_glob_and_environment() {
        let all = vec![
            t("p1", "Shop", "e1", "production"),
            t("p1", "Shop", "e2", "staging"),
            t("p2", "shop-admin", "e3", "production"),
            t("p3", "blog", "e4", "Production"),
        ];
        assert_eq!(keys("all", &all), ["p1/e1", "p1/e2", "p2/e3", "p3/e4"]);
        assert_eq!(keys("ALL", &all).len(), 4);
        assert_eq!(
            keys("shop", &all),
            ["p1/e1", "p1/e2"],
            "names ignore case; no prefix match"
        );
        assert_eq!(keys("p3", &all), ["p3/e4"], "ids");
        assert_eq!(keys("shop*", &all), ["p1/e1", "p1/e2", "p2/e3"]);
        assert_eq!(keys("*/production", &all), ["p1/e1", "p2/e3", "p3/e4"]);
        assert_eq!(
            keys("Shop/e2, blog", &all),
            ["p1/e2", "p3/e4"],
            "an environment id"
        );
        assert_eq!(keys("shop, all", &all).len(), 4, "no duplicates");
        assert_eq!(keys("P3", &all), Vec::<String>::new(), "ids are exact");
        assert!(keys("nothing-*", &all).is_empty());
    }

    #[test]
    fn bad_selections_say_which_item_and_why() {
        for (text, needle) in [
            ("", "selects nothing"),
            (" , ,", "selects nothing"),
            ("shop/", "`shop/`"),
            ("/production", "`/production`"),
            ("a/b/c", "more than one `/`"),
            ("shop\u{7}", "control character"),
        ] {
            let e = Selection::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn overrides_apply_the_first_matching_entry_over_the_worker_settings() {
        let strict = detect::Thresholds {
            cpu_warning_pct: 50.0,
            ..Default::default()
        };
        let settings = crate::Settings {
            projects: vec![
                ProjectSettings {
                    selection: Selection::parse("shop/production").unwrap(),
                    window_minutes: Some(60),
                    thresholds: Some(strict.clone()),
                    ignore_services: vec!["batch-*".into()],
                    origin: "autofix.toml [[project]] #1".into(),
                },
                ProjectSettings {
                    selection: Selection::parse("shop").unwrap(),
                    window_minutes: Some(15),
                    thresholds: None,
                    ignore_services: vec![],
                    origin: "autofix.toml [[project]] #2".into(),
                },
            ],
            ..Default::default()
        };
        let prod = t("p1", "Shop", "e1", "production");
        let s = settings.for_target(Some(&prod));
        assert_eq!(s.window_minutes, 60);
        assert_eq!(s.thresholds, &strict);
        let rule = s.services.rule_for("x", "batch-nightly").unwrap();
        assert_eq!(rule.why, "autofix.toml [[project]] #1");
        let staging = settings.for_target(Some(&t("p1", "Shop", "e2", "staging")));
        assert_eq!(staging.window_minutes, 15);
        assert!(staging.services.rule_for("x", "batch-nightly").is_none());
        let other = settings.for_target(Some(&t("p9", "blog", "e9", "production")));
        assert_eq!(other.window_minutes, settings.window_minutes);
        assert_eq!(settings.for_target(None).thresholds, &settings.thresholds);
    }
}
