//! A small GraphQL validator: checks that an operation only selects fields, arguments and
//! variable types a schema defines. It covers what our operations use (fields, aliases, arguments,
//! variables, literals, inline fragments and fragment spreads), not the whole GraphQL spec.

use std::collections::{BTreeMap, BTreeSet};

use graphql_parser::query::{
    Definition, Document, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
    Type as QType, TypeCondition, Value,
};
use graphql_parser::schema::{self, Type as SType, TypeDefinition};

/// A parsed schema, indexed by type name.
pub struct Schema {
    types: BTreeMap<String, Kind>,
    query_type: String,
}

#[derive(Debug)]
enum Kind {
    Scalar,
    Enum(BTreeSet<String>),
    Input(BTreeMap<String, Ty>),
    Object(BTreeMap<String, FieldDef>),
    Union,
}

#[derive(Debug)]
struct FieldDef {
    ty: Ty,
    args: BTreeMap<String, (Ty, bool)>,
}

/// A type reference: list/non-null wrapping around a named type.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ty {
    Named(String),
    List(Box<Ty>),
    NonNull(Box<Ty>),
}

impl Ty {
    fn base(&self) -> &str {
        match self {
            Ty::Named(n) => n,
            Ty::List(t) | Ty::NonNull(t) => t.base(),
        }
    }

    fn nullable(&self) -> &Ty {
        match self {
            Ty::NonNull(t) => t,
            t => t,
        }
    }

    /// Whether a variable of type `self` may be passed where `target` is expected.
    fn fits(&self, target: &Ty, has_default: bool) -> bool {
        match (self, target) {
            (Ty::NonNull(a), Ty::NonNull(b)) => a.fits(b, false),
            (Ty::NonNull(a), b) => a.fits(b, false),
            (a, Ty::NonNull(b)) => has_default && a.fits(b, false),
            (Ty::List(a), Ty::List(b)) => a.fits(b, false),
            (Ty::Named(a), Ty::Named(b)) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Named(n) => write!(f, "{n}"),
            Ty::List(t) => write!(f, "[{t}]"),
            Ty::NonNull(t) => write!(f, "{t}!"),
        }
    }
}

fn sty(t: &SType<'_, String>) -> Ty {
    match t {
        SType::NamedType(n) => Ty::Named(n.clone()),
        SType::ListType(t) => Ty::List(Box::new(sty(t))),
        SType::NonNullType(t) => Ty::NonNull(Box::new(sty(t))),
    }
}

fn qty(t: &QType<'_, String>) -> Ty {
    match t {
        QType::NamedType(n) => Ty::Named(n.clone()),
        QType::ListType(t) => Ty::List(Box::new(qty(t))),
        QType::NonNullType(t) => Ty::NonNull(Box::new(qty(t))),
    }
}

const BUILTIN_SCALARS: &[&str] = &["String", "Int", "Float", "Boolean", "ID"];

impl Schema {
    /// Parses an SDL schema (e.g. Railway's public `schema.graphql`) into the types the checks
    /// use; the error names the parse failure.
    pub fn parse(sdl: &str) -> Result<Self, String> {
        let doc = schema::parse_schema::<String>(sdl)
            .map_err(|e| format!("schema does not parse: {e}"))?;
        let mut types = BTreeMap::new();
        for s in BUILTIN_SCALARS {
            types.insert((*s).to_owned(), Kind::Scalar);
        }
        let mut query_type = "Query".to_owned();
        for def in doc.definitions {
            match def {
                schema::Definition::SchemaDefinition(s) => {
                    if let Some(q) = s.query {
                        query_type = q;
                    }
                }
                schema::Definition::TypeDefinition(t) => {
                    let (name, kind) = match t {
                        TypeDefinition::Scalar(s) => (s.name, Kind::Scalar),
                        TypeDefinition::Enum(e) => (
                            e.name,
                            Kind::Enum(e.values.into_iter().map(|v| v.name).collect()),
                        ),
                        TypeDefinition::InputObject(i) => (
                            i.name,
                            Kind::Input(
                                i.fields
                                    .iter()
                                    .map(|f| (f.name.clone(), sty(&f.value_type)))
                                    .collect(),
                            ),
                        ),
                        TypeDefinition::Object(o) => (o.name, Kind::Object(fields(&o.fields))),
                        TypeDefinition::Interface(i) => (i.name, Kind::Object(fields(&i.fields))),
                        TypeDefinition::Union(u) => (u.name, Kind::Union),
                    };
                    types.insert(name, kind);
                }
                _ => {}
            }
        }
        Ok(Self { types, query_type })
    }

