//! Re-running what failed, over HTTP: `POST /api/runs/{id}/rerun` (JSON, an optional
//! `{"stage": …}`) and `POST /runs/{id}/rerun`, the run page's form, which answers with
//! the new run's page. Who may re-run is who may start runs through the API: the
//! operator's token, or a tenant's (or a tenant member's) token for its own runs (the
//! form's login cookie stands for the bearer header).

use super::AppState;
use super::api::{Answer, Caller, caller, error, may_act_for, run_tenant};
use crate::scheduler::{RerunRefused, RerunRequest, RerunStarted};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

/// The longest stage name accepted (config stage names are far shorter).
const MAX_STAGE_NAME: usize = 200;

/// Body of `POST /api/runs/{id}/rerun`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerunBody {
    /// One stage (or matrix stage) to re-run; absent: every stage that did not pass.
    #[serde(default)]
    stage: Option<String>,
}

/// The answer's status for a refusal: unknown run 404, unknown stage 400, the rest
/// (in flight, nothing failed, a pinned plugin gone, the config refused) 409.
fn refusal_status(refused: &RerunRefused) -> StatusCode {
    match refused {
        RerunRefused::NoRun(_) => StatusCode::NOT_FOUND,
        RerunRefused::UnknownStage { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::CONFLICT,
    }
}

/// Check the caller and the stage name, then ask the scheduler.
async fn start(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    stage: Option<String>,
) -> Result<RerunStarted, Answer> {
    let caller = caller(state, headers)?;
    if let Some(stage) = &stage
        && (stage.is_empty() || stage.len() > MAX_STAGE_NAME || stage.chars().any(char::is_control))
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "`stage` must be a stage name of the run",
        ));
    }
    let tenant = run_tenant(state, &id)?;
    if !may_act_for(&caller, &tenant) {
        // Another tenant's run is "not found": its existence does not leak.
        return Err(error(StatusCode::NOT_FOUND, format!("no run {id}")));
    }
    let by = match &caller {
        Caller::Operator => "the operator".to_string(),
        Caller::Tenant(own) => format!("the token of tenant {own}"),
        Caller::Member { tenant, login } => format!("{login} (member of {tenant})"),
    };
    let request = RerunRequest {
        run_id: id,
        stage,
        by,
    };
    match state.orchestrator.rerun(request).await {
        Ok(Ok(started)) => Ok(started),
        Ok(Err(refused)) => Err(error(refusal_status(&refused), refused)),
        Err(e) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e)),
    }
}

/// `POST /api/runs/{id}/rerun`: 202 with the new run's id, what runs again and what
/// is reused.
pub async fn api(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let body: RerunBody = if body.is_empty() {
        RerunBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid rerun request: {e}"),
                );
            }
        }
    };
    match start(&state, &headers, id.clone(), body.stage).await {
        Ok(started) => (
            StatusCode::ACCEPTED,
            Json(json!({
                "run_id": started.run_id,
                "rerun_of": id,
                "rerun": started.rerun,
                "reused": started.reused,
            })),
        ),
        Err(refused) => refused,
    }
}

/// `POST /runs/{id}/rerun` from the run page (form field `stage`, empty for every
/// stage that did not pass): to the new run's page, or a page saying why not.
pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut headers = headers;
    if !headers.contains_key(header::AUTHORIZATION)
        && let Some(token) = crate::dashboard::given_token(&headers)
        && let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        headers.insert(header::AUTHORIZATION, bearer);
    }
    let stage = form_field(&body, "stage").filter(|s| !s.is_empty());
    match start(&state, &headers, id.clone(), stage).await {
        Ok(started) => Redirect::to(&format!("/runs/{}", crate::dashboard::Seg(&started.run_id)))
            .into_response(),
        Err((StatusCode::UNAUTHORIZED, _)) => Redirect::to("/login").into_response(),
        Err((status, Json(why))) => {
            let detail = why["error"].as_str().unwrap_or("the re-run was refused");
            crate::dashboard::refusal_page(status, &format!("Run {id} was not re-run"), detail)
        }
    }
}

/// The value of `field` in an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], field: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == field)
        .map(|(_, value)| {
            percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded() {
        assert_eq!(
            form_field(b"stage=unit+tests%2F1", "stage").as_deref(),
            Some("unit tests/1")
        );
        assert_eq!(form_field(b"stage=", "stage").as_deref(), Some(""));
        assert_eq!(form_field(b"other=x", "stage"), None);
    }

    #[test]
    fn refusals_map_to_statuses() {
        assert_eq!(
            refusal_status(&RerunRefused::NoRun("r".into())),
            StatusCode::NOT_FOUND
        );
        let unknown = RerunRefused::UnknownStage {
            run: "r".into(),
            stage: "x".into(),
            known: "lint".into(),
        };
        assert_eq!(refusal_status(&unknown), StatusCode::BAD_REQUEST);
        assert_eq!(
            refusal_status(&RerunRefused::InFlight("r".into())),
            StatusCode::CONFLICT
        );
    }
}
