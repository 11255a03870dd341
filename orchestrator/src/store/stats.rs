//! Reads for the dashboard beyond single runs: outcome counts per repository and per
//! stage by day, average stage durations, the agents' inventories, the plugins seen in
//! attempts, and the change stamps the live pages poll.

use super::db::{Dialect, vals};
use super::{Store, StoreError, Writer};
use bosun_bus::inventory::{InventoryMessage, InventoryPlugin};
use serde::Serialize;

/// How many runs (or attempts) of one group ended one way on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The repository (run counts) or the stage (attempt counts).
    pub group: String,
    /// Run status or attempt outcome.
    pub outcome: String,
    /// How many.
    pub count: u64,
}

/// How long a stage's attempts take.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageDuration {
    /// Stage name.
    pub stage: String,
    /// Settled attempts counted.
    pub attempts: u64,
    /// Mean plugin time.
    pub average_ms: f64,
    /// Longest plugin time.
    pub max_ms: u64,
}

/// An agent as last announced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentRow {
    /// Agent id.
    pub agent_id: String,
    /// Stages it takes tasks for.
    pub stages: Vec<String>,
    /// Plugins it has loaded.
    pub plugins: Vec<InventoryPlugin>,
    /// First announcement this store saw.
    pub first_seen_ms: u64,
    /// Latest announcement (heartbeats included).
    pub last_seen_ms: u64,
}

/// A plugin as attempts record it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginUse {
    /// Plugin name.
    pub name: String,
    /// The plugin's version as it announced it.
    pub version: String,
    /// `sha256:` of its file.
    pub digest: String,
    /// Attempts it ran.
    pub attempts: u64,
    /// When it last settled an attempt.
    pub last_used_ms: Option<u64>,
    /// Agents that ran it.
    pub agents: Vec<String>,
}

/// The SQL day (UTC, `YYYY-MM-DD`) of a millisecond timestamp column.
fn day_of(dialect: Dialect, column: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("date({column} / 1000, 'unixepoch')"),
        Dialect::Postgres => {
            format!("to_char(to_timestamp({column} / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
        }
    }
}

impl Store {
    /// Runs created since `since_ms`, counted by day, repository and status.
    pub fn runs_per_day(&self, since_ms: u64) -> Result<Vec<DailyCount>, StoreError> {
        let sql = format!(
            "SELECT {day} AS day, repository, status, COUNT(*) FROM runs
             WHERE created_ms >= ?1 GROUP BY 1, 2, 3 ORDER BY 1, 2",
            day = day_of(self.db().dialect(), "created_ms")
        );
        self.daily_counts(&sql, since_ms)
    }

    /// Attempts dispatched since `since_ms`, counted by day, stage and outcome
    /// (`pending` for those not settled); a re-run's copies of reused attempts are
    /// counted once, where they ran (so in the statistics below too).
    pub fn attempts_per_day(&self, since_ms: u64) -> Result<Vec<DailyCount>, StoreError> {
        let sql = format!(
            "SELECT {day} AS day, stage, COALESCE(outcome, 'pending'), COUNT(*) FROM attempts
             WHERE dispatched_ms >= ?1 AND reused_from IS NULL
             GROUP BY 1, 2, 3 ORDER BY 1, 2",
            day = day_of(self.db().dialect(), "dispatched_ms")
        );
        self.daily_counts(&sql, since_ms)
    }

    fn daily_counts(&self, sql: &str, since_ms: u64) -> Result<Vec<DailyCount>, StoreError> {
        let rows = self.db().query(sql, vals![since_ms])?;
        rows.iter()
            .map(|r| {
                Ok(DailyCount {
                    day: r.text(0)?,
                    group: r.text(1)?,
                    outcome: r.text(2)?,
                    count: r.u64(3)?,
                })
            })
            .collect()
    }

    /// Mean and longest plugin time per stage, over attempts settled since `since_ms`.
    pub fn stage_durations(&self, since_ms: u64) -> Result<Vec<StageDuration>, StoreError> {
        let rows = self.db().query(
            "SELECT stage, COUNT(*), CAST(AVG(duration_ms) AS DOUBLE PRECISION), MAX(duration_ms)
             FROM attempts
             WHERE dispatched_ms >= ?1 AND duration_ms IS NOT NULL AND reused_from IS NULL
             GROUP BY stage ORDER BY stage",
            vals![since_ms],
        )?;
        rows.iter()
            .map(|r| {
                Ok(StageDuration {
                    stage: r.text(0)?,
                    attempts: r.u64(1)?,
                    average_ms: r.opt_f64(2)?.unwrap_or(0.0),
                    max_ms: r.opt_u64(3)?.unwrap_or(0),
                })
            })
            .collect()
    }

