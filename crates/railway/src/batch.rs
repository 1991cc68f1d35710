//! Run-time aliased documents. `graphql_client` needs a fixed document, but batching a variable
//! number of services needs one copy of a template's root fields per service. The templates are
//! ordinary `.graphql` operations for one service (validated against the schema like the others);
//! this module repeats their root fields under `s<i>_<alias>` with per-service variables renamed
//! `<name>_<i>`, so the generated document is valid whenever the template is.

use std::collections::{BTreeMap, BTreeSet};

use graphql_parser::query::{
    Definition, Document, OperationDefinition, Selection, Value as GqlValue,
};
use serde_json::{Map, Value};

/// Aliased root fields per request. Railway does not document a limit; public collectors that
/// batch with aliases cap themselves at 20 because larger requests failed with "Problem
/// processing request".
pub const MAX_ALIASES_PER_REQUEST: usize = 20;

/// Data points (metric samples, log rows) one answer may carry: the same collectors saw requests
/// fail beyond about 30 000.
pub const MAX_POINTS_PER_REQUEST: usize = 30_000;

/// Empirical per-request cost ceiling (breadth) observed by public collectors.
pub const MAX_REQUEST_COST: u32 = 500;

/// What one request may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Root-field aliases a request may carry.
    pub aliases: usize,
    /// Data points (samples, rows) a request may ask for.
    pub points: usize,
    /// Summed [`field_cost`] a request may carry.
    pub cost: u32,
}

/// The per-request ceilings every batched request is planned against.
pub const REQUEST_BUDGET: Budget = Budget {
    aliases: MAX_ALIASES_PER_REQUEST,
    points: MAX_POINTS_PER_REQUEST,
    cost: MAX_REQUEST_COST,
};

/// One item's share of a request (one service's fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Share {
    /// Root-field aliases the item adds.
    pub aliases: usize,
    /// Data points the item asks for.
    pub points: usize,
    /// Summed [`field_cost`] of the item's fields.
    pub cost: u32,
}

/// Packs items, in order, into consecutive batches that stay within `budget`; an item larger
/// than the whole budget gets a batch of its own.
pub fn pack(shares: &[Share], budget: Budget) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut used = Share::default();
    for (i, s) in shares.iter().enumerate() {
        let fits = used.aliases + s.aliases <= budget.aliases
            && used.points + s.points <= budget.points
            && used.cost + s.cost <= budget.cost;
        if !fits && i > start {
            out.push(start..i);
            start = i;
            used = Share::default();
        }
        used.aliases += s.aliases;
        used.points += s.points;
        used.cost += s.cost;
    }
    if start < shares.len() {
        out.push(start..shares.len());
    }
    out
}

/// Empirical cost of one root field, by field name.
pub fn field_cost(field: &str) -> u32 {
    match field {
        "metrics" | "usage" => 12,
        "buildLogs" | "deploymentLogs" | "environmentLogs" => 13,
        "httpLogs" => 21,
        "httpDurationMetrics" | "httpMetricsGroupedByStatus" | "httpMetrics" => 5,
        _ => 1,
    }
}

/// Per-service template of the HTTP metrics read (`ServiceHttpMetrics.graphql`).
pub const HTTP_METRICS_TEMPLATE: &str = include_str!("../graphql/ServiceHttpMetrics.graphql");
/// Per-service template of the HTTP logs read (`ServiceHttpLogs.graphql`).
pub const HTTP_LOGS_TEMPLATE: &str = include_str!("../graphql/ServiceHttpLogs.graphql");
/// Per-service template of the build and deploy logs read (`ServiceLogs.graphql`).
pub const SERVICE_LOGS_TEMPLATE: &str = include_str!("../graphql/ServiceLogs.graphql");

/// Variables that differ per service in the templates; all others are shared by the batch.
const PER_SERVICE_VARIABLES: &[&str] = &["serviceId", "deploymentId"];

/// One service's share of a batch.
#[derive(Debug, Clone, Default)]
pub struct BatchEntry {
    /// Values of the per-service variables (`serviceId`, `deploymentId`) for this service.
    pub vars: BTreeMap<&'static str, Value>,
    /// Template root fields (by alias) to include for this service.
    pub fields: Vec<&'static str>,
}

/// A document ready to send.
#[derive(Debug, Clone)]
pub struct BatchDocument {
    /// Operation name of the merged document.
    pub operation: String,
    /// The merged GraphQL document, one aliased copy of the template's fields per service.
    pub query: String,
    /// Shared and per-service (suffixed) variables.
    pub variables: Value,
    /// Summed [`field_cost`] of the document's fields.
    pub cost: u32,
}

/// Key of a service's field in the response.
pub fn alias(index: usize, field: &str) -> String {
    format!("s{index}_{field}")
}

