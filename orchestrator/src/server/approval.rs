//! Deciding a stage that waits for an approval: `POST /api/runs/{id}/stages/{stage}/approve`
//! and `/reject` (JSON `{reason, by?}`, the API's tokens), and the run page's form
//! (`POST /runs/{id}/stages/{stage}/decide`, the dashboard's sign-in). Who the caller is
//! comes from their token; whether they may decide is the scheduler's to check
//! (`trust::may_decide`), which records a refusal too.

use super::AppState;
use super::api::{Answer, Caller, caller, error, may_act_for, run_tenant};
use crate::dashboard;
use crate::scheduler::{Decided, StageDecision};
use crate::trust::Decider;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// Body of `POST /api/runs/{id}/stages/{stage}/approve` and `/reject`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why (a rejection needs one).
    #[serde(default)]
    reason: Option<String>,
    /// A name for the audit log, with the operator's or the tenant's shared token (a
    /// member's own token names them already).
    #[serde(default)]
    by: Option<String>,
}

/// `POST /api/runs/{id}/stages/{stage}/approve`
pub async fn approve_stage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, stage)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    decide_json(&state, &headers, &id, &stage, true, &body).await
}

/// `POST /api/runs/{id}/stages/{stage}/reject`
pub async fn reject_stage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, stage)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    decide_json(&state, &headers, &id, &stage, false, &body).await
}

async fn decide_json(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    stage: &str,
    approve: bool,
    body: &[u8],
) -> Answer {
    let caller = match caller(state, headers) {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let request: DecisionRequest = if body.is_empty() {
        DecisionRequest::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid decision request: {e}"),
                );
            }
        }
    };
    let reason = request.reason.unwrap_or_default();
    match decide(state, &caller, request.by, id, stage, approve, &reason).await {
        Ok(body) => (StatusCode::OK, Json(body)),
        Err(answer) => answer,
    }
}

/// `POST /runs/{id}/stages/{stage}/decide`: the run page's form, as the operator the
/// dashboard's sign-in is; back to the run page once applied.
pub async fn decide_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, stage)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Some(refused) = dashboard::sign_in_refusal(state.orchestrator.settings(), &headers) {
        return refused;
    }
    if !dashboard::same_origin(&headers) {
        return dashboard::refused(
            &id,
            StatusCode::FORBIDDEN,
            "this form was sent from another site: open the run page and decide there",
        );
    }
    let form = match dashboard::read_form(&body) {
        Ok(form) => form,
        Err(why) => return dashboard::refused(&id, StatusCode::BAD_REQUEST, &why),
    };
    let caller = Caller::Operator;
    match decide(
        &state,
        &caller,
        form.by,
        &id,
        &stage,
        form.approve,
        &form.reason,
    )
    .await
    {
        Ok(_) => Redirect::to(&format!(
            "/runs/{}#stage-{}",
            dashboard::Seg(&id),
            dashboard::Seg(&stage)
        ))
        .into_response(),
        Err((status, Json(body))) => {
            let message = body["error"].as_str().unwrap_or("not applied");
            dashboard::refused(&id, status, message)
        }
    }
}

/// Text from a person, kept to one line of at most `max` characters.
fn clean(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Who decides, from the caller's token and the name they gave.
fn decider(caller: &Caller, by: Option<String>) -> Decider {
    let by = by
        .map(|b| clean(&b, dashboard::MAX_NAME))
        .filter(|b| !b.is_empty());
    match caller {
        Caller::Operator => Decider::Operator { by },
        Caller::Tenant(tenant) => Decider::Tenant {
            tenant: tenant.clone(),
            by,
        },
        // The token names them; a name given besides is not theirs to choose.
        Caller::Member { login, .. } => Decider::Member {
            login: login.clone(),
        },
    }
}

/// Ask the scheduler to apply a decision; the answer, or the refusal to give.
async fn decide(
    state: &AppState,
    caller: &Caller,
    by: Option<String>,
    id: &str,
    stage: &str,
    approve: bool,
    reason: &str,
) -> Result<Value, Answer> {
    let reason = clean(reason, dashboard::MAX_REASON);
    if !approve && reason.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "a rejection needs a reason: say why in `reason`",
        ));
    }
    let reason = if reason.is_empty() {
        "no reason given".to_string()
    } else {
        reason
    };
    let tenant = run_tenant(state, id)?;
    if !may_act_for(caller, &tenant) {
        // Another tenant's run is "not found": its existence does not leak.
        return Err(error(StatusCode::NOT_FOUND, format!("no run {id}")));
    }
    let decision = StageDecision {
        approve,
        decider: decider(caller, by),
        reason: reason.clone(),
    };
    match state.orchestrator.decide_stage(id, stage, decision).await {
        Ok(Decided::Done { approved, by }) => Ok(json!({
            "run_id": id,
            "stage": stage,
            "approved": approved,
            "by": by,
            "reason": reason,
        })),
        Ok(Decided::NotInFlight) => Err(error(
            StatusCode::CONFLICT,
            format!("run {id} is not in flight: none of its stages waits for an approval"),
        )),
        Ok(Decided::NoSuchStage) => Err(error(
            StatusCode::NOT_FOUND,
            format!("run {id} has no stage {stage}"),
        )),
        Ok(Decided::NotWaiting(why)) => Err(error(StatusCode::CONFLICT, why)),
        Ok(Decided::Refused(why)) => Err(error(StatusCode::FORBIDDEN, why)),
        Err(e) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_people_is_one_capped_line() {
        assert_eq!(clean("  ship\nit\u{1b}[31m  ", 100), "ship it [31m");
        assert_eq!(clean("abcdef", 3), "abc");
    }

    #[test]
    fn a_members_token_names_them_whatever_name_they_give() {
        let member = Caller::Member {
            tenant: "acme".into(),
            login: "alice".into(),
        };
        assert_eq!(
            decider(&member, Some("bob".into())),
            Decider::Member {
                login: "alice".into()
            }
        );
        assert_eq!(
            decider(&Caller::Operator, Some(" ".into())),
            Decider::Operator { by: None }
        );
    }
}
