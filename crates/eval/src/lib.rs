//! Runs labelled scenario files ([`demo::scenario_file`]) through the same detection the monitor
//! uses and scores it: precision, recall and exact match per finding kind and per scenario.
//!
//! A label is `(service, kind)`. Per scenario, the incidents detection reports are compared with
//! `expect.incidents`: a reported incident that is labelled is a true positive, one that is not is
//! a false positive, a labelled one not reported a false negative. `expect.recovered` labels must
//! come out as `recovered` findings (a miss is a false negative of that kind), and `expect.healthy`
//! services must have no incident. A scenario is an exact match when it has no false positive and
//! no false negative.

#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use demo::scenario_file::{ScenarioError, ScenarioFile};
use detect::{Context, Severity, Thresholds, detect_with};
use serde::Serialize;

/// `(service label, kind)`.
type Key = (String, String);

/// The outcome of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioResult {
    /// File name.
    pub file: String,
    /// The scenario's `name`.
    pub name: String,
    /// Services in the built project (counted copies included).
    pub services: usize,
    /// Labelled findings detection reported: `(service label, kind)`; recovered and observation
    /// labels carry a `:recovered` / `:observation` suffix on the kind.
    pub true_positives: Vec<Key>,
    /// Incidents detection reported that no label asked for.
    pub false_positives: Vec<Key>,
    /// Labelled findings detection missed (same suffixes as `true_positives`).
    pub false_negatives: Vec<Key>,
    /// No false positive and no false negative.
    pub exact_match: bool,
}

/// Counts of one finding kind over every scenario.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct KindScore {
    /// Labelled and reported.
    pub true_positives: u64,
    /// Reported without a label.
    pub false_positives: u64,
    /// Labelled but not reported.
    pub false_negatives: u64,
    /// `None` when nothing was reported.
    pub precision: Option<f64>,
    /// `None` when nothing was labelled.
    pub recall: Option<f64>,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// One result per scenario, in file-name order.
    pub scenarios: Vec<ScenarioResult>,
    /// Scores per kind (with the `:recovered` / `:observation` suffixes as separate kinds).
    pub kinds: BTreeMap<String, KindScore>,
    /// Scenarios without any false positive or negative.
    pub exact_matches: usize,
    /// Share of scenarios that match exactly, `0..=1`.
    pub exact_match_rate: f64,
}

impl Evaluation {
    /// Every scenario matched exactly, and there was at least one; `autofix eval` fails otherwise.
    pub fn all_exact(&self) -> bool {
        self.exact_matches == self.scenarios.len() && !self.scenarios.is_empty()
    }
}