    /// Every problem found in `query`; empty when it is valid.
    pub fn check(&self, query: &str) -> Vec<String> {
        let doc: Document<'_, String> = match graphql_parser::parse_query(query) {
            Ok(d) => d,
            Err(e) => return vec![format!("operation does not parse: {e}")],
        };
        let fragments: BTreeMap<String, &FragmentDefinition<'_, String>> = doc
            .definitions
            .iter()
            .filter_map(|d| match d {
                Definition::Fragment(f) => Some((f.name.clone(), f)),
                _ => None,
            })
            .collect();
        let mut errors = Vec::new();
        for def in &doc.definitions {
            let Definition::Operation(op) = def else {
                continue;
            };
            let (vars, set) = match op {
                OperationDefinition::Query(q) => (&q.variable_definitions, &q.selection_set),
                OperationDefinition::SelectionSet(s) => (&Vec::new(), s),
                _ => {
                    errors.push("only queries are supported".to_owned());
                    continue;
                }
            };
            let mut declared = BTreeMap::new();
            for v in vars {
                let ty = qty(&v.var_type);
                match self.types.get(ty.base()) {
                    Some(Kind::Scalar | Kind::Enum(_) | Kind::Input(_)) => {}
                    Some(_) => errors.push(format!("variable ${} has non-input type {ty}", v.name)),
                    None => errors.push(format!("variable ${} has unknown type {ty}", v.name)),
                }
                declared.insert(v.name.clone(), (ty, v.default_value.is_some()));
            }
            let mut ctx = Ctx {
                schema: self,
                fragments: &fragments,
                declared: &declared,
                used: BTreeSet::new(),
                errors: &mut errors,
            };
            ctx.selection_set(&self.query_type, set, &self.query_type);
            let used = ctx.used;
            for name in declared.keys() {
                if !used.contains(name) {
                    errors.push(format!("variable ${name} is declared but never used"));
                }
            }
        }
        errors
    }
}

