//! Kept files over HTTP. Agents upload an attempt's files and download those of the
//! stages a step needs under `/api/agent/artifacts/{run}/{stage}/{attempt}`, with the
//! task's token (`crate::artifacts::TokenScope`): it names one run, the attempt it
//! uploads for and the attempts it reads, and works only while its attempt is in
//! flight. People list and download a run's files under `/api/runs/{id}/artifacts`
//! with the same auth as the logs.
//!
//! An upload names its path (checked by `bosun_bus::artifacts::check_path`), its
//! length and its sha256; the body is counted against the run's cap and the attempt's
//! file count before it is read, cut off at the length announced, and stored only when
//! its digest is the one announced.

use super::AppState;
use super::api::may_read_run;
use crate::artifacts::{Blobs, ReceiveError, TokenScope, serve};
use crate::store::{ArtifactRow, AttemptState, Store, StoreError};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bosun_bus::artifacts::{DIGEST_HEADER, check_path};
use serde::Deserialize;
use serde_json::json;

/// A request refused, with the status and the reason it is answered with.
#[derive(Debug)]
pub struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn refuse(status: StatusCode, message: impl ToString) -> Refusal {
    Refusal(status, message.to_string())
}

type Answer = Result<Response, Refusal>;

fn read<T>(
    state: &AppState,
    work: impl FnOnce(&Store) -> Result<T, StoreError>,
) -> Result<T, Refusal> {
    let store = state
        .reads
        .lock()
        .map_err(|_| refuse(StatusCode::INTERNAL_SERVER_ERROR, "run store lock poisoned"))?;
    work(&store).map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e))
}

fn blobs(state: &AppState) -> Blobs {
    Blobs::new(state.orchestrator.settings().artifacts_dir())
}

/// What a task's token may do here.
enum Wants {
    Upload,
    Read,
}

/// The token's scope, when it is this orchestrator's, grants `wants` on
/// `run/stage/attempt`, and its own attempt is still in flight.
fn authorise(
    state: &AppState,
    headers: &HeaderMap,
    (run, stage, attempt): (&str, &str, u32),
    wants: Wants,
) -> Result<TokenScope, Refusal> {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "an artifact token is required (Authorization: Bearer)",
        ));
    };
    let key = read(state, |s| s.artifact_key())?;
    let scope = TokenScope::verify(&key, token).map_err(|e| refuse(StatusCode::UNAUTHORIZED, e))?;
    let granted = match wants {
        Wants::Upload => scope.may_upload(run, stage, attempt),
        Wants::Read => scope.may_read(run, stage, attempt),
    };
    if !granted {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "this token belongs to {} attempt {} of run {} and does not reach {stage} attempt {attempt} of run {run}",
                scope.stage, scope.attempt, scope.run
            ),
        ));
    }
    match read(state, |s| {
        s.attempt_state(&scope.run, &scope.stage, scope.attempt)
    })? {
        AttemptState::Open => Ok(scope),
        AttemptState::Closed | AttemptState::Unknown => Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "{} attempt {} of run {} is not in flight: its token no longer works",
                scope.stage, scope.attempt, scope.run
            ),
        )),
    }
}

