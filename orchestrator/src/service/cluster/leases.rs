//! Keeping the leases: renewing those held, releasing idle repositories, taking over
//! those whose owner stopped renewing, and giving every lease up at a graceful stop.

use crate::service::worker::Worker;
use crate::store::StoreError;

impl Worker {
    /// Renew the leases held, release the repositories with nothing in flight, take
    /// over those whose owner stopped renewing, and drop answers nobody came for.
    pub(in crate::service) async fn maintain_leases(&mut self) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let ttl = cluster.settings.lease().as_millis() as u64;
        let now = self.clock.now_ms();
        for fence in self.scheduler.held_fences() {
            match self.scheduler.store().renew_lease(&fence, now, ttl) {
                Ok(_) => {}
                Err(StoreError::LeaseLost { holder, .. }) => {
                    let runs = self.scheduler.disown(&fence.key);
                    tracing::warn!(key = %fence.key, ?holder, runs, "lease taken over by another orchestrator; its runs left this one");
                }
                Err(e) => tracing::warn!(key = %fence.key, error = %e, "could not renew a lease"),
            }
        }
        for fence in self.scheduler.idle_keys() {
            let store = self.scheduler.store();
            if matches!(store.key_has_work(&fence.key), Ok(false)) {
                if let Err(e) = store.release_lease(&fence) {
                    tracing::warn!(key = %fence.key, error = %e, "could not release a lease");
                    continue;
                }
                self.scheduler.forget_key(&fence.key);
            }
        }
        let orphaned = match self.scheduler.store().keys_without_owner(now, 32) {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for repositories without an owner");
                Vec::new()
            }
        };
        for key in orphaned {
            self.take(&key).await;
        }
        let stale = now.saturating_sub(10 * 60 * 1000);
        let _ = self.scheduler.store().prune_inbox_answers(stale);
        // A claim outlives any redelivery of its message by far after a day.
        let _ = self
            .scheduler
            .store()
            .prune_claims(now.saturating_sub(24 * 3600 * 1000));
    }

    /// Give every lease up (a graceful shutdown): the others take the runs over at once.
    pub(in crate::service) fn release_all(&mut self) {
        for fence in self.scheduler.held_fences() {
            if let Err(e) = self.scheduler.store().release_lease(&fence) {
                tracing::warn!(key = %fence.key, error = %e, "could not release a lease at shutdown");
            }
            self.scheduler.forget_key(&fence.key);
        }
    }
}