/// Why a scenario directory could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read scenario directory {dir}: {source}")]
    /// The directory could not be listed.
    Dir {
        /// The directory as given.
        dir: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The directory has no `*.toml` file; carries the directory.
    #[error("no scenario files (*.toml) in {0}")]
    Empty(String),
    /// One file could not be read, parsed or validated.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// Every `*.toml` of `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<(String, ScenarioFile)>, EvalError> {
    let entries = std::fs::read_dir(dir).map_err(|source| EvalError::Dir {
        dir: dir.display().to_string(),
        source,
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(EvalError::Empty(dir.display().to_string()));
    }
    let mut out = Vec::new();
    for p in paths {
        let shown = p.display().to_string();
        let text = std::fs::read_to_string(&p).map_err(|source| ScenarioError::Read {
            path: shown.clone(),
            source,
        })?;
        let file = ScenarioFile::parse(&shown, &text)?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(shown);
        out.push((name, file));
    }
    Ok(out)
}

/// Runs one scenario through detection with its baselines and deployment history.
pub fn run_scenario(file_name: &str, s: &ScenarioFile, t: &Thresholds) -> ScenarioResult {
    let (snap, mut baselines) = s.build();
    // Only what the worker would read: the candidates' baselines, one request's worth.
    let wanted = detect::baseline_candidates(
        &snap.architecture,
        &snap.http,
        t,
        railway::MAX_BASELINE_SERVICES,
    );
    baselines.retain(|id, _| wanted.contains(id));
    let ctx = Context {
        baselines,
        deployments: snap.deployments.clone(),
    };
    let report = detect_with(&snap.architecture, &snap.resources, &snap.http, t, &ctx);
    let label = |service: &str, kind: detect::FindingKind| -> Key {
        (s.label_name(service).to_owned(), kind.as_str().to_owned())
    };
    let reported: BTreeSet<Key> = report
        .incidents()
        .map(|f| label(&f.service, f.kind))
        .collect();
    let with = |sev: Severity| -> BTreeSet<Key> {
        report
            .findings
            .iter()
            .filter(|f| f.severity == sev)
            .map(|f| label(&f.service, f.kind))
            .collect()
    };
    let recovered = with(Severity::Recovered);
    let observed = with(Severity::Observation);
    let expected: BTreeSet<Key> = s
        .expect
        .incidents
        .iter()
        .map(|l| (l.service.clone(), l.kind.clone()))
        .collect();
    let mut tp: Vec<Key> = reported.intersection(&expected).cloned().collect();
    let fp: Vec<Key> = reported.difference(&expected).cloned().collect();
    let mut fneg: Vec<Key> = expected.difference(&reported).cloned().collect();
    for (labels, found, suffix) in [
        (&s.expect.recovered, &recovered, "recovered"),
        (&s.expect.observations, &observed, "observation"),
    ] {
        for l in labels {
            let key = (l.service.clone(), format!("{}:{suffix}", l.kind));
            if found.contains(&(l.service.clone(), l.kind.clone())) {
                tp.push(key);
            } else {
                fneg.push(key);
            }
        }
    }
    // A healthy-labelled service with an incident is already a false positive above (it cannot
    // also be labelled with one: the file would contradict itself).
    ScenarioResult {
        file: file_name.to_owned(),
        name: s.name.clone(),
        services: snap.architecture.services.len(),
        exact_match: fp.is_empty() && fneg.is_empty(),
        true_positives: tp,
        false_positives: fp,
        false_negatives: fneg,
    }
}

/// Runs every scenario and aggregates per kind (`error_rate_5xx:recovered` counts recoveries,
/// `memory:observation` observations).
pub fn evaluate(scenarios: &[(String, ScenarioFile)], t: &Thresholds) -> Evaluation {
    let results: Vec<ScenarioResult> = scenarios
        .iter()
        .map(|(file, s)| run_scenario(file, s, t))
        .collect();
    let mut kinds: BTreeMap<String, KindScore> = BTreeMap::new();
    for r in &results {
        for (_, k) in &r.true_positives {
            kinds.entry(k.clone()).or_default().true_positives += 1;
        }
        for (_, k) in &r.false_positives {
            kinds.entry(k.clone()).or_default().false_positives += 1;
        }
        for (_, k) in &r.false_negatives {
            kinds.entry(k.clone()).or_default().false_negatives += 1;
        }
    }
    for k in kinds.values_mut() {
        let reported = k.true_positives + k.false_positives;
        let labelled = k.true_positives + k.false_negatives;
        k.precision = (reported > 0).then(|| k.true_positives as f64 / reported as f64);
        k.recall = (labelled > 0).then(|| k.true_positives as f64 / labelled as f64);
    }
    let exact_matches = results.iter().filter(|r| r.exact_match).count();
    Evaluation {
        exact_match_rate: if results.is_empty() {
            0.0
        } else {
            exact_matches as f64 / results.len() as f64
        },
        exact_matches,
        scenarios: results,
        kinds,
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{:.0} %", v * 100.0))
}

/// The per-kind table and the summary line, as the README publishes them.
pub fn summary_markdown(e: &Evaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} scenarios, {} services: exact match **{}/{} ({:.0} %)**",
        e.scenarios.len(),
        e.scenarios.iter().map(|s| s.services).sum::<usize>(),
        e.exact_matches,
        e.scenarios.len(),
        e.exact_match_rate * 100.0
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| kind | labelled | reported | true positives | precision | recall |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (kind, k) in &e.kinds {
        let _ = writeln!(
            out,
            "| `{kind}` | {} | {} | {} | {} | {} |",
            k.true_positives + k.false_negatives,
            k.true_positives + k.false_positives,
            k.true_positives,
            pct(k.precision),
            pct(k.recall)
        );
    }
    out
}

/// Summary, then one line per scenario with what it missed or added.
pub fn full_markdown(e: &Evaluation) -> String {
    let mut out = summary_markdown(e);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| scenario | services | exact | found | missed | extra |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let list = |v: &[Key]| -> String {
        if v.is_empty() {
            "–".to_owned()
        } else {
            v.iter()
                .map(|(s, k)| format!("{s} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    for r in &e.scenarios {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.file,
            r.services,
            if r.exact_match { "yes" } else { "**no**" },
            list(&r.true_positives),
            list(&r.false_negatives),
            list(&r.false_positives)
        );
    }
    out
}
