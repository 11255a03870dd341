//! Run ownership when several orchestrators share one store: a lease per key (the
//! scheduler's key is a repository, `tenant/owner/name`, so one owner sees all of a
//! repository's runs: superseding and concurrency groups stay in one scheduler), its
//! owner until `expires_ms`, and a fencing token that grows with every new owner, so a
//! write from an owner whose lease was taken over is refused in its own transaction,
//! never applied.
//!
//! Safety rests on the token, not the clock: an owner may renew, and its fenced writes
//! pass, even after its lease expired, as long as nobody took the run over. Expiry only
//! says when another orchestrator may take it.

use super::db::vals;
use super::{Store, StoreError, Writer};

/// A run's lease as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What the lease covers (a repository's runs, for the scheduler).
    pub key: String,
    /// The orchestrator that holds it.
    pub owner: String,
    /// The fencing token: larger for every new owner of the run.
    pub token: u64,
    /// When the lease ends unless renewed (Unix milliseconds).
    pub expires_ms: u64,
}

impl Lease {
    /// What a holder writes under.
    pub fn fence(&self) -> Fence {
        Fence {
            key: self.key.clone(),
            owner: self.owner.clone(),
            token: self.token,
        }
    }
}

/// Whom a write claims to come from: a fenced write applies only while the run's lease
/// is still this owner's with this token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease's key.
    pub key: String,
    /// The orchestrator writing.
    pub owner: String,
    /// The token it acquired the lease with.
    pub token: u64,
}

/// The answer to asking for a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseClaim {
    /// The caller holds the lease now (a new token unless it already held it, live).
    Acquired(Lease),
    /// Another orchestrator holds it, unexpired.
    HeldBy(Lease),
}

