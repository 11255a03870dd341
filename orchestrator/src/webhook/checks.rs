//! `check_run` and `check_suite` deliveries: the "Re-run" buttons of GitHub's checks
//! UI send them with action `rerequested`. A check run names Bosun's stage back by the
//! external id Bosun gave it (`<run id>/<stage>`); a check suite names its commit. Every
//! other action, and a check run that is not Bosun's, is ignored.

use super::fields::{commit_id, repository_fields, required, sender_login};
use super::types::{EventError, RerunAsk, RerunTarget, WebhookEvent};
use serde::Deserialize;

/// Longest action or name repeated in an `Ignored` reason.
const MAX_ECHOED: usize = 64;
/// Longest stage name an external id may carry (config names are far shorter).
const MAX_STAGE_NAME: usize = 200;

#[derive(Debug, Deserialize)]
pub(super) struct CheckRunPayload {
    action: Option<String>,
    check_run: Option<CheckRun>,
    repository: Option<super::payload::Repository>,
    sender: Option<super::payload::Account>,
}

#[derive(Debug, Deserialize)]
struct CheckRun {
    name: Option<String>,
    head_sha: Option<String>,
    external_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CheckSuitePayload {
    action: Option<String>,
    check_suite: Option<CheckSuite>,
    repository: Option<super::payload::Repository>,
    sender: Option<super::payload::Account>,
}

#[derive(Debug, Deserialize)]
struct CheckSuite {
    head_sha: Option<String>,
}

fn echo(text: &str) -> String {
    text.chars().take(MAX_ECHOED).collect()
}

fn not_rerequested(event: &str, action: &str) -> WebhookEvent {
    WebhookEvent::Ignored {
        reason: format!(
            "{event} action `{}` starts nothing (only `rerequested` re-runs)",
            echo(action)
        ),
    }
}

pub(super) fn parse_check_run(payload: CheckRunPayload) -> Result<WebhookEvent, EventError> {
    const EVENT: &str = "check_run";
    let action = required(payload.action, EVENT, "action")?;
    if action != "rerequested" {
        return Ok(not_rerequested(EVENT, &action));
    }
    let Some(check_run) = payload.check_run else {
        return Err(EventError::MissingField {
            event: EVENT,
            field: "check_run",
        });
    };
    let sha = required(check_run.head_sha, EVENT, "check_run.head_sha")?;
    let commit = commit_id(sha, EVENT, "check_run.head_sha")?;
    let repository = repository_fields(payload.repository, EVENT)?;
    let sender = sender_login(payload.sender, EVENT)?;
    let external_id = check_run.external_id.unwrap_or_default();
    let Some((run_id, stage)) = bosun_external_id(&external_id) else {
        let name = check_run.name.unwrap_or_default();
        return Ok(WebhookEvent::Ignored {
            reason: format!("check run `{}` is not one of Bosun's", echo(&name)),
        });
    };
    Ok(WebhookEvent::Rerun(RerunAsk {
        tenant: repository.tenant,
        repository: repository.full_name,
        commit,
        sender,
        target: RerunTarget::Stage { run_id, stage },
    }))
}

pub(super) fn parse_check_suite(payload: CheckSuitePayload) -> Result<WebhookEvent, EventError> {
    const EVENT: &str = "check_suite";
    let action = required(payload.action, EVENT, "action")?;
    if action != "rerequested" {
        return Ok(not_rerequested(EVENT, &action));
    }
    let Some(suite) = payload.check_suite else {
        return Err(EventError::MissingField {
            event: EVENT,
            field: "check_suite",
        });
    };
    let sha = required(suite.head_sha, EVENT, "check_suite.head_sha")?;
    let commit = commit_id(sha, EVENT, "check_suite.head_sha")?;
    let repository = repository_fields(payload.repository, EVENT)?;
    let sender = sender_login(payload.sender, EVENT)?;
    Ok(WebhookEvent::Rerun(RerunAsk {
        tenant: repository.tenant,
        repository: repository.full_name,
        commit,
        sender,
        target: RerunTarget::FailedOfCommit,
    }))
}

/// `<run id>/<stage>` as Bosun writes it: a run id of hex digits and `-`, a stage name
/// without control characters.
fn bosun_external_id(external_id: &str) -> Option<(String, String)> {
    let (run_id, stage) = external_id.split_once('/')?;
    let run_ok = !run_id.is_empty()
        && run_id.len() <= 64
        && run_id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    let stage_ok =
        !stage.is_empty() && stage.len() <= MAX_STAGE_NAME && !stage.chars().any(char::is_control);
    (run_ok && stage_ok).then(|| (run_id.to_owned(), stage.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::bosun_external_id;

    #[test]
    fn only_bosuns_external_ids_name_a_stage() {
        assert_eq!(
            bosun_external_id("0192a3b4c5d-1f-2/test-py3.11"),
            Some(("0192a3b4c5d-1f-2".into(), "test-py3.11".into()))
        );
        for other in [
            "", "42", "ci-run/", "/test", "../x/y", "abc/t\nx", "zz/test",
        ] {
            assert_eq!(bosun_external_id(other), None, "{other:?}");
        }
    }
}
