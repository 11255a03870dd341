//! Server-sent events that keep open pages current: `/runs/{id}/live` sends `change`
//! whenever the run's status or audit log moves and `end` once it is final, then closes;
//! `/runs/live` sends `change` whenever any run does. Both poll the store's change
//! stamps, which costs two indexed queries per open page every half second and needs no
//! hook into the scheduler.

use super::DashboardState;
use super::read;
use super::run::unknown_run;
use crate::model::RunStatus;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::time::Duration;

/// How often an open stream looks at the store.
pub const POLL: Duration = Duration::from_millis(500);

fn is_final(status: &str) -> bool {
    ![
        RunStatus::AwaitingApproval,
        RunStatus::Queued,
        RunStatus::Running,
    ]
    .iter()
    .any(|s| s.as_str() == status)
}

/// Where a run's stream is.
enum Watch {
    /// Sending `change` when the stamp moves.
    Open((String, i64)),
    /// The run is final: `end` goes out next.
    Ending,
    /// The run finished: the stream ends.
    Done,
}

/// `GET /runs/{id}/live`
pub async fn run(State(state): State<DashboardState>, Path(id): Path<String>) -> Response {
    let first = match read(&state, |s| s.run_stamp(&id)) {
        Ok(Some(stamp)) => stamp,
        Ok(None) => return unknown_run(&id),
        Err(failed) => return failed.into_response(),
    };
    let start = if is_final(&first.0) {
        Watch::Ending
    } else {
        Watch::Open(first)
    };
    let stopped = state.shutdown.stopped();
    sse(run_events(state, id, start).take_until(stopped))
}

fn run_events(
    state: DashboardState,
    id: String,
    start: Watch,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(start, move |watch| {
        let (state, id) = (state.clone(), id.clone());
        async move {
            let mut last = match watch {
                Watch::Done => return None,
                Watch::Ending => {
                    return Some((Ok(Event::default().event("end").data("final")), Watch::Done));
                }
                Watch::Open(stamp) => stamp,
            };
            loop {
                tokio::time::sleep(POLL).await;
                // A store error or a vanished run ends the stream; the page keeps what
                // it shows (the browser's EventSource reconnects by itself).
                let stamp = read(&state, |s| s.run_stamp(&id)).ok().flatten()?;
                if stamp == last {
                    continue;
                }
                last = stamp;
                let event = Event::default().event("change").data(&last.0);
                let next = if is_final(&last.0) {
                    Watch::Ending
                } else {
                    Watch::Open(last)
                };
                return Some((Ok(event), next));
            }
        }
    })
}

/// `GET /runs/live`
pub async fn runs(State(state): State<DashboardState>) -> Response {
    let first = match read(&state, |s| s.runs_stamp()) {
        Ok(stamp) => stamp,
        Err(failed) => return failed.into_response(),
    };
    let stopped = state.shutdown.stopped();
    let events = stream::unfold(first, move |mut last| {
        let state = state.clone();
        async move {
            loop {
                tokio::time::sleep(POLL).await;
                let stamp = read(&state, |s| s.runs_stamp()).ok()?;
                if stamp != last {
                    last = stamp;
                    let event = Event::default().event("change").data(last.0.to_string());
                    return Some((Ok(event), last));
                }
            }
        }
    });
    sse(events.take_until(stopped))
}

fn sse(events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
