//! The README's reference sections stay true to the code.

const README: &str = include_str!("../../../README.md");

/// The `kind` values the README's `check --json` example lists.
fn documented_kinds() -> Vec<String> {
    let line = README
        .lines()
        .find(|l| l.contains("\"kind\":") && l.contains("//"))
        .expect("the README's check --json example documents `kind`");
    let list = line.split("//").nth(1).unwrap();
    list.split('|').map(|k| k.trim().to_owned()).collect()
}

#[test]
fn finding_kinds_serialise_as_the_readme_documents() {
    use detect::FindingKind::*;
    let all = [
        Cpu,
        Memory,
        MemoryTrend,
        ErrorRate5xx,
        ErrorRate4xx,
        Latency,
        Deployment,
    ];
    let documented = documented_kinds();
    let serialised: Vec<String> = all
        .iter()
        .map(|k| {
            let json = serde_json::to_value(k).unwrap();
            let name = json.as_str().unwrap().to_owned();
            assert_eq!(
                name,
                k.as_str(),
                "JSON and fingerprint names differ for {k:?}"
            );
            name
        })
        .collect();
    assert_eq!(serialised, documented);
}
