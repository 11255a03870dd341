//! The orchestrator's HTTP side (axum): the GitHub webhook, the JSON API the CLI uses,
//! the HTML dashboard (`crate::dashboard`), `/metrics` and `/healthz`, and the agents'
//! artifact uploads and downloads (`artifacts.rs`).

mod api;
mod approval;
mod artifacts;
mod check_rerun;
mod listener;
mod rerun;
mod webhook;

pub use listener::{GuardedListener, GuardedStream};

use crate::dashboard::DashboardState;
use crate::service::Orchestrator;
use crate::store::Store;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::{Arc, Mutex};

/// Largest webhook body accepted (GitHub caps payloads at 25 MB).
pub const MAX_WEBHOOK_BODY: usize = 25 * 1024 * 1024;

/// Webhook bodies being read: each may be 25 MB before its signature can be checked,
/// so the bytes unauthenticated senders can make the server hold are bounded by a
/// budget (in KiB permits, taken by each delivery's announced length).
#[derive(Clone)]
struct WebhookGate {
    state: AppState,
    bodies: Arc<tokio::sync::Semaphore>,
    timeout: std::time::Duration,
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The scheduler's handle.
    pub orchestrator: Orchestrator,
    /// A read connection to the run store.
    pub reads: Arc<Mutex<Store>>,
    /// More metrics served on `/metrics` after the orchestrator's own: the embedded
    /// agent's, when one process runs both.
    pub extra_metrics: Option<MetricsSource>,
}

/// Renders a Prometheus text exposition.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// The orchestrator's metrics followed by the extra source's, as one exposition: a
/// single `# EOF` terminator, at the end.
fn render_metrics(state: &AppState) -> String {
    let own = state.orchestrator.metrics().render();
    let Some(extra) = &state.extra_metrics else {
        return own;
    };
    let mut text = own.trim_end().trim_end_matches("# EOF").to_string();
    text.push_str(&extra());
    text
}

/// The dashboard's part of the state: the read connection, the settings and the
/// shutdown signal, never the scheduler's handle.
impl FromRef<AppState> for DashboardState {
    fn from_ref(state: &AppState) -> DashboardState {
        DashboardState {
            reads: Arc::clone(&state.reads),
            settings: Arc::clone(state.orchestrator.settings()),
            shutdown: state.orchestrator.shutdown_signal(),
        }
    }
}

/// The router: webhook, API, dashboard, metrics and health.
pub fn router(state: AppState) -> Router {
    let settings = state.orchestrator.settings();
    let gate = WebhookGate {
        bodies: Arc::new(tokio::sync::Semaphore::new(
            (settings.webhook_body_budget_mib.max(1) as usize).saturating_mul(1024),
        )),
        timeout: settings.read_timeout(),
        state: state.clone(),
    };
    Router::new()
        .route(
            "/webhook/github",
            post(webhook::github)
                .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
                .layer(middleware::from_fn_with_state(gate, read_webhook_body)),
        )
        .route("/api/runs", get(api::list_runs).post(api::trigger_run))
        .route("/api/runs/{id}", get(api::run_detail))
        .route("/api/runs/{id}/events", get(api::run_events))
        .route("/api/runs/{id}/cancel", post(api::cancel_run))
        .route("/api/runs/{id}/approve", post(api::approve_run))
        .route("/api/runs/{id}/rerun", post(rerun::api))
        .route("/runs/{id}/rerun", post(rerun::form))
        .route(
            "/api/runs/{id}/stages/{stage}/approve",
            post(approval::approve_stage),
        )
        .route(
            "/api/runs/{id}/stages/{stage}/reject",
            post(approval::reject_stage),
        )
        .route(
            "/runs/{id}/stages/{stage}/decide",
            post(approval::decide_form),
        )
        .route(
            "/api/runs/{id}/stages/{stage}/attempts/{attempt}/logs",
            get(api::attempt_logs),
        )
        .route(
            "/api/runs/{id}/stages/{stage}/attempts/{attempt}/logs/live",
            get(api::attempt_logs_live),
        )
        .route("/api/runs/{id}/artifacts", get(artifacts::list))
        .route(
            "/api/runs/{id}/artifacts/{stage}/{*path}",
            get(artifacts::download),
        )
        .route(
            "/api/agent/artifacts/{run}/{stage}/{attempt}",
            get(artifacts::agent_list),
        )
        .route(
            "/api/agent/artifacts/{run}/{stage}/{attempt}/{*path}",
            get(artifacts::agent_file).put(artifacts::upload),
        )
        .route("/api/dead-letters", get(api::dead_letters))
        .route("/api/agents", get(api::agents))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(
                |axum::extract::State(state): axum::extract::State<AppState>| async move {
                    render_metrics(&state)
                },
            ),
        )
        .merge(crate::dashboard::routes(&state))
        .with_state(state)
}

fn refusal(status: StatusCode, message: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Read a webhook body before the handler sees it: 413 from the announced length
/// alone, before any of it is read (bodies without a length are cut at the same
/// limit); 503 when the body does not fit in what is left of the read budget; 408
/// when the body does not arrive within the timeout.
async fn read_webhook_body(
    axum::extract::State(gate): axum::extract::State<WebhookGate>,
    request: Request,
    next: Next,
) -> Response {
    let metrics = gate.state.orchestrator.metrics();
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_WEBHOOK_BODY as u64) {
        metrics.webhook("too-large");
        return refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "body larger than the {} MB limit",
                MAX_WEBHOOK_BODY / (1024 * 1024)
            ),
        );
    }
    // A delivery without a well-formed signature is refused before any budget is taken
    // for its body (the secret only decides mismatches, after the body is read).
    let signature = request
        .headers()
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if let Err(
        e @ (crate::webhook::SignatureError::MissingHeader
        | crate::webhook::SignatureError::WrongScheme { .. }
        | crate::webhook::SignatureError::Malformed { .. }),
    ) = crate::webhook::verify_signature(b"form only", signature, b"")
    {
        metrics.webhook("unauthorized");
        return refusal(StatusCode::UNAUTHORIZED, e.to_string());
    }
    // The announced length, or the most a body without one may grow to.
    let cost = announced
        .unwrap_or(MAX_WEBHOOK_BODY as u64)
        .div_ceil(1024)
        .max(1);
    let cost = u32::try_from(cost).unwrap_or(u32::MAX);
    let Ok(_permit) = Arc::clone(&gate.bodies).try_acquire_many_owned(cost) else {
        metrics.webhook("busy");
        let mut busy = refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many webhook bodies are being read at once; retry".to_string(),
        );
        busy.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        return busy;
    };
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, MAX_WEBHOOK_BODY);
    let bytes = match tokio::time::timeout(gate.timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            metrics.webhook("too-large");
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body larger than the limit, or cut short".to_string(),
            );
        }
        Err(_) => {
            metrics.webhook("timeout");
            return refusal(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s",
                    gate.timeout.as_secs()
                ),
            );
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}