fn fields(defs: &[schema::Field<'_, String>]) -> BTreeMap<String, FieldDef> {
    defs.iter()
        .map(|f| {
            let args = f
                .arguments
                .iter()
                .map(|a| {
                    (
                        a.name.clone(),
                        (sty(&a.value_type), a.default_value.is_some()),
                    )
                })
                .collect();
            (
                f.name.clone(),
                FieldDef {
                    ty: sty(&f.field_type),
                    args,
                },
            )
        })
        .collect()
}

struct Ctx<'a, 'q> {
    schema: &'a Schema,
    fragments: &'a BTreeMap<String, &'a FragmentDefinition<'q, String>>,
    declared: &'a BTreeMap<String, (Ty, bool)>,
    used: BTreeSet<String>,
    errors: &'a mut Vec<String>,
}

impl Ctx<'_, '_> {
    fn selection_set(&mut self, parent: &str, set: &SelectionSet<'_, String>, path: &str) {
        for item in &set.items {
            match item {
                Selection::Field(f) => {
                    if f.name == "__typename" {
                        continue;
                    }
                    let here = format!("{path}.{}", f.name);
                    let def = match self.schema.types.get(parent) {
                        Some(Kind::Object(fields)) => fields.get(&f.name),
                        _ => None,
                    };
                    let Some(def) = def else {
                        self.errors
                            .push(format!("{here}: type {parent} has no field {}", f.name));
                        continue;
                    };
                    for (name, value) in &f.arguments {
                        match def.args.get(name) {
                            None => self.errors.push(format!("{here}: unknown argument {name}")),
                            Some((ty, _)) => self.value(value, ty, &format!("{here}({name})")),
                        }
                    }
                    for (name, (ty, has_default)) in &def.args {
                        if matches!(ty, Ty::NonNull(_))
                            && !has_default
                            && !f.arguments.iter().any(|(n, _)| n == name)
                        {
                            self.errors
                                .push(format!("{here}: missing required argument {name}"));
                        }
                    }
                    let base = def.ty.base().to_owned();
                    match self.schema.types.get(&base) {
                        Some(Kind::Object(_) | Kind::Union) => {
                            if f.selection_set.items.is_empty() {
                                self.errors
                                    .push(format!("{here}: {base} needs a selection"));
                            }
                            self.selection_set(&base, &f.selection_set, &here);
                        }
                        _ => {
                            if !f.selection_set.items.is_empty() {
                                self.errors.push(format!(
                                    "{here}: {base} is a leaf and takes no selection"
                                ));
                            }
                        }
                    }
                }
                Selection::InlineFragment(i) => {
                    let target = match &i.type_condition {
                        Some(TypeCondition::On(t)) => t.clone(),
                        None => parent.to_owned(),
                    };
                    if !self.schema.types.contains_key(&target) {
                        self.errors
                            .push(format!("{path}: unknown type {target} in inline fragment"));
                        continue;
                    }
                    self.selection_set(&target, &i.selection_set, path);
                }
                Selection::FragmentSpread(s) => match self.fragments.get(&s.fragment_name) {
                    None => self
                        .errors
                        .push(format!("{path}: unknown fragment {}", s.fragment_name)),
                    Some(frag) => {
                        let TypeCondition::On(target) = &frag.type_condition;
                        if !self.schema.types.contains_key(target) {
                            self.errors
                                .push(format!("fragment {}: unknown type {target}", frag.name));
                            continue;
                        }
                        let set = frag.selection_set.clone();
                        self.selection_set(&target.clone(), &set, path);
                    }
                },
            }
        }
    }

    fn value(&mut self, value: &Value<'_, String>, expected: &Ty, at: &str) {
        match value {
            Value::Variable(name) => {
                self.used.insert(name.clone());
                match self.declared.get(name) {
                    None => self
                        .errors
                        .push(format!("{at}: undeclared variable ${name}")),
                    Some((ty, has_default)) if !ty.fits(expected, *has_default) => {
                        self.errors.push(format!(
                            "{at}: variable ${name} of type {ty} cannot be used as {expected}"
                        ))
                    }
                    Some(_) => {}
                }
            }
            Value::Null => {
                if matches!(expected, Ty::NonNull(_)) {
                    self.errors
                        .push(format!("{at}: null for non-null {expected}"));
                }
            }
            Value::List(items) => match expected.nullable() {
                Ty::List(inner) => items.iter().for_each(|v| self.value(v, inner, at)),
                _ => self.errors.push(format!("{at}: list given for {expected}")),
            },
            other => {
                let ty = expected.nullable();
                if let Ty::List(inner) = ty {
                    // A single value is coerced to a one-element list.
                    return self.value(other, inner, at);
                }
                let base = ty.base();
                let ok = match (other, self.schema.types.get(base)) {
                    (Value::Enum(v), Some(Kind::Enum(values))) => values.contains(v),
                    (Value::Int(_), Some(Kind::Scalar)) => {
                        matches!(base, "Int" | "Float" | "ID") || !BUILTIN_SCALARS.contains(&base)
                    }
                    (Value::Float(_), Some(Kind::Scalar)) => {
                        base == "Float" || !BUILTIN_SCALARS.contains(&base)
                    }
                    (Value::String(_), Some(Kind::Scalar)) => {
                        matches!(base, "String" | "ID") || !BUILTIN_SCALARS.contains(&base)
                    }
                    (Value::Boolean(_), Some(Kind::Scalar)) => {
                        base == "Boolean" || !BUILTIN_SCALARS.contains(&base)
                    }
                    (Value::Object(fields), Some(Kind::Input(defs))) => {
                        let mut ok = true;
                        for (k, v) in fields {
                            match defs.get(k) {
                                Some(t) => self.value(v, &t.clone(), &format!("{at}.{k}")),
                                None => ok = false,
                            }
                        }
                        ok
                    }
                    _ => false,
                };
                if !ok {
                    self.errors
                        .push(format!("{at}: literal {other} does not fit {expected}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        schema { query: Query }
        scalar DateTime
        enum Color { RED GREEN }
        type Query { thing(id: String!, colors: [Color!], at: DateTime): Thing! }
        type Thing { id: ID! name: String child: Thing }
    "#;

    #[test]
    fn accepts_a_valid_query() {
        let s = Schema::parse(SDL).unwrap();
        let q = "query Q($id: String!, $at: DateTime) { a: thing(id: $id, colors: [RED], at: $at) { id child { name } } }";
        assert_eq!(s.check(q), Vec::<String>::new());
    }

    #[test]
    fn rejects_each_kind_of_mistake() {
        let s = Schema::parse(SDL).unwrap();
        let cases = [
            ("query Q { thing(id: \"x\") { nope } }", "has no field nope"),
            (
                "query Q { thing(id: \"x\", bogus: 1) { id } }",
                "unknown argument bogus",
            ),
            ("query Q { thing { id } }", "missing required argument id"),
            (
                "query Q($id: String) { thing(id: $id) { id } }",
                "cannot be used as String!",
            ),
            (
                "query Q($id: Int!) { thing(id: $id) { id } }",
                "cannot be used as String!",
            ),
            ("query Q { thing(id: $id) { id } }", "undeclared variable"),
            (
                "query Q($x: String!) { thing(id: \"x\") { id } }",
                "never used",
            ),
            (
                "query Q { thing(id: \"x\", colors: [BLUE]) { id } }",
                "does not fit",
            ),
            ("query Q { thing(id: \"x\") }", "needs a selection"),
            ("query Q { thing(id: \"x\") { id { x } } }", "is a leaf"),
            (
                "query Q($t: Thing) { thing(id: \"x\") { id } }",
                "non-input type",
            ),
        ];
        for (q, expected) in cases {
            let errors = s.check(q);
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{q}: {errors:?}"
            );
        }
    }
}
