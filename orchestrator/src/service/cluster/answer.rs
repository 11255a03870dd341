//! Waiting for the answer to a request handed to another orchestrator, and passing it
//! to the caller in the type it waits for.

use crate::scheduler::{Accepted, Decided, RerunRefused, RerunStarted, SchedulerError};
use crate::service::command::Reply;
use crate::store::Store;
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Wait for row `id`'s answer, polling the store off the async threads.
pub(super) async fn await_answer(
    waiter: Arc<Mutex<Store>>,
    id: i64,
    wait: Duration,
) -> Result<String, String> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    loop {
        let store = Arc::clone(&waiter);
        let read = tokio::task::spawn_blocking(move || match store.lock() {
            Ok(store) => store.take_inbox_answer(id).map_err(|e| e.to_string()),
            Err(_) => Err("the answer's store connection is unusable".to_string()),
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        match read {
            Ok(Some(answer)) => return Ok(answer),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(id, error = %e, "could not read a handed-over request's answer")
            }
        }
        if Instant::now() >= deadline {
            let store = Arc::clone(&waiter);
            let withdrawn = tokio::task::spawn_blocking(move || {
                store.lock().ok().map(|s| s.withdraw_inbox_item(id))
            })
            .await;
            if let Ok(Some(Ok(false))) = withdrawn {
                // Answered in the last instant: take it.
                if let Ok(Ok(Some(answer))) = waiter.lock().map(|s| s.take_inbox_answer(id)) {
                    return Ok(answer);
                }
            }
            return Err(format!("did not answer within {} s", wait.as_secs()));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// A caller waiting for a handed-over request's answer.
pub(super) enum Waiting {
    Accepted(Reply<Accepted>),
    Bool(Reply<bool>),
    Approved(Reply<Result<(), String>>),
    Decided(Reply<Decided>),
    Rerun(Reply<Result<RerunStarted, RerunRefused>>),
}

impl Waiting {
    pub(super) fn answer(self, json: &str) {
        match self {
            Waiting::Accepted(reply) => send(reply, json),
            Waiting::Bool(reply) => send(reply, json),
            Waiting::Approved(reply) => send(reply, json),
            Waiting::Decided(reply) => send(reply, json),
            Waiting::Rerun(reply) => send(reply, json),
        }
    }

    pub(super) fn fail(self, error: SchedulerError) {
        match self {
            Waiting::Accepted(reply) => drop(reply.send(Err(error))),
            Waiting::Bool(reply) => drop(reply.send(Err(error))),
            Waiting::Approved(reply) => drop(reply.send(Err(error))),
            Waiting::Decided(reply) => drop(reply.send(Err(error))),
            Waiting::Rerun(reply) => drop(reply.send(Err(error))),
        }
    }
}

fn send<T: DeserializeOwned>(reply: Reply<T>, json: &str) {
    let answer = match serde_json::from_str::<Result<T, String>>(json) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(why)) => Err(SchedulerError::Elsewhere(why)),
        Err(e) => Err(SchedulerError::Elsewhere(format!(
            "the owning orchestrator's answer could not be read: {e}"
        ))),
    };
    let _ = reply.send(answer);
}
