//! The live-log writer: a task of its own that reads `agent.logs` and appends each
//! chunk to the run store on its own connection, so a burst of output never waits
//! behind scheduling, and scheduling never waits behind output. Viewers read the store,
//! never this task, so a slow or absent viewer holds up nothing.

use crate::store::{LiveAppend, Store};
use bosun_bus::logs::LogChunkMessage;
use bosun_bus::{Subscription, messages};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Append every chunk that arrives until `shutdown` turns true.
pub(super) async fn store_chunks(
    store: Store,
    mut chunks: Box<dyn Subscription>,
    mut shutdown: watch::Receiver<bool>,
) {
    let store = Arc::new(Mutex::new(store));
    loop {
        let delivery = tokio::select! {
            next = chunks.next() => next,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let delivery = match delivery {
            Ok(delivery) => delivery,
            Err(e) => {
                tracing::warn!(error = %e, "stopped reading live logs");
                return;
            }
        };
        match messages::decode::<LogChunkMessage>(&delivery.record.payload) {
            Ok(chunk) => {
                let store = Arc::clone(&store);
                // SQLite may wait on the scheduler's writes: off the async threads.
                let appended = tokio::task::spawn_blocking(move || {
                    let store = store
                        .lock()
                        .map_err(|_| "the live-log store lock is poisoned".to_string())?;
                    store
                        .append_live_log(&chunk, super::now_ms())
                        .map(|appended| (chunk, appended))
                        .map_err(|e| e.to_string())
                })
                .await;
                match appended {
                    Ok(Ok((chunk, LiveAppend::Unknown))) => tracing::debug!(
                        run_id = %chunk.run_id, stage = %chunk.stage, attempt = chunk.attempt,
                        "live log chunk for an attempt never dispatched, dropped"
                    ),
                    Ok(Ok(_)) => {}
                    Ok(Err(why)) => tracing::warn!(%why, "could not store live log lines"),
                    Err(e) => tracing::warn!(error = %e, "could not store live log lines"),
                }
            }
            // It will never decode; the attempt's result log is unaffected.
            Err(why) => {
                tracing::warn!(%why, key = %delivery.record.key, "undecodable live log chunk, skipped")
            }
        }
        if let Err(e) = chunks.ack(&delivery).await {
            tracing::warn!(error = %e, "could not acknowledge a live log chunk");
        }
    }
}
