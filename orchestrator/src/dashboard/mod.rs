//! The dashboard: server-rendered HTML pages over the run store, served by the same
//! router as the JSON API. Runs list and run page, an attempt's logs, statistics, the
//! plugin inventory, dead letters, and event streams that keep open pages current.
//!
//! Every page is rendered by a plain function from data read in one go under the read
//! connection's lock, so the renderers are tested without a server; the handlers only
//! read, render and map store errors to an error page.

mod approvals;
mod artifacts;
mod dead_letters;
mod html;
mod live;
pub mod live_logs;
mod login;
mod logs;
mod plugins;
mod rerun;
mod run;
mod run_sections;
mod runs;
mod stats;

#[cfg(test)]
mod tests;

pub use approvals::{DecisionForm, MAX_NAME, MAX_REASON, read_form, refused, same_origin};
pub use html::{Esc, Seg};
pub(crate) use login::given_token;
pub use login::refusal as sign_in_refusal;

use crate::service::ShutdownSignal;
use crate::settings::ServerSettings;
use crate::store::{Store, StoreError};
use axum::Router;
use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use html::Nav;
use std::sync::{Arc, Mutex};

/// What the pages use: they read the run store and nothing else of the service. The
/// server's state provides it through [`FromRef`], so the dashboard never holds the
/// scheduler's handle.
#[derive(Clone)]
pub struct DashboardState {
    /// A read connection to the run store.
    pub reads: Arc<Mutex<Store>>,
    /// The server settings: the `api_token` the login checks.
    pub settings: Arc<ServerSettings>,
    /// Ends the live event streams when the service shuts down.
    pub shutdown: ShutdownSignal,
}

/// The dashboard's routes, merged into the server's router; `state` is the server's,
/// from which each page takes its [`DashboardState`].
pub fn routes<S>(state: &S) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    DashboardState: FromRef<S>,
{
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/runs") }))
        .route("/runs", get(runs::show))
        .route("/runs/live", get(live::runs))
        .route("/runs/{id}", get(run::show))
        .route("/runs/{id}/live", get(live::run))
        .route(
            "/runs/{id}/stages/{stage}/attempts/{attempt}/logs",
            get(logs::show),
        )
        .route(
            "/runs/{id}/stages/{stage}/attempts/{attempt}/logs/live",
            get(live_logs::show),
        )
        .route(
            "/runs/{id}/artifacts/{stage}/{*path}",
            get(artifacts::download),
        )
        .route("/stats", get(stats::show))
        .route("/plugins", get(plugins::show))
        .route("/dead-letters", get(dead_letters::show))
        .layer(axum::middleware::from_fn_with_state(
            DashboardState::from_ref(state),
            login::require,
        ));
    Router::new()
        .route("/login", get(login::show).post(login::submit))
        .merge(pages)
}

/// The store could not be read; it answers with the 500 error page.
struct StoreFailed(String);

impl IntoResponse for StoreFailed {
    fn into_response(self) -> Response {
        error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            Nav::Runs,
            "The run store could not be read",
            &self.0,
        )
    }
}

/// Read from the store under the read connection's lock; a failure carries the store's
/// message (it names the file, never a secret).
fn read<T>(
    state: &DashboardState,
    work: impl FnOnce(&Store) -> Result<T, StoreError>,
) -> Result<T, StoreFailed> {
    let store = state.reads.lock().map_err(|_| {
        StoreFailed("the read connection's lock is poisoned; restart the orchestrator".into())
    })?;
    work(&store).map_err(|e| StoreFailed(e.to_string()))
}

/// A page that says what went wrong and where to go instead.
fn error_page(status: StatusCode, nav: Nav, title: &str, detail: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><div class=\"box why\"><p>{}</p></div>\
         <p><a href=\"/runs\">Back to the runs list</a></p>",
        Esc(title),
        Esc(detail)
    );
    (status, Html(html::page(title, nav, None, &body))).into_response()
}

/// A page saying why a request from a dashboard form was refused (the server's
/// form handlers, which hold the scheduler's handle, answer with it).
pub(crate) fn refusal_page(status: StatusCode, title: &str, detail: &str) -> Response {
    error_page(status, Nav::Runs, title, detail)
}

/// A rendered page with 200.
fn ok(html: String) -> Response {
    Html(html).into_response()
}