/// Root fields (alias or name → field name) of a template, in document order.
pub fn template_fields(template: &str) -> Vec<(String, String)> {
    let Ok(doc) = graphql_parser::parse_query::<String>(template).map(|d| d.into_static()) else {
        return Vec::new();
    };
    let Some(query) = first_query(&doc) else {
        return Vec::new();
    };
    query
        .selection_set
        .items
        .iter()
        .filter_map(|s| match s {
            Selection::Field(f) => Some((
                f.alias.clone().unwrap_or_else(|| f.name.clone()),
                f.name.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// Cost of the given template fields for one service.
pub fn entry_cost(template: &str, fields: &[&str]) -> u32 {
    template_fields(template)
        .iter()
        .filter(|(alias, _)| fields.contains(&alias.as_str()))
        .map(|(_, name)| field_cost(name))
        .sum()
}

fn first_query<'d>(
    doc: &'d Document<'static, String>,
) -> Option<&'d graphql_parser::query::Query<'static, String>> {
    doc.definitions.iter().find_map(|d| match d {
        Definition::Operation(OperationDefinition::Query(q)) => Some(q),
        _ => None,
    })
}

/// Builds the batched document. `shared` holds values for the shared variables; shared variables
/// no included field uses are dropped (GraphQL rejects unused variables).
pub fn build(
    template: &str,
    entries: &[BatchEntry],
    shared: &Map<String, Value>,
) -> Result<BatchDocument, String> {
    let mut doc = graphql_parser::parse_query::<String>(template)
        .map_err(|e| format!("template does not parse: {e}"))?
        .into_static();
    let Some(Definition::Operation(OperationDefinition::Query(query))) =
        doc.definitions.first_mut()
    else {
        return Err("template must start with a query operation".into());
    };
    let base_name = query.name.clone().unwrap_or_else(|| "Batch".into());
    let operation = format!("{base_name}Batch");
    let template_defs = std::mem::take(&mut query.variable_definitions);
    let template_items = std::mem::take(&mut query.selection_set.items);

    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut items = Vec::new();
    let mut variables = Map::new();
    let mut cost = 0;
    for (i, entry) in entries.iter().enumerate() {
        for item in &template_items {
            let Selection::Field(field) = item else {
                continue;
            };
            let key = field.alias.clone().unwrap_or_else(|| field.name.clone());
            if !entry.fields.contains(&key.as_str()) {
                continue;
            }
            let mut field = field.clone();
            field.alias = Some(alias(i, &key));
            rename_field_variables(&mut field, i, &mut used);
            cost += field_cost(&field.name);
            items.push(Selection::Field(field));
        }
        for (name, value) in &entry.vars {
            variables.insert(format!("{name}_{i}"), value.clone());
        }
    }

    let mut defs = Vec::new();
    for def in &template_defs {
        if PER_SERVICE_VARIABLES.contains(&def.name.as_str()) {
            for i in 0..entries.len() {
                let renamed = format!("{}_{i}", def.name);
                if used.contains(&renamed) {
                    let mut d = def.clone();
                    d.name = renamed;
                    defs.push(d);
                }
            }
        } else if used.contains(&def.name) {
            defs.push(def.clone());
            if let Some(v) = shared.get(&def.name) {
                variables.insert(def.name.clone(), v.clone());
            }
        }
    }
    // Values for per-service variables of dropped fields would be unused variables.
    variables.retain(|k, _| used.contains(k));

    query.name = Some(operation.clone());
    query.variable_definitions = defs;
    query.selection_set.items = items;
    Ok(BatchDocument {
        operation,
        query: compact(doc.to_string()),
        variables: Value::Object(variables),
        cost,
    })
}

/// Twenty services' fields printed with indentation are ~30 KB; the minified form is a third.
fn compact(printed: String) -> String {
    graphql_parser::minify_query(printed.clone()).unwrap_or(printed)
}

/// Renames the variables of a field's arguments and of every nested field's (a connection's
/// `after:` sits below the root field).
fn rename_field_variables(
    field: &mut graphql_parser::query::Field<'static, String>,
    index: usize,
    used: &mut BTreeSet<String>,
) {
    for (_, value) in &mut field.arguments {
        rename_variables(value, index, used);
    }
    for item in &mut field.selection_set.items {
        if let Selection::Field(nested) = item {
            rename_field_variables(nested, index, used);
        }
    }
}

fn rename_variables(
    value: &mut GqlValue<'static, String>,
    index: usize,
    used: &mut BTreeSet<String>,
) {
    match value {
        GqlValue::Variable(name) => {
            if PER_SERVICE_VARIABLES.contains(&name.as_str()) {
                *name = format!("{name}_{index}");
            }
            used.insert(name.clone());
        }
        GqlValue::List(items) => items
            .iter_mut()
            .for_each(|v| rename_variables(v, index, used)),
        GqlValue::Object(fields) => fields
            .values_mut()
            .for_each(|v| rename_variables(v, index, used)),
        _ => {}
    }
}

/// A batched answer: each alias's JSON text, decoded field by field into typed structs.
pub type BatchData = std::collections::HashMap<String, Box<serde_json::value::RawValue>>;

/// Takes one service's field out of a batched response.
pub fn take<T: serde::de::DeserializeOwned>(
    data: &mut BatchData,
    index: usize,
    field: &str,
) -> Result<Option<T>, serde_json::Error> {
    match data.remove(&alias(index, field)) {
        None => Ok(None),
        Some(v) if v.get() == "null" => Ok(None),
        Some(v) => serde_json::from_str(v.get()).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(service: &str, deployment: Option<&str>, fields: &[&'static str]) -> BatchEntry {
        let mut vars = BTreeMap::new();
        vars.insert("serviceId", json!(service));
        if let Some(d) = deployment {
            vars.insert("deploymentId", json!(d));
        }
        BatchEntry {
            vars,
            fields: fields.to_vec(),
        }
    }

    #[test]
    fn repeats_fields_with_prefixed_aliases_and_renamed_variables() {
        let shared = json!({"environmentId": "env", "startDate": "a", "endDate": "b", "stepSeconds": 30,
            "endpointFilter": "f", "endpointLimit": 10, "beforeDate": "x", "anchorDate": "y"});
        let entries = [
            entry(
                "svc-a",
                Some("dep-a"),
                &[
                    "byStatus",
                    "latencyTimeline",
                    "latencyWindow",
                    "endpointLogs",
                ],
            ),
            entry(
                "svc-b",
                None,
                &["byStatus", "latencyTimeline", "latencyWindow"],
            ),
        ];
        let doc = build(HTTP_METRICS_TEMPLATE, &entries, shared.as_object().unwrap()).unwrap();
        assert_eq!(doc.operation, "ServiceHttpMetricsBatch");
        assert!(
            doc.query
                .contains("s0_byStatus:httpMetricsGroupedByStatus(serviceId:$serviceId_0 "),
            "{}",
            doc.query
        );
        assert!(
            doc.query
                .contains("s1_latencyWindow:httpDurationMetrics(serviceId:$serviceId_1 ")
        );
        assert!(
            doc.query
                .contains("s0_endpointLogs:httpLogs(deploymentId:$deploymentId_0 ")
        );
        assert!(!doc.query.contains("s1_endpointLogs"));
        assert!(!doc.query.contains("$deploymentId_1"));
        assert_eq!(doc.cost, 15 + 21 + 15);
        let vars = doc.variables.as_object().unwrap();
        assert_eq!(vars["serviceId_1"], "svc-b");
        assert_eq!(vars["deploymentId_0"], "dep-a");
        assert!(!vars.contains_key("deploymentId_1"));
        assert_eq!(vars["environmentId"], "env");
    }

    #[test]
    fn variables_of_nested_fields_are_declared() {
        let template = "query T($environmentId: String!, $after: String) { env: environment(id: $environmentId) { volumeInstances(first: 1, after: $after) { edges { cursor } } } }";
        let shared = json!({"environmentId": "env", "after": "3"});
        let doc = build(
            template,
            &[BatchEntry {
                vars: BTreeMap::new(),
                fields: vec!["env"],
            }],
            shared.as_object().unwrap(),
        )
        .unwrap();
        assert!(doc.query.contains("$after:String"), "{}", doc.query);
        assert_eq!(doc.variables["after"], "3");
    }

    #[test]
    fn unused_shared_variables_are_dropped() {
        let shared = json!({"environmentId": "env", "startDate": "a", "endDate": "b", "endpointFilter": "f"});
        let doc = build(
            HTTP_METRICS_TEMPLATE,
            &[entry("s", None, &["byStatus"])],
            shared.as_object().unwrap(),
        )
        .unwrap();
        assert!(!doc.query.contains("$endpointFilter"));
        assert!(
            !doc.variables
                .as_object()
                .unwrap()
                .contains_key("endpointFilter")
        );
        assert_eq!(doc.cost, 5);
    }

    #[test]
    fn packing_respects_every_budget() {
        let b = Budget {
            aliases: 20,
            points: 100,
            cost: 500,
        };
        let s = |aliases, points| Share {
            aliases,
            points,
            cost: 1,
        };
        assert_eq!(pack(&[s(4, 1); 11], b), [0..5, 5..10, 10..11]);
        assert_eq!(pack(&[s(1, 40); 5], b), [0..2, 2..4, 4..5]);
        assert_eq!(
            pack(&[s(1, 500), s(1, 1)], b),
            [0..1, 1..2],
            "oversized alone"
        );
        assert!(pack(&[], b).is_empty());
    }

    #[test]
    fn template_costs() {
        assert_eq!(
            entry_cost(
                HTTP_METRICS_TEMPLATE,
                &[
                    "byStatus",
                    "latencyTimeline",
                    "latencyWindow",
                    "endpointLogs"
                ]
            ),
            36
        );
        assert_eq!(
            entry_cost(
                SERVICE_LOGS_TEMPLATE,
                &["target", "build", "deploy", "http"]
            ),
            48
        );
    }
}
