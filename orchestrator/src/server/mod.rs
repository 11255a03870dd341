//! The orchestrator's HTTP side (axum): the GitHub webhook, the JSON API the CLI uses,
//! the HTML dashboard (`crate::dashboard`), `/metrics` and `/healthz`.

mod api;
mod webhook;

use crate::service::Orchestrator;
use crate::store::Store;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::{Arc, Mutex};

/// Largest webhook body accepted (GitHub caps payloads at 25 MB).
pub const MAX_WEBHOOK_BODY: usize = 25 * 1024 * 1024;

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

/// The router: webhook, API, dashboard, metrics and health.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/webhook/github",
            post(webhook::github)
                .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    refuse_oversized,
                )),
        )
        .route("/api/runs", get(api::list_runs).post(api::trigger_run))
        .route("/api/runs/{id}", get(api::run_detail))
        .route("/api/runs/{id}/events", get(api::run_events))
        .route("/api/runs/{id}/cancel", post(api::cancel_run))
        .route(
            "/api/runs/{id}/stages/{stage}/attempts/{attempt}/logs",
            get(api::attempt_logs),
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
        .merge(crate::dashboard::routes())
        .with_state(state)
}

/// Answer 413 from the announced length alone, before any of the body is read; bodies
/// without a length are cut at the same limit while they are read.
async fn refuse_oversized(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_WEBHOOK_BODY as u64) {
        state.orchestrator.metrics().webhook("too-large");
        let body = axum::Json(serde_json::json!({
            "error": format!("body larger than the {} MB limit", MAX_WEBHOOK_BODY / (1024 * 1024))
        }));
        return (StatusCode::PAYLOAD_TOO_LARGE, body).into_response();
    }
    next.run(request).await
}
