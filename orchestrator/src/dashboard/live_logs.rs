//! An attempt's log as server-sent events, for the attempt's page and the API: each
//! line is a `line` event whose id is its index in the attempt's log, lines the agent
//! could not stream are a `gap` event, and `end` closes the stream once the attempt is
//! settled (or its run is over). While the attempt runs the lines come from the live
//! chunks in the store; once it is settled, the rest come from its result's log, which
//! has every line at the same index. A reader resumes from any line: `?from=N`, or the
//! `Last-Event-ID` its `EventSource` sends when it reconnects.
//!
//! Streams read the store (every [`POLL`] while nothing new is there), never the agent
//! or the bus, so a slow reader slows nobody else down.

use super::{DashboardState, read};
use crate::service::ShutdownSignal;
use crate::store::{LiveLogState, Store, StoreError};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bosun_bus::LogLine;
use futures_util::StreamExt;
use futures_util::stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often an open stream looks for new lines.
pub const POLL: Duration = Duration::from_millis(250);
/// Most lines sent in one go.
const BATCH: usize = 500;

/// `?from=N`: the first line wanted.
#[derive(Debug, Default, Deserialize)]
pub struct FromQuery {
    /// Index of the first line to send (0: the start).
    pub from: Option<u64>,
}

/// The line to start at: after the `Last-Event-ID` a reconnecting reader had, else
/// `?from=`, else the start.
pub fn first_line(headers: &HeaderMap, query: &FromQuery) -> u64 {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|last| last + 1)
        .or(query.from)
        .unwrap_or(0)
}

/// `GET /runs/{id}/stages/{stage}/attempts/{attempt}/logs/live`
pub async fn show(
    State(state): State<DashboardState>,
    Path((id, stage, attempt)): Path<(String, String, u32)>,
    Query(query): Query<FromQuery>,
    headers: HeaderMap,
) -> Response {
    match read(&state, |s| s.live_log_state(&id, &stage, attempt)) {
        Ok(LiveLogState::NoRun) => {
            return (StatusCode::NOT_FOUND, format!("no run {id}\n")).into_response();
        }
        Ok(_) => {}
        Err(failed) => return failed.into_response(),
    }
    let from = first_line(&headers, &query);
    follow(state.reads, state.shutdown, id, stage, attempt, from)
}

/// Where a stream is.
enum Phase {
    /// Sending lines from this index on.
    At(u64),
    /// Everything was sent: `end` goes out next.
    Ending(u64),
    /// `end` went out: the stream closes.
    Done,
}

/// The event stream of one attempt's log from line `from` on (the caller checked who
/// may read the run).
pub fn follow(
    reads: Arc<Mutex<Store>>,
    shutdown: ShutdownSignal,
    run_id: String,
    stage: String,
    attempt: u32,
    from: u64,
) -> Response {
    let events = stream::unfold(Phase::At(from), move |phase| {
        let (reads, run_id, stage) = (Arc::clone(&reads), run_id.clone(), stage.clone());
        async move {
            let mut next = match phase {
                Phase::Done => return None,
                Phase::Ending(next) => {
                    let end = Event::default()
                        .event("end")
                        .data(serde_json::json!({ "next": next }).to_string());
                    return Some((vec![end], Phase::Done));
                }
                Phase::At(next) => next,
            };
            loop {
                // A store error ends the stream; an `EventSource` reconnects from the
                // last id it had.
                let step = {
                    let store = reads.lock().ok()?;
                    batch(&store, &run_id, &stage, attempt, next).ok()?
                };
                match step {
                    Step::Lines(lines, ended) => {
                        let mut events = Vec::with_capacity(lines.len() + 1);
                        for (index, line) in lines {
                            if index > next {
                                events.push(Event::default().event("gap").data(
                                    serde_json::json!({ "from": next, "to": index }).to_string(),
                                ));
                            }
                            events.push(line_event(index, &line));
                            next = index + 1;
                        }
                        let phase = if ended {
                            Phase::Ending(next)
                        } else {
                            Phase::At(next)
                        };
                        return Some((events, phase));
                    }
                    Step::Ended => return Some((Vec::new(), Phase::Ending(next))),
                    Step::Wait => tokio::time::sleep(POLL).await,
                }
            }
        }
    })
    .flat_map(|events| stream::iter(events.into_iter().map(Ok::<_, Infallible>)));
    Sse::new(events.take_until(shutdown.stopped()))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// What the store has past a line.
enum Step {
    /// Lines to send (with whether that is all there will be).
    Lines(Vec<(u64, LogLine)>, bool),
    /// Nothing more will come.
    Ended,
    /// Nothing yet.
    Wait,
}

fn batch(
    store: &Store,
    run_id: &str,
    stage: &str,
    attempt: u32,
    from: u64,
) -> Result<Step, StoreError> {
    let state = store.live_log_state(run_id, stage, attempt)?;
    if state == LiveLogState::Ended {
        // The result's log is the authority: the rest comes from it, at the same
        // indexes. An attempt that never reported (its run was cancelled) keeps what
        // was streamed.
        let final_log = store
            .attempt_logs(run_id, stage, attempt)?
            .filter(|lines| !lines.is_empty());
        let rest: Vec<(u64, LogLine)> = match final_log {
            Some(lines) => lines
                .into_iter()
                .enumerate()
                .map(|(n, line)| (n as u64, line))
                .skip(from as usize)
                .take(BATCH)
                .collect(),
            None => store.live_log_lines(run_id, stage, attempt, from, BATCH)?,
        };
        return Ok(match rest.len() {
            0 => Step::Ended,
            n => Step::Lines(rest, n < BATCH),
        });
    }
    let lines = store.live_log_lines(run_id, stage, attempt, from, BATCH)?;
    Ok(if lines.is_empty() {
        Step::Wait
    } else {
        Step::Lines(lines, false)
    })
}

fn line_event(index: u64, line: &LogLine) -> Event {
    let data = serde_json::json!({
        "n": index,
        "at_ms": line.at_ms,
        "level": line.level,
        "source": line.source,
        "message": line.message,
    });
    Event::default()
        .event("line")
        .id(index.to_string())
        .data(data.to_string())
}