impl Store {
    /// Ask for `key`'s lease for `owner` until `now_ms + ttl_ms`. It is granted when
    /// the run has no owner, when its lease expired, or when `owner` already holds it.
    /// Holding it, live, keeps the token; any other grant (a first owner, a takeover, a
    /// return after expiry or release) takes the next token.
    ///
    /// One statement decides, so of several orchestrators asking at once exactly one is
    /// granted (SQLite serialises writers; PostgreSQL's upsert waits on the row).
    pub fn acquire_lease(
        &self,
        key: &str,
        owner: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<LeaseClaim, StoreError> {
        let expires_ms = now_ms.saturating_add(ttl_ms);
        // A refusal followed by no owner means the holder released the run in between:
        // ask again (a few times; releases that fast are a holder's bug, not a race).
        for _ in 0..3 {
            let granted = self.db().query_opt(
                "INSERT INTO run_leases (lease_key, owner, token, expires_ms) VALUES (?1, ?2, 1, ?4)
                 ON CONFLICT (lease_key) DO UPDATE SET
                     token = CASE WHEN run_leases.owner = excluded.owner
                                       AND run_leases.expires_ms > ?3
                                  THEN run_leases.token ELSE run_leases.token + 1 END,
                     owner = excluded.owner,
                     expires_ms = excluded.expires_ms
                 WHERE run_leases.owner IS NULL
                    OR run_leases.owner = excluded.owner
                    OR run_leases.expires_ms <= ?3
                 RETURNING token",
                vals![key, owner, now_ms, expires_ms],
            )?;
            if let Some(row) = granted {
                return Ok(LeaseClaim::Acquired(Lease {
                    key: key.to_string(),
                    owner: owner.to_string(),
                    token: row.u64(0)?,
                    expires_ms,
                }));
            }
            if let Some(holder) = self.lease(key)? {
                return Ok(LeaseClaim::HeldBy(holder));
            }
        }
        Err(StoreError::Unavailable {
            store: self.location.to_string(),
            detail: format!("the lease of {key} changed hands on every attempt to acquire it"),
        })
    }

    /// Extend the lease `fence` names to `now_ms + ttl_ms`, before or after it expired,
    /// as long as nobody took the run over; otherwise [`StoreError::LeaseLost`].
    pub fn renew_lease(
        &self,
        fence: &Fence,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Lease, StoreError> {
        let expires_ms = now_ms.saturating_add(ttl_ms);
        let renewed = self.db().execute(
            "UPDATE run_leases SET expires_ms = ?4
             WHERE lease_key = ?1 AND owner = ?2 AND token = ?3",
            vals![&fence.key, &fence.owner, fence.token, expires_ms],
        )?;
        if renewed == 1 {
            return Ok(Lease {
                key: fence.key.clone(),
                owner: fence.owner.clone(),
                token: fence.token,
                expires_ms,
            });
        }
        Err(lease_lost(fence, self.lease(&fence.key)?))
    }

    /// Give the lease up (a finished run, an orchestrator shutting down): the key has no
    /// owner until one acquires it, with the next token. `false` when it was no longer
    /// the caller's to give.
    pub fn release_lease(&self, fence: &Fence) -> Result<bool, StoreError> {
        let released = self.db().execute(
            "UPDATE run_leases SET owner = NULL, expires_ms = 0
             WHERE lease_key = ?1 AND owner = ?2 AND token = ?3",
            vals![&fence.key, &fence.owner, fence.token],
        )?;
        Ok(released == 1)
    }

    /// The lease of `key`, if it has an owner.
    pub fn lease(&self, key: &str) -> Result<Option<Lease>, StoreError> {
        self.db()
            .query_opt(
                "SELECT lease_key, owner, token, expires_ms FROM run_leases
                 WHERE lease_key = ?1 AND owner IS NOT NULL",
                vals![key],
            )?
            .map(|row| lease_from(&row))
            .transpose()
    }

    /// Owned keys whose lease expired by `now_ms`, longest expired first: what a
    /// takeover scan may acquire. Released leases are not listed.
    pub fn expired_leases(&self, now_ms: u64, limit: u32) -> Result<Vec<Lease>, StoreError> {
        self.db()
            .query(
                "SELECT lease_key, owner, token, expires_ms FROM run_leases
                 WHERE owner IS NOT NULL AND expires_ms <= ?1
                 ORDER BY expires_ms, lease_key LIMIT ?2",
                vals![now_ms, limit],
            )?
            .iter()
            .map(lease_from)
            .collect()
    }

    /// [`Store::write`] under `fence`: the lease is checked inside the transaction,
    /// first, and a stale owner's transaction is rolled back whole with
    /// [`StoreError::LeaseLost`]; nothing `work` wrote is applied.
    pub fn write_fenced<T>(
        &mut self,
        fence: &Fence,
        work: impl FnOnce(&Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write(|w| {
            w.check_fence(fence)?;
            work(w)
        })
    }
}

impl Writer<'_> {
    /// Refuse the transaction unless `fence` still holds its run's lease.
    ///
    /// A conditional update of the lease row: it takes the row's write lock, so on
    /// PostgreSQL a takeover waits until this transaction ends (and this one, if a
    /// takeover committed first, sees it and matches no row); on SQLite it takes the
    /// database's write lock, which no other writer holds until this one commits.
    pub fn check_fence(&self, fence: &Fence) -> Result<(), StoreError> {
        let held = self.db.execute(
            "UPDATE run_leases SET token = token
             WHERE lease_key = ?1 AND owner = ?2 AND token = ?3",
            vals![&fence.key, &fence.owner, fence.token],
        )?;
        if held == 1 {
            return Ok(());
        }
        let holder = self
            .db
            .query_opt(
                "SELECT lease_key, owner, token, expires_ms FROM run_leases
                 WHERE lease_key = ?1 AND owner IS NOT NULL",
                vals![&fence.key],
            )?
            .map(|row| lease_from(&row))
            .transpose()?;
        Err(lease_lost(fence, holder))
    }
}

fn lease_from(row: &super::db::Row) -> Result<Lease, StoreError> {
    Ok(Lease {
        key: row.text(0)?,
        owner: row.text(1)?,
        token: row.u64(2)?,
        expires_ms: row.u64(3)?,
    })
}

fn lease_lost(fence: &Fence, holder: Option<Lease>) -> StoreError {
    StoreError::LeaseLost {
        key: fence.key.clone(),
        owner: fence.owner.clone(),
        token: fence.token,
        holder: holder.map(|h| (h.owner, h.token)),
    }
}
