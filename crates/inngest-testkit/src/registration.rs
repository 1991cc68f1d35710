//! Validation of the SDK's `POST /fn/register` body.

use crate::expr;
use crate::model::{FunctionDef, Registration, Trigger};
use serde_json::Value;
use std::collections::HashSet;

/// Highest `retries.attempts` the server accepts.
pub const MAX_RETRIES: u64 = 20;
/// Most triggers one function may have.
pub const MAX_TRIGGERS: usize = 10;

/// Check a register body the way the Inngest server does (plus the expression
/// subset this executor can evaluate) and turn it into a [`Registration`].
/// Every problem found is reported, not only the first.
pub fn validate_registration(
    body: &Value,
    sdk_header: Option<&str>,
) -> Result<Registration, Vec<String>> {
    let mut errs = Vec::new();
    match sdk_header {
        None => errs.push("register request has no X-Inngest-SDK header".to_string()),
        Some(h) if !is_sdk_header(h) => errs.push(format!(
            "X-Inngest-SDK `{h}` is not of the form <name>:v<version>"
        )),
        Some(_) => {}
    }
    let Some(obj) = body.as_object() else {
        errs.push("register body is not a JSON object".into());
        return Err(errs);
    };
    let app_id = obj.get("appName").and_then(Value::as_str).unwrap_or("");
    if app_id.is_empty() {
        errs.push("appName is missing or empty".into());
    }
    let url = obj.get("url").and_then(Value::as_str).unwrap_or("");
    if url::Url::parse(url).is_err() {
        errs.push(format!("url `{url}` is not an absolute URL"));
    }
    let sdk = obj.get("sdk").and_then(Value::as_str).unwrap_or("");
    if sdk.is_empty() {
        errs.push("sdk is missing or empty".into());
    }
    let mut functions = Vec::new();
    match obj.get("functions").and_then(Value::as_array) {
        None => errs.push("functions is missing or not an array".into()),
        Some(fns) => {
            let mut seen = HashSet::new();
            for (i, f) in fns.iter().enumerate() {
                match validate_function(f, app_id) {
                    Ok(def) => {
                        if !seen.insert(def.id.clone()) {
                            errs.push(format!("function id `{}` registered twice", def.id));
                        }
                        functions.push(def);
                    }
                    Err(fe) => errs.extend(fe.into_iter().map(|e| format!("functions[{i}]: {e}"))),
                }
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Registration {
        app_id: app_id.to_string(),
        url: url.to_string(),
        sdk: sdk.to_string(),
        sdk_header: sdk_header.map(str::to_string),
        framework: obj
            .get("framework")
            .and_then(Value::as_str)
            .map(str::to_string),
        functions,
        raw: body.clone(),
    })
}

/// `<name>:v<version>` with exactly one colon.
pub fn is_sdk_header(h: &str) -> bool {
    match h.split_once(':') {
        Some((name, ver)) => {
            !name.is_empty() && !ver.contains(':') && ver.len() > 1 && ver.starts_with('v')
        }
        None => false,
    }
}

fn validate_function(f: &Value, app_id: &str) -> Result<FunctionDef, Vec<String>> {
    let mut errs = Vec::new();
    let id = f.get("id").and_then(Value::as_str).unwrap_or("");
    if id.is_empty() {
        errs.push("id is missing or empty".to_string());
    } else if !app_id.is_empty() && !id.starts_with(&format!("{app_id}-")) {
        errs.push(format!(
            "id `{id}` is not a composite id starting with `{app_id}-`"
        ));
    }
    let name = f.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        errs.push(format!("`{id}`: name is missing or empty"));
    }
    let mut triggers = Vec::new();
    match f.get("triggers").and_then(Value::as_array) {
        None => errs.push(format!("`{id}`: triggers missing")),
        Some(ts) if ts.is_empty() || ts.len() > MAX_TRIGGERS => errs.push(format!(
            "`{id}`: {} triggers (1..={MAX_TRIGGERS} allowed)",
            ts.len()
        )),
        Some(ts) => {
            for t in ts {
                match parse_trigger(t) {
                    Ok(t) => triggers.push(t),
                    Err(e) => errs.push(format!("`{id}`: {e}")),
                }
            }
        }
    }
    let mut retries = None;
    let mut step_url = None;
    match f.get("steps").and_then(Value::as_object) {
        None => errs.push(format!("`{id}`: steps missing")),
        Some(steps) => {
            if steps.len() != 1 || !steps.contains_key("step") {
                let keys: Vec<&String> = steps.keys().collect();
                errs.push(format!(
                    "`{id}`: steps must have exactly the key `step`, got {keys:?}"
                ));
            }
            if let Some(step) = steps.get("step") {
                if step.get("id").and_then(Value::as_str) != Some("step") {
                    errs.push(format!("`{id}`: steps.step.id must be `step`"));
                }
                if step
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    errs.push(format!("`{id}`: steps.step.name is missing or empty"));
                }
                let runtime = step.get("runtime");
                if runtime.and_then(|r| r.get("type")).and_then(Value::as_str) != Some("http") {
                    errs.push(format!("`{id}`: steps.step.runtime.type must be `http`"));
                }
                let url = runtime.and_then(|r| r.get("url")).and_then(Value::as_str);
                match url.map(url::Url::parse) {
                    Some(Ok(u)) => {
                        let q = |k: &str| {
                            u.query_pairs()
                                .find(|(name, _)| name == k)
                                .map(|(_, v)| v.into_owned())
                        };
                        if q("fnId").as_deref() != Some(id) {
                            errs.push(format!("`{id}`: runtime url fnId is {:?}", q("fnId")));
                        }
                        if q("stepId").as_deref() != Some("step") {
                            errs.push(format!("`{id}`: runtime url stepId is {:?}", q("stepId")));
                        }
                        step_url = Some(u);
                    }
                    _ => errs.push(format!("`{id}`: steps.step.runtime.url is not a valid URL")),
                }
                if let Some(r) = step.get("retries") {
                    match r.get("attempts").and_then(Value::as_u64) {
                        Some(n) if n <= MAX_RETRIES => retries = Some(n as u32),
                        _ => errs.push(format!(
                            "`{id}`: retries.attempts must be an integer 0..={MAX_RETRIES}"
                        )),
                    }
                }
            }
        }
    }
    if let Err(e) = crate::flow::FlowControl::parse(f) {
        errs.push(format!("`{id}`: {e}"));
    }
    match (errs.is_empty(), step_url) {
        (true, Some(url)) => Ok(FunctionDef {
            id: id.to_string(),
            name: name.to_string(),
            triggers,
            retries,
            url,
            raw: f.clone(),
        }),
        _ => Err(errs),
    }
}

