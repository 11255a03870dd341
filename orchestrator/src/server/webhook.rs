//! `POST /webhook/github`: verify the signature against the tenants' secrets before
//! parsing anything, deduplicate the delivery, answer 202 and let the scheduler work.
//! The handler decides an [`Outcome`]; the answer and the `/metrics` label both follow
//! from it.

use super::AppState;
use crate::model::RunTrigger;
use crate::scheduler::Accepted;
use crate::service::{CommandError, WebhookDelivery};
use crate::settings::ForkRuns;
use crate::webhook::{EventOptions, SignatureError, WebhookEvent, parse_event, verify_signature};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No tenant's secret signs it, or no tenant has one set: 401.
    Unauthorized(String),
    /// A header or the payload is unusable: 400.
    BadRequest(String),
    /// Signed by one tenant for another's repository, or naming a clone URL the tenant
    /// does not allow: 403.
    Forbidden(String),
    /// GitHub checking that the hook works: 200.
    Ping,
    /// A valid delivery that starts nothing, and why: 202.
    Ignored(String),
    /// A run was queued: 202.
    Queued { run_id: String },
    /// A fork's run waits for a tenant member's approval: 202.
    AwaitingApproval { run_id: String },
    /// The delivery id was seen before: 200.
    Duplicate { run_id: Option<String> },
    /// The orchestrator could not take it (stopped, or its store failed): 503.
    Unavailable(String),
}

