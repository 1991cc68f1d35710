//! Inngest events.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// An event as sent to and received from Inngest. `T` is the type of `data`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Event<T = Value> {
    /// Event name, e.g. `autofix/fix.requested`.
    pub name: String,
    /// Payload; must serialize to a JSON object.
    pub data: T,
    /// Sender-chosen id; makes the send idempotent (24 h dedupe window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Timestamp in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// User context (the executor always adds `{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Value>,
    /// Event schema version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<String>,
}

impl Event {
    /// Builds an event; `data` must serialize to a JSON object (`null`/`()` becomes `{}`).
    pub fn new(name: impl Into<String>, data: impl Serialize) -> Result<Event, Error> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(Error::non_retriable("event name must not be empty"));
        }
        // Event payloads are stored by Inngest and fan out to other functions.
        let data = match serde_json::to_value(data).map(|mut v| {
            redact::redact_json(&mut v);
            v
        }) {
            Ok(Value::Null) => Value::Object(Default::default()),
            Ok(v @ Value::Object(_)) => v,
            Ok(other) => {
                return Err(Error::non_retriable(format!(
                    "data of event {name:?} must be a JSON object, got {}",
                    json_kind(&other)
                )));
            }
            Err(e) => {
                return Err(Error::non_retriable(format!(
                    "data of event {name:?} does not serialize: {e}"
                )));
            }
        };
        Ok(Event {
            name,
            data,
            id: None,
            ts: None,
            user: None,
            v: None,
        })
    }
}

impl<T> Event<T> {
    /// Sets the idempotency id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the timestamp (ms since the epoch).
    pub fn with_ts(mut self, ts_ms: i64) -> Self {
        self.ts = Some(ts_ms);
        self
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Name of the event that starts cron runs.
pub const SCHEDULED_TIMER_EVENT: &str = "inngest/scheduled.timer";
/// Name of the event that starts invoked runs.
pub const FUNCTION_INVOKED_EVENT: &str = "inngest/function.invoked";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_requires_object_data() {
        let e = Event::new("a/b", json!({"x": 1})).unwrap();
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"name":"a/b","data":{"x":1}})
        );
        assert_eq!(Event::new("a/b", ()).unwrap().data, json!({}));
        let err = Event::new("a/b", 3).unwrap_err();
        assert!(err.message().contains("a number"), "{err}");
        assert!(Event::new(" ", json!({})).is_err());
    }

    #[test]
    fn typed_roundtrip_keeps_optional_fields() {
        #[derive(Deserialize, Serialize, Debug, PartialEq)]
        struct D {
            project_id: String,
        }
        let raw = json!({"name":"a","data":{"project_id":"p"},"id":"x","ts":5,"user":{}});
        let e: Event<D> = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(e.data.project_id, "p");
        assert_eq!(serde_json::to_value(&e).unwrap(), raw);
    }
}
