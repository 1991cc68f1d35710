//! Dependency manifests: which packages a repository declares, and which providers they belong to.

use std::sync::LazyLock;

use regex::Regex;

use super::{Packages, ProviderTable};
use crate::sanitize;

/// A package ecosystem, by the manifest that lists its dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecosystem {
    /// JavaScript: `package.json`.
    Npm,
    /// Python: `requirements.txt` or `pyproject.toml`.
    Pypi,
    /// Rust: `Cargo.toml`.
    Cargo,
    /// Go: `go.mod`.
    Go,
    /// Ruby: `Gemfile`.
    Gem,
}

/// Manifest file names read from a repository, with their ecosystem.
pub const MANIFESTS: [(&str, Ecosystem); 6] = [
    ("package.json", Ecosystem::Npm),
    ("requirements.txt", Ecosystem::Pypi),
    ("pyproject.toml", Ecosystem::Pypi),
    ("Cargo.toml", Ecosystem::Cargo),
    ("go.mod", Ecosystem::Go),
    ("Gemfile", Ecosystem::Gem),
];

/// Dependency names declared by a manifest, by file name. Unknown files and unparsable text give
/// an empty list: a manifest we cannot read is not evidence of anything.
pub fn manifest_dependencies(file_name: &str, text: &str) -> Vec<String> {
    match file_name {
        "package.json" => package_json_deps(text),
        "requirements.txt" => requirements_deps(text),
        "pyproject.toml" => pyproject_deps(text),
        "Cargo.toml" => cargo_deps(text),
        "go.mod" => go_mod_deps(text),
        "Gemfile" => gemfile_deps(text),
        _ => Vec::new(),
    }
}

fn package_json_deps(text: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    [
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "peerDependencies",
    ]
    .iter()
    .filter_map(|k| v.get(k)?.as_object())
    .flat_map(|o| o.keys().cloned())
    .collect()
}

/// The name part of a PEP 508 requirement (`stripe[async]>=5; python_version>"3.8"`).
fn pep508_name(req: &str) -> Option<String> {
    let req = req.trim();
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(req.len());
    let name = &req[..end];
    (!name.is_empty()).then(|| name.to_owned())
}

fn requirements_deps(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('-'))
        .filter_map(pep508_name)
        .collect()
}

fn pyproject_deps(text: &str) -> Vec<String> {
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let strings = |v: Option<&toml::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str())
                    .filter_map(pep508_name)
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(project) = doc.get("project").and_then(|p| p.as_table()) {
        out.extend(strings(project.get("dependencies")));
        if let Some(optional) = project
            .get("optional-dependencies")
            .and_then(|o| o.as_table())
        {
            for group in optional.values() {
                out.extend(strings(Some(group)));
            }
        }
    }
    if let Some(groups) = doc.get("dependency-groups").and_then(|g| g.as_table()) {
        for group in groups.values() {
            out.extend(strings(Some(group)));
        }
    }
    let poetry = doc
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.as_table());
    if let Some(poetry) = poetry {
        for key in ["dependencies", "dev-dependencies"] {
            if let Some(t) = poetry.get(key).and_then(|d| d.as_table()) {
                out.extend(t.keys().cloned());
            }
        }
        if let Some(groups) = poetry.get("group").and_then(|g| g.as_table()) {
            for g in groups.values() {
                if let Some(t) = g.get("dependencies").and_then(|d| d.as_table()) {
                    out.extend(t.keys().cloned());
                }
            }
        }
    }
    out
}

fn cargo_deps(text: &str) -> Vec<String> {
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut add_table = |t: Option<&toml::Value>| {
        if let Some(t) = t.and_then(|t| t.as_table()) {
            for (name, spec) in t {
                // `alias = { package = "real-name", … }`
                let real = spec.get("package").and_then(|p| p.as_str()).unwrap_or(name);
                out.push(real.to_owned());
            }
        }
    };
    for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
        add_table(doc.get(key));
    }
    add_table(doc.get("workspace").and_then(|w| w.get("dependencies")));
    if let Some(targets) = doc.get("target").and_then(|t| t.as_table()) {
        for target in targets.values() {
            for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
                add_table(target.get(key));
            }
        }
    }
    out
}

fn go_mod_deps(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default().trim();
        if in_block {
            if line.starts_with(')') {
                in_block = false;
            } else if let Some(module) = line.split_whitespace().next() {
                out.push(module.to_owned());
            }
        } else if let Some(rest) = line.strip_prefix("require") {
            let rest = rest.trim();
            if rest.starts_with('(') {
                in_block = true;
            } else if let Some(module) = rest.split_whitespace().next() {
                out.push(module.to_owned());
            }
        }
    }
    out
}

static GEM_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\s*gem\s+["']([A-Za-z0-9_.-]+)["']"#).expect("static regex"));

fn gemfile_deps(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| GEM_LINE.captures(l).map(|c| c[1].to_owned()))
        .collect()
}

fn package_matches(eco: Ecosystem, declared: &str, known: &str) -> bool {
    match eco {
        Ecosystem::Npm | Ecosystem::Gem => declared.eq_ignore_ascii_case(known),
        Ecosystem::Pypi => pypi_normal(declared) == pypi_normal(known),
        Ecosystem::Cargo => declared
            .replace('_', "-")
            .eq_ignore_ascii_case(&known.replace('_', "-")),
        // Major versions live in the path (`github.com/stripe/stripe-go/v76`).
        Ecosystem::Go => declared == known || declared.starts_with(&format!("{known}/")),
    }
}

fn pypi_normal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_sep {
                out.push('-');
            }
            last_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            last_sep = false;
        }
    }
    out
}

impl Packages {
    pub(super) fn of(&self, eco: Ecosystem) -> &[String] {
        match eco {
            Ecosystem::Npm => &self.npm,
            Ecosystem::Pypi => &self.pypi,
            Ecosystem::Cargo => &self.cargo,
            Ecosystem::Go => &self.go,
            Ecosystem::Gem => &self.gem,
        }
    }
}

/// Providers a manifest depends on: `(provider key, evidence)`.
pub fn providers_in_manifest(
    table: &ProviderTable,
    path: &str,
    text: &str,
) -> Vec<(String, String)> {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    let Some(&(_, eco)) = MANIFESTS.iter().find(|(name, _)| *name == file_name) else {
        return Vec::new();
    };
    let deps = manifest_dependencies(file_name, text);
    let mut out = Vec::new();
    for p in &table.providers {
        if let Some(dep) = deps.iter().find(|d| {
            p.packages
                .of(eco)
                .iter()
                .any(|k| package_matches(eco, d, k))
        }) {
            let dep = sanitize::clean_line(dep, 80);
            out.push((p.key.clone(), format!("manifest:{path} ({dep})")));
        }
    }
    out
}

/// The manifest paths to read for a service: each of [`MANIFESTS`] at the repository root and,
/// when the service builds from a subdirectory, under it too.
pub fn manifest_paths(root_dir: Option<&str>) -> Vec<String> {
    let mut paths: Vec<String> = MANIFESTS.iter().map(|(f, _)| (*f).to_owned()).collect();
    if let Some(dir) = root_dir
        .map(|d| d.trim_matches('/'))
        .filter(|d| !d.is_empty() && *d != ".")
    {
        paths.extend(MANIFESTS.iter().map(|(f, _)| format!("{dir}/{f}")));
    }
    paths
}
