//! The JSON API: list runs, one run with its stages, attempts, gates, notifications and
//! events, an attempt's logs, dead letters, the agents' inventories; trigger and cancel
//! runs.

use super::AppState;
use crate::model::RunTrigger;
use crate::scheduler::Accepted;
use crate::store::{RunFilter, Store, StoreError};
use crate::trust::same_token;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) type Answer = (StatusCode, Json<Value>);

pub(super) fn error(status: StatusCode, message: impl ToString) -> Answer {
    (status, Json(json!({ "error": message.to_string() })))
}

pub(super) fn read<T>(
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

/// `GET /api/runs?repo=&branch=&status=&limit=`: with a tenant's token, only its runs.
pub async fn list_runs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Answer {
    let tenant = match caller(&state, &headers) {
        Ok(caller) => caller.tenant().map(str::to_string),
        Err(refused) => return refused,
    };
    let filter = RunFilter {
        repository: q.repo,
        branch: q.branch,
        status: q.status,
        tenant,
        limit: q.limit,
    };
    match read(&state, |s| s.list_runs(&filter)) {
        Ok(runs) => (StatusCode::OK, Json(json!({ "runs": runs }))),
        Err(e) => e,
    }
}

/// `GET /api/runs/{id}`: the run, its attempts (with reports), gates and notifications.
pub async fn run_detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    if let Err(refused) = may_read_run(&state, &headers, &id) {
        return refused;
    }
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
pub async fn run_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    if let Err(refused) = may_read_run(&state, &headers, &id) {
        return refused;
    }
    match read(&state, |s| s.events(&id)) {
        Ok(events) => (StatusCode::OK, Json(json!({ "events": events }))),
        Err(e) => e,
    }
}

/// `GET /api/runs/{id}/stages/{stage}/attempts/{attempt}/logs`
pub async fn attempt_logs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, stage, attempt)): Path<(String, String, u32)>,
) -> Answer {
    if let Err(refused) = may_read_run(&state, &headers, &id) {
        return refused;
    }
    match read(&state, |s| s.attempt_logs(&id, &stage, attempt)) {
        Ok(Some(logs)) => (StatusCode::OK, Json(json!({ "logs": logs }))),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no attempt {attempt} of {stage} in run {id}"),
        ),
        Err(e) => e,
    }
}

/// `GET /api/runs/{id}/stages/{stage}/attempts/{attempt}/logs/live`: the attempt's
/// log as server-sent events, live while it runs, from `?from=N` or after the
/// `Last-Event-ID` (see `dashboard::live_logs`); the same callers as the logs.
pub async fn attempt_logs_live(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, stage, attempt)): Path<(String, String, u32)>,
    Query(query): Query<crate::dashboard::live_logs::FromQuery>,
) -> axum::response::Response {
    use crate::store::LiveLogState;
    use axum::response::IntoResponse;
    if let Err(refused) = may_read_run(&state, &headers, &id) {
        return refused.into_response();
    }
    match read(&state, |s| s.live_log_state(&id, &stage, attempt)) {
        Ok(LiveLogState::NoRun) => {
            return error(StatusCode::NOT_FOUND, format!("no run {id}")).into_response();
        }
        Ok(_) => {}
        Err(e) => return e.into_response(),
    }
    let from = crate::dashboard::live_logs::first_line(&headers, &query);
    crate::dashboard::live_logs::follow(
        std::sync::Arc::clone(&state.reads),
        state.orchestrator.shutdown_signal(),
        id,
        stage,
        attempt,
        from,
    )
}

/// `GET /api/dead-letters`: the operator's (they name every tenant's tasks).
pub async fn dead_letters(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    if let Err(refused) = operator_only(&state, &headers) {
        return refused;
    }
    match read(&state, |s| s.dead_letters(100)) {
        Ok(rows) => (StatusCode::OK, Json(json!({ "dead_letters": rows }))),
        Err(e) => e,
    }
}

/// `GET /api/agents`: every agent that announced itself, with its stages and plugins.
pub async fn agents(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    if let Err(refused) = operator_only(&state, &headers) {
        return refused;
    }
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

/// Who is calling a write endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Caller {
    /// The operator's `api_token`, or anyone when the server has none (local use).
    Operator,
    /// A tenant's own `api_token`: acts on that tenant's runs only.
    Tenant(String),
    /// A member's own token (`members` in the tenant's settings): acts as the tenant,
    /// known by login.
    Member {
        /// The tenant.
        tenant: String,
        /// Their login.
        login: String,
    },
}

impl Caller {
    /// The tenant the caller acts for; `None` for the operator.
    pub(super) fn tenant(&self) -> Option<&str> {
        match self {
            Caller::Operator => None,
            Caller::Tenant(tenant) | Caller::Member { tenant, .. } => Some(tenant),
        }
    }
}

pub(super) fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, Answer> {
    let settings = state.orchestrator.settings();
    let Some(token) = settings.api_token.resolve() else {
        if settings.api_token_configured() {
            // Configured but unset (a missing variable): fail closed, never open.
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server's api_token is configured but empty or its variable unset: the API is closed until the operator sets it",
            ));
        }
        return Ok(Caller::Operator);
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !given.is_empty() {
        if same_token(given, &token) {
            return Ok(Caller::Operator);
        }
        for tenant in &settings.tenants {
            if let Some(own) = tenant.api_token.resolve()
                && same_token(given, &own)
            {
                return Ok(Caller::Tenant(tenant.owner.clone()));
            }
            for (login, secret) in &tenant.members {
                if let Some(own) = secret.resolve()
                    && same_token(given, &own)
                {
                    return Ok(Caller::Member {
                        tenant: tenant.owner.clone(),
                        login: login.clone(),
                    });
                }
            }
        }
    }
    Err(error(
        StatusCode::UNAUTHORIZED,
        "a valid `Authorization: Bearer` API token is required",
    ))
}