impl Outcome {
    /// The `result` label of `bosun_webhook_deliveries_total`.
    fn metric_label(&self) -> &'static str {
        match self {
            Outcome::Unauthorized(_) => "unauthorized",
            Outcome::BadRequest(_) => "bad-request",
            Outcome::Forbidden(_) => "forbidden",
            Outcome::Ping => "ping",
            Outcome::Ignored(_) => "ignored",
            Outcome::Queued { .. } | Outcome::AwaitingApproval { .. } => "accepted",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::Unavailable(_) => "unavailable",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Outcome::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Outcome::BadRequest(_) => StatusCode::BAD_REQUEST,
            Outcome::Forbidden(_) => StatusCode::FORBIDDEN,
            Outcome::Ping | Outcome::Duplicate { .. } => StatusCode::OK,
            Outcome::Ignored(_) | Outcome::Queued { .. } | Outcome::AwaitingApproval { .. } => {
                StatusCode::ACCEPTED
            }
            Outcome::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn body(&self) -> Value {
        match self {
            Outcome::Unauthorized(error)
            | Outcome::BadRequest(error)
            | Outcome::Forbidden(error)
            | Outcome::Unavailable(error) => json!({ "error": error }),
            Outcome::Ping => json!({ "pong": true }),
            Outcome::Ignored(reason) => json!({ "ignored": reason }),
            Outcome::Queued { run_id } => json!({ "run_id": run_id }),
            Outcome::AwaitingApproval { run_id } => {
                json!({ "run_id": run_id, "awaiting_approval": true })
            }
            Outcome::Duplicate { run_id } => json!({ "duplicate": true, "run_id": run_id }),
        }
    }

    /// `self` once the delivery is recorded; 503 when it could not be.
    fn once_recorded(self, recorded: Result<bool, CommandError>) -> Outcome {
        match recorded {
            Ok(_) => self,
            Err(e) => Outcome::Unavailable(e.to_string()),
        }
    }
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Handle one GitHub delivery, counting its outcome for `/metrics`.
pub async fn github(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Outcome {
    let outcome = handle(&state, &headers, &body).await;
    state.orchestrator.metrics().webhook(outcome.metric_label());
    outcome
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &Bytes) -> Outcome {
    let settings = state.orchestrator.settings();
    let signature = header(headers, "x-hub-signature-256").map(str::to_string);
    // The signature decides which tenant sent it; nothing is parsed before it matches.
    // One HMAC per tenant over up to 25 MB is CPU work: off the async threads.
    let secrets: Vec<Option<String>> = settings
        .tenants
        .iter()
        .map(|t| t.webhook_secret.resolve())
        .collect();
    let checked_body = body.clone();
    let matched = tokio::task::spawn_blocking(move || {
        let mut last_error = SignatureError::MissingHeader;
        for (index, secret) in secrets.iter().enumerate() {
            let Some(secret) = secret else { continue };
            match verify_signature(secret.as_bytes(), signature.as_deref(), &checked_body) {
                Ok(()) => return Ok(index),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    })
    .await
    .unwrap_or(Err(SignatureError::Mismatch));
    let (tenant, last_error) = match matched {
        Ok(index) => (settings.tenants.get(index), SignatureError::Mismatch),
        Err(e) => (None, e),
    };
    let Some(tenant) = tenant else {
        if settings
            .tenants
            .iter()
            .all(|t| t.webhook_secret.resolve().is_none())
        {
            // Not the sender's fault: say what the operator must set.
            let error = "no tenant on this server has a webhook secret set: the operator sets each tenant's `webhook_secret` in the server settings";
            tracing::warn!(error, "webhook refused");
            return Outcome::Unauthorized(error.to_string());
        }
        tracing::warn!(error = %last_error, "webhook refused");
        return Outcome::Unauthorized(last_error.to_string());
    };
    let Some(event) = header(headers, "x-github-event") else {
        return Outcome::BadRequest("missing X-GitHub-Event header".to_string());
    };
    // GitHub's delivery ids are GUIDs. Anything else (a `:` above all) could pass for
    // the delivery id of a scheduled run and hold that run back.
    let Some(delivery) = header(headers, "x-github-delivery").filter(|d| {
        !d.is_empty()
            && d.len() <= 128
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }) else {
        return Outcome::BadRequest(
            "missing, overlong or malformed X-GitHub-Delivery header (letters, digits, '-')"
                .to_string(),
        );
    };
    let options = EventOptions {
        build_tags: settings.build_tags,
        ..EventOptions::default()
    };
    let parsed = match parse_event(event, body, &options) {
        Ok(parsed) => parsed,
        Err(e) => return Outcome::BadRequest(e.to_string()),
    };
    let orchestrator = &state.orchestrator;
    match parsed {
        WebhookEvent::Ping { .. } => Outcome::Ping.once_recorded(
            orchestrator
                .record_delivery(delivery, &tenant.owner, event, "ping")
                .await,
        ),
        WebhookEvent::Ignored { reason } => Outcome::Ignored(reason).once_recorded(
            orchestrator
                .record_delivery(delivery, &tenant.owner, event, "ignored")
                .await,
        ),
        WebhookEvent::Rerun(ask) => {
            super::check_rerun::rerun(state, tenant, delivery, event, ask).await
        }
        WebhookEvent::Trigger(trigger) => {
            if !trigger.tenant.eq_ignore_ascii_case(&tenant.owner) {
                return Outcome::Forbidden(format!(
                    "signed with the secret of tenant {} but the repository belongs to {}",
                    tenant.owner, trigger.tenant
                ));
            }
            if let Err(refused) = crate::trust::check_clone_url(
                &trigger.clone_url,
                &trigger.repository,
                &settings.clone_schemes,
                &tenant.clone_hosts,
            ) {
                tracing::warn!(tenant = %tenant.owner, error = %refused, "webhook refused");
                return Outcome::Forbidden(refused);
            }
            if trigger.fork && tenant.pull_requests.from_forks == ForkRuns::Ignore {
                let reason = format!(
                    "pull requests from forks are ignored for tenant {} (pull_requests.from_forks: ignore)",
                    tenant.owner
                );
                return Outcome::Ignored(reason).once_recorded(
                    orchestrator
                        .record_delivery(delivery, &tenant.owner, event, "ignored")
                        .await,
                );
            }
            let run_trigger = RunTrigger {
                tenant: tenant.owner.clone(),
                repository: trigger.repository,
                clone_url: trigger.clone_url,
                default_branch: trigger.default_branch,
                commit: trigger.commit,
                branch: trigger.branch,
                event: trigger.event,
                changed_paths: trigger.changed_paths,
                pull_request: trigger.pull_request,
                sender: trigger.sender,
                message: trigger.message,
                fork: trigger.fork,
            };
            let delivery = WebhookDelivery {
                id: delivery.to_string(),
                event: event.to_string(),
            };
            match orchestrator.trigger(run_trigger, Some(delivery)).await {
                Ok(Accepted::Queued { run_id }) => Outcome::Queued { run_id },
                Ok(Accepted::AwaitingApproval { run_id }) => Outcome::AwaitingApproval { run_id },
                Ok(Accepted::Duplicate { run_id }) => Outcome::Duplicate { run_id },
                Err(e) => Outcome::Unavailable(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;
    use axum::http::StatusCode;

    #[test]
    fn every_outcome_has_its_status_body_and_metric_label() {
        let cases = [
            (
                Outcome::Unauthorized("no".into()),
                StatusCode::UNAUTHORIZED,
                r#"{"error":"no"}"#,
                "unauthorized",
            ),
            (
                Outcome::BadRequest("bad".into()),
                StatusCode::BAD_REQUEST,
                r#"{"error":"bad"}"#,
                "bad-request",
            ),
            (
                Outcome::Forbidden("not yours".into()),
                StatusCode::FORBIDDEN,
                r#"{"error":"not yours"}"#,
                "forbidden",
            ),
            (Outcome::Ping, StatusCode::OK, r#"{"pong":true}"#, "ping"),
            (
                Outcome::Ignored("a tag".into()),
                StatusCode::ACCEPTED,
                r#"{"ignored":"a tag"}"#,
                "ignored",
            ),
            (
                Outcome::Queued {
                    run_id: "r1".into(),
                },
                StatusCode::ACCEPTED,
                r#"{"run_id":"r1"}"#,
                "accepted",
            ),
            (
                Outcome::AwaitingApproval {
                    run_id: "r2".into(),
                },
                StatusCode::ACCEPTED,
                r#"{"awaiting_approval":true,"run_id":"r2"}"#,
                "accepted",
            ),
            (
                Outcome::Duplicate {
                    run_id: Some("r3".into()),
                },
                StatusCode::OK,
                r#"{"duplicate":true,"run_id":"r3"}"#,
                "duplicate",
            ),
            (
                Outcome::Duplicate { run_id: None },
                StatusCode::OK,
                r#"{"duplicate":true,"run_id":null}"#,
                "duplicate",
            ),
            (
                Outcome::Unavailable("the orchestrator has stopped".into()),
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"error":"the orchestrator has stopped"}"#,
                "unavailable",
            ),
        ];
        for (outcome, status, body, label) in cases {
            assert_eq!(outcome.status(), status, "{outcome:?}");
            assert_eq!(outcome.body().to_string(), body, "{outcome:?}");
            assert_eq!(outcome.metric_label(), label, "{outcome:?}");
        }
    }
}
