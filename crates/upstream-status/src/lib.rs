//! Whether the third-party providers a service depends on are down right now: the I/O half of
//! `evidence::upstream`.
//!
//! [`UpstreamChecker`] reads the service's dependency manifests through GitHub (skipped quietly
//! without a token or a repository), reads the chosen providers' status pages with
//! [`StatusPages`], all in parallel and each within a short timeout, and leaves every decision to
//! the pure functions of `evidence::upstream`: which providers the logs and manifests name, which
//! of them to check, and what each page's answer means. Nothing here fails a run: an unreadable
//! manifest or page becomes a note.

#![warn(missing_docs)]

mod pages;

use std::collections::BTreeSet;
use std::time::Duration;

use evidence::upstream::{manifest_paths, providers_in_manifest};
use evidence::{PageReading, Provider, ProviderTable, Selection, UpstreamStatus};
use futures::future::join_all;
use railway::model::{Service, ServiceLogs};

pub use pages::{StatusPageError, StatusPages};

/// Providers checked per service unless [`UpstreamChecker::with_max_providers`] says otherwise.
pub const DEFAULT_MAX_PROVIDERS: usize = 12;

/// Finds the providers a service depends on and reads their status pages.
#[derive(Debug, Clone)]
pub struct UpstreamChecker {
    pages: StatusPages,
    table: ProviderTable,
    github: Option<github::GitHub>,
    timeout: Duration,
    max_providers: usize,
}

impl UpstreamChecker {
    /// `timeout` bounds each status document and each manifest read.
    pub fn new(
        http: reqwest::Client,
        table: ProviderTable,
        github: Option<github::GitHub>,
        timeout: Duration,
    ) -> Self {
        Self {
            pages: StatusPages::new(http, timeout),
            table,
            github,
            timeout,
            max_providers: DEFAULT_MAX_PROVIDERS,
        }
    }

    /// At most this many providers are checked per service (at least one).
    pub fn with_max_providers(mut self, n: usize) -> Self {
        self.max_providers = n.max(1);
        self
    }

    /// The providers this checker knows.
    pub fn table(&self) -> &ProviderTable {
        &self.table
    }

    /// Manifests at the repository root, plus hosts in `logs`: the statuses, worst first, and
    /// notes on what could not be read or was left out.
    pub async fn check(
        &self,
        repo: Option<&str>,
        logs: &ServiceLogs,
    ) -> (Vec<UpstreamStatus>, Vec<String>) {
        self.check_at(repo, None, logs).await
    }

    /// Like [`Self::check`], also reading manifests under the service's root directory.
    pub async fn check_service(
        &self,
        service: &Service,
        logs: &ServiceLogs,
    ) -> (Vec<UpstreamStatus>, Vec<String>) {
        self.check_at(
            service.source.repo.as_deref(),
            service.root_directory.as_deref(),
            logs,
        )
        .await
    }

    async fn check_at(
        &self,
        repo: Option<&str>,
        root_dir: Option<&str>,
        logs: &ServiceLogs,
    ) -> (Vec<UpstreamStatus>, Vec<String>) {
        let mut selection = Selection::from_logs(&self.table, logs, self.max_providers);
        // The log-named pages are read while the manifests still are.
        let ((from_manifests, mut notes), mut readings) = futures::join!(
            self.manifest_providers(repo, root_dir),
            self.read_pages(selection.log_providers()),
        );
        let second = selection.add_manifests(from_manifests);
        readings.extend(self.read_pages(&second).await);
        let (statuses, more) = selection.statuses(readings);
        notes.extend(more);
        (statuses, notes)
    }

    async fn read_pages(&self, keys: &[String]) -> Vec<(&Provider, PageReading)> {
        join_all(
            keys.iter()
                .filter_map(|k| self.table.get(k))
                .map(|p| async move { (p, self.pages.read(p).await) }),
        )
        .await
    }

    /// `(provider key, evidence)` from the manifests, and one note per kind of read failure.
    async fn manifest_providers(
        &self,
        repo: Option<&str>,
        root_dir: Option<&str>,
    ) -> (Vec<(String, String)>, Vec<String>) {
        let (Some(gh), Some(repo)) = (&self.github, repo) else {
            return (Vec::new(), Vec::new());
        };
        if !gh.has_token() {
            tracing::debug!(repo, "no GitHub token; dependency manifests not read");
            return (Vec::new(), Vec::new());
        }
        let paths = manifest_paths(root_dir);
        let reads = join_all(paths.iter().map(|path| async move {
            let read = tokio::time::timeout(self.timeout, gh.file(repo, path)).await;
            (path, read)
        }))
        .await;
        let mut found = Vec::new();
        let mut problems = BTreeSet::new();
        for (path, read) in reads {
            match read {
                Ok(Ok(Some(text))) => found.extend(providers_in_manifest(&self.table, path, &text)),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    problems.insert(e.to_string());
                }
                Err(_) => {
                    problems.insert(format!("timed out after {:?}", self.timeout));
                }
            }
        }
        let notes = problems
            .into_iter()
            .map(|p| format!("dependency manifests of {repo} partly unread: {p}"))
            .collect();
        (found, notes)
    }
}
