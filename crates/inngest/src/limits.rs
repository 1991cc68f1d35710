//! Inngest's size limits, checked by the SDK so a run fails the same way whether it runs
//! durably (`serve`) or inline (`autofix check`): with a non-retriable error naming the step and
//! the size, before Inngest would reject the payload with a less specific message.

use serde_json::Value;

use crate::{Error, Event};

/// Largest step output Inngest stores (4 MiB); larger outputs fail the step for good.
pub const MAX_STEP_OUTPUT_BYTES: usize = 4 * 1024 * 1024;

/// Largest event the SDK sends. The open-source dev server accepts 512 KiB by default; Inngest
/// Cloud accepts 256 KiB on the Free plan and 3 MiB on paid plans, so a payload kept under
/// 256 KiB works everywhere.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

/// Error name of an oversized step output.
pub const STEP_OUTPUT_TOO_LARGE: &str = "StepOutputTooLarge";

/// Error name of an oversized event.
pub const EVENT_TOO_LARGE: &str = "EventTooLarge";

/// Serialized size of a JSON value.
pub fn json_size(value: &Value) -> usize {
    // A `Value` always serializes (its keys are strings, its numbers finite).
    serialized_size(value).unwrap_or_default()
}

/// Bytes of `value` as JSON, counted without building the text; the serializer's error when
/// `value` cannot be written as JSON.
fn serialized_size<T: serde::Serialize + ?Sized>(value: &T) -> Result<usize, serde_json::Error> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value)?;
    Ok(count.0)
}

/// Bytes of the Event API request that [`crate::Client::send`] (and so `step.sendEvent`) makes
/// for `events`, `ts` included: what a per-request limit such as Inngest Cloud's 256 KiB (Free
/// plan) applies to. An event that cannot be sent is an error, never a size of 0.
pub fn send_request_bytes(events: &[Event]) -> Result<usize, Error> {
    let body = crate::client::request_body(events, crate::client::now_ms())
        .map_err(crate::SendError::into_step_error)?;
    serialized_size(&body).map_err(|e| {
        Error::non_retriable(format!("the events do not serialize as JSON: {e}"))
            .with_name("SendEventError")
    })
}

/// Fails when a step's output is larger than Inngest stores.
pub fn check_step_output(step_id: &str, output: &Value) -> Result<(), Error> {
    let size = json_size(output);
    if size > MAX_STEP_OUTPUT_BYTES {
        return Err(Error::non_retriable(format!(
            "output of step {step_id:?} is {size} bytes; Inngest accepts at most {MAX_STEP_OUTPUT_BYTES}"
        ))
        .with_name(STEP_OUTPUT_TOO_LARGE));
    }
    Ok(())
}

/// Fails when one of the events is larger than the Event API accepts.
pub fn check_events(step_id: &str, events: &[Event]) -> Result<(), Error> {
    for event in events {
        let size = serialized_size(event).map_err(|e| {
            Error::non_retriable(format!(
                "event {:?} sent by step {step_id:?} does not serialize as JSON: {e}",
                event.name
            ))
        })?;
        if size > MAX_EVENT_BYTES {
            return Err(Error::non_retriable(format!(
                "event {:?} sent by step {step_id:?} is {size} bytes; the SDK sends at most {MAX_EVENT_BYTES}",
                event.name
            ))
            .with_name(EVENT_TOO_LARGE));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sizes_are_serialized_bytes() {
        assert_eq!(json_size(&json!({"a": "bc"})), r#"{"a":"bc"}"#.len());
    }

    #[test]
    fn limits_name_step_and_size() {
        let big = Value::String("x".repeat(MAX_STEP_OUTPUT_BYTES));
        let e = check_step_output("read", &big).unwrap_err();
        assert_eq!(e.name(), STEP_OUTPUT_TOO_LARGE);
        assert!(!e.is_retriable());
        assert!(e.message().contains("\"read\""), "{}", e.message());
        assert!(check_step_output("read", &json!("small")).is_ok());

        let event = Event::new("a/b", json!({"x": "y".repeat(MAX_EVENT_BYTES)})).unwrap();
        let e = check_events("send", &[event]).unwrap_err();
        assert_eq!(e.name(), EVENT_TOO_LARGE);
        assert!(e.message().contains("\"a/b\""));
    }

    #[test]
    fn a_send_request_is_measured_with_its_timestamps_and_an_unsendable_event_is_an_error() {
        let events = vec![
            Event::new("a/b", json!({"x": 1})).unwrap(),
            Event::new("a/c", json!({})).unwrap().with_ts(5),
        ];
        let without_ts = serde_json::to_vec(&events).unwrap().len();
        // The client stamps the first event with the send time in milliseconds (13 digits).
        assert_eq!(
            send_request_bytes(&events).unwrap(),
            without_ts + r#","ts":1764650000000"#.len()
        );
        let unsendable = Event {
            data: json!(7),
            ..Event::new("a/d", json!({})).unwrap()
        };
        let e = send_request_bytes(&[unsendable]).unwrap_err();
        assert!(!e.is_retriable());
        assert!(e.message().contains("\"a/d\""), "{}", e.message());
    }
}
