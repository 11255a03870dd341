//! The live log of running attempts: the chunks agents stream on `agent.logs`, stored
//! as they arrive (one row per chunk, by the line it starts at), read back from a line
//! on for the event streams. The attempt's result log stays the authority: once an
//! attempt is settled its chunks are no longer added to, and readers turn to that log.
//!
//! A consumer of its own writes these rows on its own connection (the scheduler never
//! writes this table), and SQLite's busy timeout orders the writers.

use super::db::vals;
use super::reads::json_col;
use super::{AttemptState, Store, StoreError};
use bosun_bus::LogLine;
use bosun_bus::logs::LogChunkMessage;

/// Most bytes of live log kept per attempt, whatever an agent sends: a backstop over
/// the agent's own cap (1 MB by default, said in the log where it cuts).
pub const LIVE_LOG_CAP_BYTES: u64 = 4 << 20;

/// What became of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveAppend {
    /// Stored: this many new lines.
    Stored(usize),
    /// Its lines were all stored before (a redelivery).
    Duplicate,
    /// The attempt is settled or its run is over: its result's log is the authority.
    Closed,
    /// No such attempt was dispatched.
    Unknown,
    /// The attempt already holds [`LIVE_LOG_CAP_BYTES`].
    OverCap,
}

/// Where an attempt's log stands, for a reader following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveLogState {
    /// No such run.
    NoRun,
    /// The run is in flight and the attempt not dispatched yet.
    NotStarted,
    /// The attempt runs: its live lines grow.
    Running,
    /// Settled, or its run is over: the result's log (if any) is complete.
    Ended,
}

