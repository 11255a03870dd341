//! `POST /webhook/github`: verify the signature against the tenants' secrets before
//! parsing anything, deduplicate the delivery, answer 202 and let the scheduler work.

use super::AppState;
use crate::model::RunTrigger;
use crate::scheduler::Accepted;
use crate::settings::ForkRuns;
use crate::webhook::{EventOptions, SignatureError, WebhookEvent, parse_event, verify_signature};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn answer(status: StatusCode, body: Value) -> (StatusCode, Json<Value>) {
    (status, Json(body))
}

/// Handle one GitHub delivery, counting its result for `/metrics`.
pub async fn github(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let answer = handle(&state, &headers, &body).await;
    let result = match answer.0 {
        StatusCode::ACCEPTED if answer.1.get("ignored").is_some() => "ignored",
        StatusCode::ACCEPTED => "accepted",
        StatusCode::OK if answer.1.get("pong").is_some() => "ping",
        StatusCode::OK => "duplicate",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::BAD_REQUEST => "bad-request",
        _ => "unavailable",
    };
    state.orchestrator.metrics().webhook(result);
    answer
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &Bytes) -> (StatusCode, Json<Value>) {
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
            return answer(StatusCode::UNAUTHORIZED, json!({ "error": error }));
        }
        tracing::warn!(error = %last_error, "webhook refused");
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({ "error": last_error.to_string() }),
        );
    };
    let Some(event) = header(headers, "x-github-event") else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "missing X-GitHub-Event header" }),
        );
    };
    let Some(delivery) =
        header(headers, "x-github-delivery").filter(|d| !d.is_empty() && d.len() <= 128)
    else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({ "error": "missing or overlong X-GitHub-Delivery header" }),
        );
    };
    let options = EventOptions {
        build_tags: settings.build_tags,
        ..EventOptions::default()
    };
    let parsed = match parse_event(event, body, &options) {
        Ok(parsed) => parsed,
        Err(e) => return answer(StatusCode::BAD_REQUEST, json!({ "error": e.to_string() })),
    };
    let orchestrator = &state.orchestrator;
    match parsed {
        WebhookEvent::Ping { .. } => match orchestrator
            .record_delivery(delivery, &tenant.owner, event, "ping")
            .await
        {
            Ok(_) => answer(StatusCode::OK, json!({ "pong": true })),
            Err(e) => answer(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": e })),
        },
        WebhookEvent::Ignored { reason } => match orchestrator
            .record_delivery(delivery, &tenant.owner, event, "ignored")
            .await
        {
            Ok(_) => answer(StatusCode::ACCEPTED, json!({ "ignored": reason })),
            Err(e) => answer(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": e })),
        },
        WebhookEvent::Trigger(trigger) => {
            if !trigger.tenant.eq_ignore_ascii_case(&tenant.owner) {
                return answer(
                    StatusCode::FORBIDDEN,
                    json!({ "error": format!("signed with the secret of tenant {} but the repository belongs to {}", tenant.owner, trigger.tenant) }),
                );
            }
            if let Err(refused) = crate::trust::check_clone_url(
                &trigger.clone_url,
                &trigger.repository,
                &settings.clone_schemes,
                &tenant.clone_hosts,
            ) {
                tracing::warn!(tenant = %tenant.owner, error = %refused, "webhook refused");
                return answer(StatusCode::FORBIDDEN, json!({ "error": refused }));
            }
            if trigger.fork && tenant.pull_requests.from_forks == ForkRuns::Ignore {
                let reason = format!(
                    "pull requests from forks are ignored for tenant {} (pull_requests.from_forks: ignore)",
                    tenant.owner
                );
                return match orchestrator
                    .record_delivery(delivery, &tenant.owner, event, "ignored")
                    .await
                {
                    Ok(_) => answer(StatusCode::ACCEPTED, json!({ "ignored": reason })),
                    Err(e) => answer(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": e })),
                };
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
            match orchestrator
                .trigger(run_trigger, Some((delivery.to_string(), event.to_string())))
                .await
            {
                Ok(Accepted::Queued { run_id }) => {
                    answer(StatusCode::ACCEPTED, json!({ "run_id": run_id }))
                }
                Ok(Accepted::AwaitingApproval { run_id }) => answer(
                    StatusCode::ACCEPTED,
                    json!({ "run_id": run_id, "awaiting_approval": true }),
                ),
                Ok(Accepted::Duplicate { run_id }) => answer(
                    StatusCode::OK,
                    json!({ "duplicate": true, "run_id": run_id }),
                ),
                Err(e) => answer(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": e })),
            }
        }
    }
}
