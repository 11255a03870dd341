//! Retention in the background: every `retention.interval_secs`, each tenant's finished
//! runs older than its `retention_days` are pruned, then its logs past its
//! `log_budget_mib`, batch by batch on a store connection of its own. Every batch is
//! one short transaction on a blocking thread, so the scheduler's owner task never
//! waits on it for long (SQLite orders the writers by its busy timeout, PostgreSQL by
//! row locks). Content no kept file names any more is then removed from the
//! artifact folder.

use super::Clock;
use crate::artifacts::Blobs;
use crate::settings::ServerSettings;
use crate::store::{Pruned, RetentionRule, Store, StoreError, StoreLocation};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const DAY_MS: u64 = 86_400_000;

/// Content written this recently is never removed: an upload of the same content may
/// be about to record the row that names it.
const BLOB_GRACE: Duration = Duration::from_secs(3600);

/// Retention's state between passes.
pub struct Retention {
    location: StoreLocation,
    store: Option<Store>,
    rules: Vec<RetentionRule>,
    batch: u32,
    blobs: Blobs,
    blob_grace: Duration,
    /// Digests nothing names whose content was spared as too recent: tried again on
    /// the next pass.
    spared: Vec<String>,
}

/// What a pass removed, in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPass {
    /// Runs removed.
    pub runs: u64,
    /// Attempts whose logs were dropped.
    pub logs: u64,
    /// Kept files' contents removed from the artifact folder.
    pub blobs: u64,
}

impl Retention {
    /// Retention as the settings say: one rule per tenant that sets `retention_days`
    /// or `log_budget_mib`.
    pub fn new(settings: &ServerSettings) -> Retention {
        let rules = settings
            .tenants
            .iter()
            .filter(|t| t.retention_days.is_some() || t.log_budget_mib.is_some())
            .map(|t| RetentionRule {
                tenant: t.owner.clone(),
                max_age_days: t.retention_days,
                log_budget_bytes: t.log_budget_mib.map(|mib| mib.saturating_mul(1 << 20)),
            })
            .collect();
        Retention {
            location: settings.store.clone(),
            store: None,
            rules,
            batch: settings.retention.batch.max(1),
            blobs: Blobs::new(settings.artifacts_dir()),
            blob_grace: BLOB_GRACE,
            spared: Vec::new(),
        }
    }

    /// Whether any tenant asks for pruning.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Run `work` on the store on a blocking thread (opening it on first use).
    async fn on_store<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let location = self.location.clone();
        let store = self.store.take();
        let (store, outcome) = tokio::task::spawn_blocking(move || {
            let mut store = match store {
                Some(store) => store,
                None => match Store::open(&location) {
                    Ok(store) => store,
                    Err(e) => return (None, Err(e)),
                },
            };
            let outcome = work(&mut store);
            (Some(store), outcome)
        })
        .await
        .map_err(|e| StoreError::Unavailable {
            store: self.location.to_string(),
            detail: format!("the retention task failed: {e}"),
        })?;
        // A failed batch drops the connection: the next pass opens a fresh one.
        self.store = store.filter(|_| outcome.is_ok());
        outcome
    }

    /// One pass over every tenant at `now_ms`, batch by batch until each comes back short.
    pub async fn run_once(&mut self, now_ms: u64) -> Result<RetentionPass, StoreError> {
        let mut pass = RetentionPass::default();
        let batch = self.batch;
        let spared = std::mem::take(&mut self.spared);
        pass.blobs += self.remove_blobs(spared).await?;
        for rule in self.rules.clone() {
            if let Some(days) = rule.max_age_days {
                let before = now_ms.saturating_sub(u64::from(days) * DAY_MS);
                loop {
                    let tenant = rule.tenant.clone();
                    let pruned: Pruned = self
                        .on_store(move |s| s.prune_runs(&tenant, before, batch))
                        .await?;
                    pass.runs += pruned.runs;
                    pass.blobs += self.remove_blobs(pruned.unreferenced).await?;
                    if pruned.runs < u64::from(batch) {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
            if let Some(budget) = rule.log_budget_bytes {
                loop {
                    let tenant = rule.tenant.clone();
                    let dropped = self
                        .on_store(move |s| s.prune_logs(&tenant, budget, batch, now_ms))
                        .await?;
                    pass.logs += dropped;
                    if dropped < u64::from(batch) {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
        Ok(pass)
    }

    /// Remove the content of digests no kept file names, checking again just before;
    /// content written within the grace period is kept for the next pass.
    async fn remove_blobs(&mut self, digests: Vec<String>) -> Result<u64, StoreError> {
        let mut removed = 0;
        for digest in digests {
            let Some(hex) = digest.strip_prefix("sha256:").map(str::to_string) else {
                continue;
            };
            let (blobs, grace) = (self.blobs.clone(), self.blob_grace);
            let named = digest.clone();
            let outcome = self
                .on_store(move |s| {
                    if s.digest_kept(&named)? || blobs.find(&hex).is_none() {
                        return Ok(Some(false));
                    }
                    match blobs.remove_unused(&hex, grace) {
                        Ok(true) => Ok(Some(true)),
                        Ok(false) => Ok(None),
                        Err(e) => {
                            tracing::warn!(digest = %named, error = %e, "retention: cannot remove kept content");
                            Ok(None)
                        }
                    }
                })
                .await?;
            match outcome {
                Some(gone) => removed += u64::from(gone),
                // Too recent (or not removable now): the next pass tries again.
                None => self.spared.push(digest),
            }
        }
        Ok(removed)
    }
}

/// Run retention every `retention.interval_secs` until `shutdown` turns true; nothing
/// at all when no tenant asks for it.
pub(crate) fn spawn(
    settings: Arc<ServerSettings>,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let mut retention = Retention::new(&settings);
    if retention.is_empty() {
        return None;
    }
    let interval = settings.retention.interval();
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            match retention.run_once(clock.now_ms()).await {
                Ok(pass) if pass != RetentionPass::default() => tracing::info!(
                    runs = pass.runs,
                    logs = pass.logs,
                    blobs = pass.blobs,
                    "retention: pruned"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "retention: pass failed; trying again next time")
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests;