    /// Every agent that announced itself, most recently heard first.
    pub fn agents(&self) -> Result<Vec<AgentRow>, StoreError> {
        let rows = self.db().query(
            "SELECT agent_id, stages_json, plugins_json, first_seen_ms, last_seen_ms
             FROM agents ORDER BY last_seen_ms DESC, agent_id",
            &[],
        )?;
        let mut agents = Vec::new();
        for r in &rows {
            let agent_id = r.text(0)?;
            let what = format!("inventory of agent {agent_id}");
            agents.push(AgentRow {
                stages: serde_json::from_str(&r.text(1)?).map_err(|e| self.corrupt(&what, e))?,
                plugins: serde_json::from_str(&r.text(2)?).map_err(|e| self.corrupt(&what, e))?,
                agent_id,
                first_seen_ms: r.u64(3)?,
                last_seen_ms: r.u64(4)?,
            });
        }
        Ok(agents)
    }

    /// The plugins attempts were run with, by name, version and digest, most recently
    /// used first.
    pub fn plugins_used(&self, limit: u32) -> Result<Vec<PluginUse>, StoreError> {
        let agents = match self.db().dialect() {
            Dialect::Sqlite => "GROUP_CONCAT(DISTINCT agent_id)",
            Dialect::Postgres => "string_agg(DISTINCT agent_id, ',')",
        };
        let sql = format!(
            "SELECT plugin_name, COALESCE(plugin_version, ''), COALESCE(plugin_digest, ''),
                    COUNT(*), MAX(settled_ms), {agents}
             FROM attempts WHERE plugin_name IS NOT NULL AND reused_from IS NULL
             GROUP BY 1, 2, 3 ORDER BY MAX(settled_ms) DESC NULLS LAST, 1 LIMIT ?1"
        );
        let rows = self.db().query(&sql, vals![limit.clamp(1, 1000)])?;
        rows.iter()
            .map(|r| {
                Ok(PluginUse {
                    name: r.text(0)?,
                    version: r.text(1)?,
                    digest: r.text(2)?,
                    attempts: r.u64(3)?,
                    last_used_ms: r.opt_u64(4)?,
                    agents: r
                        .opt_text(5)?
                        .map(|a| a.split(',').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// A value that changes whenever the run does (its status or its audit log), so a
    /// live page knows when to refresh; `None` for an unknown run.
    pub fn run_stamp(&self, run_id: &str) -> Result<Option<(String, i64)>, StoreError> {
        let status = self
            .db()
            .query_opt("SELECT status FROM runs WHERE id = ?1", vals![run_id])?;
        let Some(status) = status else {
            return Ok(None);
        };
        let seq = self
            .db()
            .query_one(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = ?1",
                vals![run_id],
            )?
            .i64(0)?;
        Ok(Some((status.text(0)?, seq)))
    }

    /// A value that changes whenever any run does: the newest audit-log entry and the
    /// number of runs.
    pub fn runs_stamp(&self) -> Result<(i64, i64), StoreError> {
        let row = self.db().query_one(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM events), (SELECT COUNT(*) FROM runs)",
            &[],
        )?;
        Ok((row.i64(0)?, row.i64(1)?))
    }
}

impl Writer<'_> {
    /// Record an agent's announcement: the first one adds it, later ones (reloads and
    /// heartbeats) replace its stages and plugins and move its last-seen time.
    pub fn upsert_agent(&self, message: &InventoryMessage, now_ms: u64) -> Result<(), StoreError> {
        let stages = serde_json::to_string(&message.stages).unwrap_or_else(|_| "[]".into());
        let plugins = serde_json::to_string(&message.plugins).unwrap_or_else(|_| "[]".into());
        self.db.execute(
            "INSERT INTO agents (agent_id, stages_json, plugins_json, first_seen_ms, last_seen_ms)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (agent_id) DO UPDATE SET stages_json = excluded.stages_json,
                 plugins_json = excluded.plugins_json, last_seen_ms = excluded.last_seen_ms",
            vals![&message.agent_id, stages, plugins, now_ms],
        )?;
        Ok(())
    }
}
