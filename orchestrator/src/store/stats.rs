//! Reads for the dashboard beyond single runs: outcome counts per repository and per
//! stage by day, average stage durations, the agents' inventories, the plugins seen in
//! attempts, and the change stamps the live pages poll.

use super::{Store, StoreError, Writer};
use bosun_bus::inventory::{InventoryMessage, InventoryPlugin};
use rusqlite::params;
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

/// The SQL day (UTC) of a millisecond timestamp column.
fn day_of(column: &str) -> String {
    format!("date({column} / 1000, 'unixepoch')")
}

impl Store {
    /// Runs created since `since_ms`, counted by day, repository and status.
    pub fn runs_per_day(&self, since_ms: u64) -> Result<Vec<DailyCount>, StoreError> {
        let sql = format!(
            "SELECT {day} AS day, repository, status, COUNT(*) FROM runs
             WHERE created_ms >= ?1 GROUP BY day, repository, status ORDER BY day, repository",
            day = day_of("created_ms")
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
             GROUP BY day, stage, 3 ORDER BY day, stage",
            day = day_of("dispatched_ms")
        );
        self.daily_counts(&sql, since_ms)
    }

    fn daily_counts(&self, sql: &str, since_ms: u64) -> Result<Vec<DailyCount>, StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([since_ms as i64], |r| {
                Ok(DailyCount {
                    day: r.get(0)?,
                    group: r.get(1)?,
                    outcome: r.get(2)?,
                    count: r.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// Mean and longest plugin time per stage, over attempts settled since `since_ms`.
    pub fn stage_durations(&self, since_ms: u64) -> Result<Vec<StageDuration>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT stage, COUNT(*), AVG(duration_ms), MAX(duration_ms) FROM attempts
                 WHERE dispatched_ms >= ?1 AND duration_ms IS NOT NULL AND reused_from IS NULL
                 GROUP BY stage ORDER BY stage",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([since_ms as i64], |r| {
                Ok(StageDuration {
                    stage: r.get(0)?,
                    attempts: r.get::<_, i64>(1)? as u64,
                    average_ms: r.get::<_, Option<f64>>(2)?.unwrap_or(0.0),
                    max_ms: r.get::<_, Option<i64>>(3)?.unwrap_or(0) as u64,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// Every agent that announced itself, most recently heard first.
    pub fn agents(&self) -> Result<Vec<AgentRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT agent_id, stages_json, plugins_json, first_seen_ms, last_seen_ms
                 FROM agents ORDER BY last_seen_ms DESC, agent_id",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)? as u64,
                    r.get::<_, i64>(4)? as u64,
                ))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut agents = Vec::new();
        for row in rows {
            let (agent_id, stages, plugins, first_seen_ms, last_seen_ms) =
                row.map_err(|e| self.sqlite(e))?;
            let what = format!("inventory of agent {agent_id}");
            agents.push(AgentRow {
                stages: serde_json::from_str(&stages).map_err(|e| self.corrupt(&what, e))?,
                plugins: serde_json::from_str(&plugins).map_err(|e| self.corrupt(&what, e))?,
                agent_id,
                first_seen_ms,
                last_seen_ms,
            });
        }
        Ok(agents)
    }

    /// The plugins attempts were run with, by name, version and digest, most recently
    /// used first.
    pub fn plugins_used(&self, limit: u32) -> Result<Vec<PluginUse>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT plugin_name, COALESCE(plugin_version, ''), COALESCE(plugin_digest, ''),
                        COUNT(*), MAX(settled_ms), GROUP_CONCAT(DISTINCT agent_id)
                 FROM attempts WHERE plugin_name IS NOT NULL AND reused_from IS NULL
                 GROUP BY 1, 2, 3 ORDER BY MAX(settled_ms) DESC, 1 LIMIT ?1",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([limit.clamp(1, 1000)], |r| {
                let agents: Option<String> = r.get(5)?;
                Ok(PluginUse {
                    name: r.get(0)?,
                    version: r.get(1)?,
                    digest: r.get(2)?,
                    attempts: r.get::<_, i64>(3)? as u64,
                    last_used_ms: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                    agents: agents
                        .map(|a| a.split(',').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// A value that changes whenever the run does (its status or its audit log), so a
    /// live page knows when to refresh; `None` for an unknown run.
    pub fn run_stamp(&self, run_id: &str) -> Result<Option<(String, i64)>, StoreError> {
        let status: Option<String> = rusqlite::OptionalExtension::optional(self.conn.query_row(
            "SELECT status FROM runs WHERE id = ?1",
            [run_id],
            |r| r.get(0),
        ))
        .map_err(|e| self.sqlite(e))?;
        let Some(status) = status else {
            return Ok(None);
        };
        let seq: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(Some((status, seq)))
    }

    /// A value that changes whenever any run does: the newest audit-log entry and the
    /// number of runs.
    pub fn runs_stamp(&self) -> Result<(i64, i64), StoreError> {
        self.conn
            .query_row(
                "SELECT (SELECT COALESCE(MAX(seq), 0) FROM events), (SELECT COUNT(*) FROM runs)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.sqlite(e))
    }
}

impl Writer<'_> {
    /// Record an agent's announcement: the first one adds it, later ones (reloads and
    /// heartbeats) replace its stages and plugins and move its last-seen time.
    pub fn upsert_agent(&self, message: &InventoryMessage, now_ms: u64) -> Result<(), StoreError> {
        let stages = serde_json::to_string(&message.stages).unwrap_or_else(|_| "[]".into());
        let plugins = serde_json::to_string(&message.plugins).unwrap_or_else(|_| "[]".into());
        self.tx
            .execute(
                "INSERT INTO agents (agent_id, stages_json, plugins_json, first_seen_ms, last_seen_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (agent_id) DO UPDATE SET stages_json = excluded.stages_json,
                     plugins_json = excluded.plugins_json, last_seen_ms = excluded.last_seen_ms",
                params![message.agent_id, stages, plugins, now_ms as i64],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }
}