/// `PUT /api/agent/artifacts/{run}/{stage}/{attempt}/{*path}`: one file of the attempt.
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((run, stage, attempt, path)): Path<(String, String, u32, String)>,
    body: Body,
) -> Answer {
    authorise(&state, &headers, (&run, &stage, attempt), Wants::Upload)?;
    check_path(&path).map_err(|e| refuse(StatusCode::BAD_REQUEST, e))?;
    let Some(claimed) = headers
        .get(DIGEST_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| bosun_bus::artifacts::digest_hex(&format!("sha256:{v}")).is_some())
        .map(str::to_string)
    else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("{DIGEST_HEADER} must give the content's sha256 as 64 lower-case hex digits"),
        ));
    };
    let Some(announced) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Err(refuse(
            StatusCode::LENGTH_REQUIRED,
            "an upload announces its Content-Length",
        ));
    };
    let limits = &state.orchestrator.settings().artifacts;
    // Counted before a byte is read, and again before the row is written (another
    // stage of the run may upload at the same time).
    let within = |(used, files): (u64, u32)| -> Result<(), Refusal> {
        if files >= limits.max_files {
            return Err(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{stage} attempt {attempt} keeps {files} files already, the most one attempt may keep"
                ),
            ));
        }
        if used.saturating_add(announced) > limits.max_run_bytes() {
            return Err(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{path} ({} KiB) would take run {run} past its cap of {} MiB of artifacts ({} KiB kept already)",
                    announced.div_ceil(1024),
                    limits.max_run_mib,
                    used.div_ceil(1024)
                ),
            ));
        }
        Ok(())
    };
    let usage = |state: &AppState| read(state, |s| s.artifact_usage(&run, &stage, attempt, &path));
    within(usage(&state)?)?;
    let received = match blobs(&state)
        .receive(body.into_data_stream(), announced, &claimed)
        .await
    {
        Ok(received) => received,
        Err(e @ ReceiveError::Io { .. }) => {
            tracing::error!(error = %e, "an artifact could not be stored");
            return Err(refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the artifact could not be stored",
            ));
        }
        Err(e) => return Err(refuse(StatusCode::BAD_REQUEST, e)),
    };
    within(usage(&state)?)?;
    let row = ArtifactRow {
        stage,
        attempt,
        path,
        size: received.size,
        digest: received.digest,
        kept_ms: crate::service::now_ms(),
    };
    read(&state, |s| s.keep_artifact(&run, &row))?;
    Ok((StatusCode::CREATED, Json(json!(row))).into_response())
}

/// `GET /api/agent/artifacts/{run}/{stage}/{attempt}`: the files of an attempt the
/// token's step reads.
pub async fn agent_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((run, stage, attempt)): Path<(String, String, u32)>,
) -> Answer {
    authorise(&state, &headers, (&run, &stage, attempt), Wants::Read)?;
    let files = read(&state, |s| s.attempt_artifacts(&run, &stage, attempt))?;
    Ok(Json(json!({ "files": files })).into_response())
}

/// `GET /api/agent/artifacts/{run}/{stage}/{attempt}/{*path}`: one of those files.
pub async fn agent_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((run, stage, attempt, path)): Path<(String, String, u32, String)>,
) -> Answer {
    authorise(&state, &headers, (&run, &stage, attempt), Wants::Read)?;
    file(&state, &run, &stage, Some(attempt), &path).await
}

async fn file(
    state: &AppState,
    run: &str,
    stage: &str,
    attempt: Option<u32>,
    path: &str,
) -> Answer {
    match read(state, |s| s.artifact(run, stage, attempt, path))? {
        Some(row) => Ok(serve::send(&blobs(state), &row).await),
        None => Err(refuse(
            StatusCode::NOT_FOUND,
            format!("{stage} kept no file {path} in run {run}"),
        )),
    }
}

/// `GET /api/runs/{id}/artifacts`: every file the run's stages kept.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    if let Err(refused) = may_read_run(&state, &headers, &id) {
        return Ok(refused.into_response());
    }
    let rows = read(&state, |s| s.artifacts(&id))?;
    Ok(Json(json!({ "artifacts": rows })).into_response())
}

/// Which attempt's file to download (default: the latest that kept it).
#[derive(Debug, Deserialize)]
pub struct AttemptQuery {
    attempt: Option<u32>,
}

/// `GET /api/runs/{id}/artifacts/{stage}/{*path}[?attempt=N]`
pub async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, stage, path)): Path<(String, String, String)>,
    Query(query): Query<AttemptQuery>,
) -> Answer {
    if let Err(refused) = may_read_run(&state, &headers, &id) {
        return Ok(refused.into_response());
    }
    file(&state, &id, &stage, query.attempt, &path).await
}
