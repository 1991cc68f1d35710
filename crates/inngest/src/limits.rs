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
    // Writing into a counter cannot fail; a value that does not serialize counts as empty.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
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
        let size = serde_json::to_value(event).map_or(0, |v| json_size(&v));
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
}
