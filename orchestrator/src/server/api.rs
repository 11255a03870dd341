//! The JSON API: list runs, one run with its stages, attempts, gates, notifications and
//! events, an attempt's logs, dead letters, the agents' inventories; trigger and cancel
//! runs.

use super::AppState;
use crate::model::RunTrigger;
use crate::scheduler::Accepted;
use crate::store::{RunFilter, Store, StoreError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

type Answer = (StatusCode, Json<Value>);

fn error(status: StatusCode, message: impl ToString) -> Answer {
    (status, Json(json!({ "error": message.to_string() })))
}

fn read<T>(
    state: &AppState,
    work: impl FnOnce(&Store) -> Result<T, StoreError>,
) -> Result<T, Answer> {
    let store = state
        .reads
        .lock()
        .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "run store lock poisoned"))?;
    work(&store).map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// Filters of `GET /api/runs`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    repo: Option<String>,
    branch: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/runs?repo=&branch=&status=&limit=`
pub async fn list_runs(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Answer {
    let filter = RunFilter {
        repository: q.repo,
        branch: q.branch,
        status: q.status,
        limit: q.limit,
    };
    match read(&state, |s| s.list_runs(&filter)) {
        Ok(runs) => (StatusCode::OK, Json(json!({ "runs": runs }))),
        Err(e) => e,
    }
}

/// `GET /api/runs/{id}`: the run, its attempts (with reports), gates and notifications.
pub async fn run_detail(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let detail = read(&state, |s| {
        let Some(run) = s.run(&id)? else {
            return Ok(None);
        };
        Ok(Some(json!({
            "run": run,
            "attempts": s.attempts(&id)?,
            "gates": s.gates(&id)?,
            "notifications": s.notifications(&id)?,
        })))
    });
    match detail {
        Ok(Some(body)) => (StatusCode::OK, Json(body)),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no run {id}")),
        Err(e) => e,
    }
}

/// `GET /api/runs/{id}/events`: the audit log.
pub async fn run_events(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    match read(&state, |s| s.events(&id)) {
        Ok(events) => (StatusCode::OK, Json(json!({ "events": events }))),
        Err(e) => e,
    }
}

/// `GET /api/runs/{id}/stages/{stage}/attempts/{attempt}/logs`
pub async fn attempt_logs(
    State(state): State<AppState>,
    Path((id, stage, attempt)): Path<(String, String, u32)>,
) -> Answer {
    match read(&state, |s| s.attempt_logs(&id, &stage, attempt)) {
        Ok(Some(logs)) => (StatusCode::OK, Json(json!({ "logs": logs }))),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no attempt {attempt} of {stage} in run {id}"),
        ),
        Err(e) => e,
    }
}

/// `GET /api/dead-letters`
pub async fn dead_letters(State(state): State<AppState>) -> Answer {
    match read(&state, |s| s.dead_letters(100)) {
        Ok(rows) => (StatusCode::OK, Json(json!({ "dead_letters": rows }))),
        Err(e) => e,
    }
}

/// `GET /api/agents`: every agent that announced itself, with its stages and plugins.
pub async fn agents(State(state): State<AppState>) -> Answer {
    match read(&state, |s| s.agents()) {
        Ok(rows) => (StatusCode::OK, Json(json!({ "agents": rows }))),
        Err(e) => e,
    }
}

/// Body of `POST /api/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    repository: String,
    clone_url: String,
    commit: String,
    branch: String,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    sender: Option<String>,
}

fn authorised(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = state.orchestrator.settings().api_token.resolve() else {
        return true;
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Constant-time: compare digests of equal length.
    use sha2::{Digest, Sha256};
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(token.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// `POST /api/runs`: a manual trigger.
pub async fn trigger_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    if !authorised(&state, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "a valid `Authorization: Bearer` API token is required",
        );
    }
    let request: TriggerRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid trigger request: {e}"),
            );
        }
    };
    let Some((owner, _)) = request.repository.split_once('/') else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("repository {:?} is not owner/name", request.repository),
        );
    };
    let trigger = RunTrigger {
        tenant: owner.to_string(),
        repository: request.repository.clone(),
        clone_url: request.clone_url,
        default_branch: request.default_branch.unwrap_or_else(|| "main".into()),
        commit: request.commit,
        branch: request.branch,
        event: "manual".into(),
        changed_paths: None,
        pull_request: None,
        sender: request.sender.unwrap_or_else(|| "api".into()),
        message: None,
    };
    match state.orchestrator.trigger(trigger, None).await {
        Ok(Accepted::Queued { run_id }) => {
            (StatusCode::ACCEPTED, Json(json!({ "run_id": run_id })))
        }
        Ok(Accepted::Duplicate { run_id }) => (
            StatusCode::OK,
            Json(json!({ "run_id": run_id, "duplicate": true })),
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

/// `POST /api/runs/{id}/cancel`
pub async fn cancel_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    if !authorised(&state, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "a valid `Authorization: Bearer` API token is required",
        );
    }
    match state
        .orchestrator
        .cancel(&id, "cancelled through the API")
        .await
    {
        Ok(true) => (StatusCode::OK, Json(json!({ "cancelled": id }))),
        Ok(false) => error(StatusCode::CONFLICT, format!("run {id} is not in flight")),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}