fn parse_trigger(t: &Value) -> Result<Trigger, String> {
    if let Some(event) = t.get("event").and_then(Value::as_str) {
        if event.is_empty() || event.len() > 255 {
            return Err(format!(
                "event trigger name `{event}` must be 1..=255 characters"
            ));
        }
        let expression = t
            .get("expression")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(e) = &expression {
            expr::parse(e).map_err(|e| e.to_string())?;
        }
        return Ok(Trigger::Event {
            event: event.to_string(),
            expression,
        });
    }
    if let Some(cron) = t.get("cron").and_then(Value::as_str) {
        let spec = cron
            .strip_prefix("TZ=")
            .or_else(|| cron.strip_prefix("CRON_TZ="))
            .and_then(|rest| rest.split_once(' ').map(|(_, s)| s))
            .unwrap_or(cron);
        if spec.split_whitespace().count() != 5 {
            return Err(format!("cron `{cron}` must have 5 fields"));
        }
        return Ok(Trigger::Cron {
            cron: cron.to_string(),
            jitter: t.get("jitter").and_then(Value::as_str).map(str::to_string),
        });
    }
    Err(format!("trigger {t} has neither `event` nor `cron`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn func(id: &str) -> Value {
        json!({"id": id, "name": "N", "triggers": [{"event": "a/b"}],
          "steps": {"step": {"id": "step", "name": "step", "runtime": {"type": "http",
            "url": format!("http://127.0.0.1:1/api/inngest?fnId={id}&stepId=step")}}}})
    }

    fn body(fns: Vec<Value>) -> Value {
        json!({"url": "http://127.0.0.1:1/api/inngest", "deployType": "ping", "appName": "app",
               "sdk": "rust:v0.1.0", "functions": fns})
    }

    #[test]
    fn accepts_a_valid_body() {
        let mut f = func("app-one");
        f["steps"]["step"]["retries"] = json!({"attempts": 2});
        f["triggers"] = json!([{"event": "a/b", "expression": "event.data.x == 'y'"},
                              {"cron": "TZ=UTC */10 * * * *"}]);
        let reg = validate_registration(&body(vec![f]), Some("rust:v0.1.0")).unwrap();
        assert_eq!(reg.app_id, "app");
        let def = reg.function("app-one").unwrap();
        assert_eq!(def.retries, Some(2));
        assert_eq!(def.triggers.len(), 2);
    }

    #[test]
    fn reports_every_problem() {
        let mut bad = func("other-one");
        bad["name"] = json!("");
        bad["steps"]["step"]["runtime"]["url"] = json!("http://x/api?fnId=nope&stepId=step");
        let mut bad2 = func("app-two");
        bad2["triggers"] =
            json!([{"event": "a", "expression": "size(event) > 1"}, {"cron": "@daily"}]);
        bad2["steps"]["step"]["retries"] = json!({"attempts": 21});
        let errs = validate_registration(
            &body(vec![bad, bad2, func("app-3"), func("app-3")]),
            Some("rust"),
        )
        .unwrap_err();
        let all = errs.join("\n");
        for needle in [
            "<name>:v<version>",
            "not a composite id",
            "name is missing",
            "fnId",
            "unsupported or invalid expression",
            "5 fields",
            "retries.attempts",
            "registered twice",
        ] {
            assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
        }
    }

    #[test]
    fn sdk_header_format() {
        assert!(is_sdk_header("inngest-js:v4.24.0"));
        assert!(is_sdk_header("rust:v0.1.0"));
        assert!(!is_sdk_header("rust"));
        assert!(!is_sdk_header("rust:0.1"));
        assert!(!is_sdk_header("a:v1:2"));
    }
}