impl Store {
    /// Store a chunk of a running attempt's log: lines already stored are left out
    /// (chunks arrive at least once), lines past the cap are dropped.
    pub fn append_live_log(
        &self,
        chunk: &LogChunkMessage,
        now_ms: u64,
    ) -> Result<LiveAppend, StoreError> {
        match self.attempt_state(&chunk.run_id, &chunk.stage, chunk.attempt)? {
            AttemptState::Open => {}
            AttemptState::Closed => return Ok(LiveAppend::Closed),
            AttemptState::Unknown => return Ok(LiveAppend::Unknown),
        }
        let totals = self.db().query_one(
            "SELECT COALESCE(MAX(end_line), 0), CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM live_log_chunks
             WHERE run_id = ?1 AND stage = ?2 AND attempt = ?3",
            vals![&chunk.run_id, &chunk.stage, chunk.attempt],
        )?;
        let (end, bytes) = (totals.i64(0)?, totals.i64(1)?);
        let (end, mut bytes) = (end as u64, bytes as u64);
        if chunk.end_line() <= end {
            return Ok(LiveAppend::Duplicate);
        }
        if bytes >= LIVE_LOG_CAP_BYTES {
            return Ok(LiveAppend::OverCap);
        }
        let skip = end.saturating_sub(chunk.first_line) as usize;
        let mut lines = Vec::new();
        for line in chunk.lines.iter().skip(skip) {
            let size = line.message.len() as u64;
            if bytes + size > LIVE_LOG_CAP_BYTES {
                break;
            }
            bytes += size;
            lines.push(line);
        }
        if lines.is_empty() {
            return Ok(LiveAppend::OverCap);
        }
        let first = chunk.first_line.max(end);
        let size: u64 = lines.iter().map(|l| l.message.len() as u64).sum();
        let text = serde_json::to_string(&lines).map_err(|e| self.corrupt("live log", e))?;
        self.db().execute(
            "INSERT INTO live_log_chunks
             (run_id, stage, attempt, first_line, end_line, bytes, agent_id, lines_json, received_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT DO NOTHING",
            vals![
                &chunk.run_id,
                &chunk.stage,
                chunk.attempt,
                first,
                first + lines.len() as u64,
                size,
                &chunk.agent_id,
                text,
                now_ms
            ],
        )?;
        Ok(LiveAppend::Stored(lines.len()))
    }

    /// Up to `limit` stored live lines of an attempt from line `from` on, each with its
    /// index in the attempt's log (a gap where the agent could not stream).
    pub fn live_log_lines(
        &self,
        run_id: &str,
        stage: &str,
        attempt: u32,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, LogLine)>, StoreError> {
        let rows = self.db().query(
            "SELECT first_line, lines_json FROM live_log_chunks
             WHERE run_id = ?1 AND stage = ?2 AND attempt = ?3 AND end_line > ?4
             ORDER BY first_line",
            vals![run_id, stage, attempt, from],
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (first, text) = (row.u64(0)?, row.opt_text(1)?);
            let lines: Vec<LogLine> = json_col(text).unwrap_or_default();
            for (offset, line) in lines.into_iter().enumerate() {
                let index = first + offset as u64;
                if index >= from {
                    out.push((index, line));
                }
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// Whether an attempt's log still grows.
    pub fn live_log_state(
        &self,
        run_id: &str,
        stage: &str,
        attempt: u32,
    ) -> Result<LiveLogState, StoreError> {
        let found = self
            .db()
            .query_opt(
                "SELECT r.finished_ms, a.attempt, a.settled_ms FROM runs r
                 LEFT JOIN attempts a ON a.run_id = r.id AND a.stage = ?2 AND a.attempt = ?3
                 WHERE r.id = ?1",
                vals![run_id, stage, attempt],
            )?
            .map(|r| -> Result<_, StoreError> {
                Ok((r.opt_i64(0)?, r.opt_i64(1)?, r.opt_i64(2)?.is_some()))
            })
            .transpose()?;
        Ok(match found {
            None => LiveLogState::NoRun,
            Some((Some(_), _, _)) | Some((None, Some(_), true)) => LiveLogState::Ended,
            Some((None, None, _)) => LiveLogState::NotStarted,
            Some((None, Some(_), false)) => LiveLogState::Running,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RunRecord, RunStatus, RunTrigger, StageRecord};
    use bosun_bus::messages::MESSAGE_VERSION;
    use bosun_bus::{LogLevel, StageResult};

    fn open_run(store: &mut Store) {
        let run = RunRecord {
            id: "r1".into(),
            trigger: RunTrigger {
                tenant: "acme".into(),
                repository: "acme/shop".into(),
                clone_url: "file:///tmp/shop".into(),
                default_branch: "main".into(),
                commit: "0".repeat(40),
                branch: "main".into(),
                event: "push".into(),
                changed_paths: None,
                pull_request: None,
                sender: "dev".into(),
                message: None,
                fork: false,
            },
            status: RunStatus::Running,
            created_ms: 1,
            finished_ms: None,
            config_source: None,
            config_origin: None,
            error: None,
            failures: 0,
            stages: vec![StageRecord::pending("test")],
            denials: vec![],
            warnings: vec![],
            notified: false,
            paths_budget_spent: 0,
            rerun_of: None,
        };
        store
            .write(|w| {
                w.save_run(&run)?;
                w.insert_attempt("r1", "test", 1, 10, 1000)
            })
            .unwrap();
    }

    fn chunk(seq: u64, first: u64, count: u64, size: usize) -> LogChunkMessage {
        LogChunkMessage {
            version: MESSAGE_VERSION,
            agent_id: "agent-1".into(),
            run_id: "r1".into(),
            stage: "test".into(),
            attempt: 1,
            seq,
            first_line: first,
            lines: (first..first + count)
                .map(|n| LogLine {
                    at_ms: n,
                    level: LogLevel::Info,
                    source: "tool".into(),
                    message: format!("{n:04}{}", "x".repeat(size.saturating_sub(4))),
                })
                .collect(),
        }
    }

    #[test]
    fn chunks_are_stored_once_and_read_from_any_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("runs.db")).unwrap();
        assert_eq!(
            store.live_log_state("r1", "test", 1).unwrap(),
            LiveLogState::NoRun
        );
        open_run(&mut store);
        assert_eq!(
            store.live_log_state("r1", "test", 2).unwrap(),
            LiveLogState::NotStarted
        );
        assert_eq!(
            store.live_log_state("r1", "test", 1).unwrap(),
            LiveLogState::Running
        );
        let append = |c: &LogChunkMessage| store.append_live_log(c, 5).unwrap();
        assert_eq!(append(&chunk(0, 0, 3, 4)), LiveAppend::Stored(3));
        assert_eq!(append(&chunk(0, 0, 3, 4)), LiveAppend::Duplicate);
        // Overlapping a stored chunk: only the new lines are kept.
        assert_eq!(append(&chunk(1, 2, 3, 4)), LiveAppend::Stored(2));
        // A gap the agent could not stream stays a gap.
        assert_eq!(append(&chunk(2, 8, 2, 4)), LiveAppend::Stored(2));
        let indexes = |from| -> Vec<u64> {
            store
                .live_log_lines("r1", "test", 1, from, 100)
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        assert_eq!(indexes(0), [0, 1, 2, 3, 4, 8, 9]);
        assert_eq!(indexes(3), [3, 4, 8, 9]);
        assert_eq!(indexes(5), [8, 9]);
        assert!(indexes(10).is_empty());
        let two = store.live_log_lines("r1", "test", 1, 1, 2).unwrap();
        assert_eq!(two[1].1.message, "0002");
        assert_eq!(
            store.append_live_log(&chunk(9, 99, 1, 4), 5).unwrap(),
            LiveAppend::Stored(1)
        );
    }

    #[test]
    fn a_settled_attempt_takes_no_more_chunks_and_the_cap_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("runs.db")).unwrap();
        open_run(&mut store);
        let line = 64 << 10;
        let mut stored = 0;
        for seq in 0..100 {
            if let LiveAppend::Stored(n) =
                store.append_live_log(&chunk(seq, seq, 1, line), 5).unwrap()
            {
                stored += n;
            }
        }
        assert_eq!(stored as u64, LIVE_LOG_CAP_BYTES / line as u64);
        let result = StageResult {
            task_id: "r1/test/1".into(),
            plugin: None,
            report: None,
            failure: None,
            logs: vec![],
            logs_dropped_bytes: 0,
            duration_ms: 1,
        };
        store
            .write(|w| w.settle_attempt("r1", "test", 1, "agent-1", &result, 20))
            .unwrap();
        assert_eq!(
            store.live_log_state("r1", "test", 1).unwrap(),
            LiveLogState::Ended
        );
        assert_eq!(
            store.append_live_log(&chunk(200, 200, 1, 4), 5).unwrap(),
            LiveAppend::Closed
        );
        let mut other = chunk(0, 0, 1, 4);
        other.attempt = 7;
        assert_eq!(
            store.append_live_log(&other, 5).unwrap(),
            LiveAppend::Unknown
        );
    }
}
