use serde::{Deserialize, Serialize};

use crate::types::{AssistantMessage, SessionState};

/// Verdict of one poll of a prompted session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Keep polling (the caller owns the deadline and calls `abort` when it passes).
    Running,
    /// The agent loop ended normally; `text` is its final answer.
    Completed {
        /// The last assistant turn's text.
        text: String,
    },
    /// The loop ended with an error (LLM failure, abort, output limit, …).
    Failed {
        /// The turn's error (`name: message`), or why the session counts as failed.
        reason: String,
        /// Whatever text the agent had produced, for the report.
        last_text: String,
    },
}

/// Decides from one `status` + `last_assistant_message` poll whether the prompt is finished.
///
/// Idle is not enough on its own: right after `prompt_async` returns the session is not yet
/// listed as busy, and between two LLM turns there is a moment with a completed `tool-calls`
/// turn as the newest message. So "done" needs idle **and** a completed final turn.
pub fn judge(state: &SessionState, reply: Option<&AssistantMessage>) -> Outcome {
    if !matches!(state, SessionState::Idle) {
        return Outcome::Running;
    }
    let Some(reply) = reply else {
        return Outcome::Running;
    };
    // An error ends the loop even when the turn never got `time.completed` (abort mid-stream).
    if let Some(error) = &reply.error {
        return Outcome::Failed {
            reason: error.to_string(),
            last_text: reply.text.clone(),
        };
    }
    if !reply.completed {
        return Outcome::Running;
    }
    match reply.finish.as_deref() {
        Some("stop") => Outcome::Completed {
            text: reply.text.clone(),
        },
        // `tool-calls`: OpenCode is about to run the tools and call the LLM again.
        // `unknown` / none: OpenCode itself continues the loop after such a turn.
        None | Some("tool-calls") | Some("unknown") => Outcome::Running,
        Some(other) => Outcome::Failed {
            reason: format!("agent stopped with finish reason {other:?}"),
            last_text: reply.text.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MessageError;

    fn reply(finish: Option<&str>, completed: bool) -> AssistantMessage {
        AssistantMessage {
            id: "msg_2".into(),
            parent_id: Some("msg_1".into()),
            text: "final words".into(),
            finish: finish.map(str::to_owned),
            error: None,
            completed,
            model: None,
            tools: Vec::new(),
        }
    }

    #[test]
    fn busy_and_retry_are_running_whatever_the_message() {
        let done = reply(Some("stop"), true);
        assert_eq!(judge(&SessionState::Busy, Some(&done)), Outcome::Running);
        let retry = SessionState::Retry {
            attempt: 2,
            message: "500".into(),
        };
        assert_eq!(judge(&retry, Some(&done)), Outcome::Running);
    }

    #[test]
    fn idle_without_reply_is_running() {
        assert_eq!(judge(&SessionState::Idle, None), Outcome::Running);
    }

    #[test]
    fn idle_with_stop_is_completed() {
        assert_eq!(
            judge(&SessionState::Idle, Some(&reply(Some("stop"), true))),
            Outcome::Completed {
                text: "final words".into()
            }
        );
    }

    #[test]
    fn intermediate_turns_are_running() {
        for finish in [Some("tool-calls"), Some("unknown"), None] {
            assert_eq!(
                judge(&SessionState::Idle, Some(&reply(finish, true))),
                Outcome::Running,
                "{finish:?}"
            );
        }
        assert_eq!(
            judge(&SessionState::Idle, Some(&reply(Some("stop"), false))),
            Outcome::Running
        );
    }

    #[test]
    fn errors_fail_even_without_completion() {
        let mut r = reply(None, false);
        r.error = Some(MessageError {
            name: "MessageAbortedError".into(),
            message: "Aborted".into(),
        });
        assert_eq!(
            judge(&SessionState::Idle, Some(&r)),
            Outcome::Failed {
                reason: "MessageAbortedError: Aborted".into(),
                last_text: "final words".into()
            }
        );
    }

    #[test]
    fn other_finish_reasons_fail() {
        let out = judge(&SessionState::Idle, Some(&reply(Some("length"), true)));
        assert!(matches!(out, Outcome::Failed { reason, .. } if reason.contains("length")));
    }
}
