//! Dispatch by `X-GitHub-Event`: each event name a pipeline cares about goes to its own
//! parser (`push`, `pull_request`, `ping`, and `check_run`/`check_suite` for GitHub's
//! Re-run buttons); every other name is ignored with a reason.

use serde::de::DeserializeOwned;

use super::payload::PingPayload;
use super::types::{EventError, EventOptions, WebhookEvent};
use super::{checks, pull_request, push};

/// Longest event name repeated in an `Ignored` reason.
const MAX_ECHOED_EVENT: usize = 64;

/// Reads a delivery whose signature has already been verified. `event` is the value of
/// `X-GitHub-Event`.
pub fn parse_event(
    event: &str,
    body: &[u8],
    options: &EventOptions,
) -> Result<WebhookEvent, EventError> {
    match event.trim() {
        "" => Err(EventError::MissingEventName),
        "ping" => {
            let ping: PingPayload = decode("ping", body)?;
            Ok(WebhookEvent::Ping {
                hook_id: ping.hook_id,
                zen: ping.zen,
            })
        }
        "push" => push::parse(decode("push", body)?, options),
        "pull_request" => pull_request::parse(decode("pull_request", body)?),
        "check_run" => checks::parse_check_run(decode("check_run", body)?),
        "check_suite" => checks::parse_check_suite(decode("check_suite", body)?),
        other => {
            let name: String = other.chars().take(MAX_ECHOED_EVENT).collect();
            Ok(WebhookEvent::Ignored {
                reason: format!("event `{name}` does not start pipelines"),
            })
        }
    }
}

fn decode<T: DeserializeOwned>(event: &'static str, body: &[u8]) -> Result<T, EventError> {
    serde_json::from_slice(body).map_err(|source| EventError::Malformed { event, source })
}