/// Reads need a token too when the server has one: the operator's reads everything, a
/// tenant's only its own runs (another tenant's run is "not found", not "forbidden",
/// so its existence does not leak).
pub(super) fn may_read_run(state: &AppState, headers: &HeaderMap, id: &str) -> Result<(), Answer> {
    let caller = caller(state, headers)?;
    let Some(own) = caller.tenant() else {
        return Ok(());
    };
    match run_tenant(state, id) {
        Ok(tenant) if tenant.eq_ignore_ascii_case(own) => Ok(()),
        Ok(_) => Err(error(StatusCode::NOT_FOUND, format!("no run {id}"))),
        Err(answer) => Err(answer),
    }
}

fn operator_only(state: &AppState, headers: &HeaderMap) -> Result<(), Answer> {
    match caller(state, headers)? {
        Caller::Operator => Ok(()),
        Caller::Tenant(_) | Caller::Member { .. } => Err(error(
            StatusCode::FORBIDDEN,
            "only the operator's token reads this",
        )),
    }
}

/// Whether `caller` may act on a run of `tenant`.
pub(super) fn may_act_for(caller: &Caller, tenant: &str) -> bool {
    caller
        .tenant()
        .is_none_or(|own| own.eq_ignore_ascii_case(tenant))
}

/// The tenant of a stored run, or the answer to give when there is none.
pub(super) fn run_tenant(state: &AppState, id: &str) -> Result<String, Answer> {
    match read(state, |s| s.run(id))? {
        Some(run) => Ok(run.trigger.tenant),
        None => Err(error(StatusCode::NOT_FOUND, format!("no run {id}"))),
    }
}

/// `POST /api/runs`: a manual trigger.
pub async fn trigger_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    let caller = match caller(&state, &headers) {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let request: TriggerRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid trigger request: {e}"),
            );
        }
    };
    let Some((owner, _)) = request
        .repository
        .split_once('/')
        .filter(|_| crate::trust::is_repository_name(&request.repository))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("repository {:?} is not owner/name", request.repository),
        );
    };
    if !bosun_git::refs::is_commit_sha(&request.commit) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("commit {:?} is not a hexadecimal sha", request.commit),
        );
    }
    if let Some(own) = caller.tenant() {
        // A tenant's token starts its own repositories' runs, from where a webhook could.
        if !may_act_for(&caller, owner) {
            return error(
                StatusCode::FORBIDDEN,
                format!("the token of tenant {own} cannot start runs of {owner}"),
            );
        }
        let settings = state.orchestrator.settings();
        let hosts = settings
            .tenant(own)
            .map(|t| t.clone_hosts.clone())
            .unwrap_or_default();
        if let Err(refused) = crate::trust::check_clone_url(
            &request.clone_url,
            &request.repository,
            &settings.clone_schemes,
            &hosts,
        ) {
            return error(StatusCode::FORBIDDEN, refused);
        }
    } else if !bosun_git::refs::is_allowed_clone_url(&request.clone_url) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("clone URL {:?} is not allowed", request.clone_url),
        );
    }
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
        fork: false,
    };
    match state.orchestrator.trigger(trigger, None).await {
        Ok(Accepted::Queued { run_id } | Accepted::AwaitingApproval { run_id }) => {
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
    let caller = match caller(&state, &headers) {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    if caller != Caller::Operator {
        match run_tenant(&state, &id) {
            Ok(tenant) if may_act_for(&caller, &tenant) => {}
            // Another tenant's run is "not found": its existence does not leak.
            Ok(_) => return error(StatusCode::NOT_FOUND, format!("no run {id}")),
            Err(answer) => return answer,
        }
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

/// Body of `POST /api/runs/{id}/approve`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The approving member's login, for the audit log.
    #[serde(default)]
    by: Option<String>,
}

/// `POST /api/runs/{id}/approve`: a member of the run's tenant (its token) or the
/// operator lets a fork's pull request run.
pub async fn approve_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    let caller = match caller(&state, &headers) {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let request: ApproveRequest = if body.is_empty() {
        ApproveRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid approve request: {e}"),
                );
            }
        }
    };
    let tenant = match run_tenant(&state, &id) {
        Ok(tenant) => tenant,
        Err(answer) => return answer,
    };
    if !may_act_for(&caller, &tenant) {
        // Another tenant's run is "not found": its existence does not leak.
        return error(StatusCode::NOT_FOUND, format!("no run {id}"));
    }
    let who: String = request
        .by
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    let approver = match (&caller, who.is_empty()) {
        (Caller::Operator, true) => "the operator".to_string(),
        (Caller::Operator, false) => format!("{who} (operator token)"),
        (Caller::Tenant(own), true) => format!("a member of {own}"),
        (Caller::Tenant(own), false) => format!("{who} (token of tenant {own})"),
        (Caller::Member { tenant, login }, _) => format!("{login} (member of {tenant})"),
    };
    match state.orchestrator.approve(&id, &approver).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(json!({ "approved": id, "by": approver })),
        ),
        Ok(Err(refused)) => error(StatusCode::CONFLICT, refused),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}
