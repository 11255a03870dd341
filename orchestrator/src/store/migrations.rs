//! The run store's schema, as numbered migrations applied in order (`PRAGMA user_version`).

/// Each entry moves the schema from version `i` to `i + 1`. Never edit a released
/// migration: append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs, attempts, the audit log, webhook deliveries, gates, notifications, dead letters.
    "
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        repository TEXT NOT NULL,
        branch TEXT NOT NULL,
        commit_sha TEXT NOT NULL,
        event TEXT NOT NULL,
        status TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        finished_ms INTEGER,
        state_json TEXT NOT NULL
    );
    CREATE INDEX runs_by_repo_branch ON runs (repository, branch, created_ms);
    CREATE INDEX runs_by_status ON runs (status);
    CREATE INDEX runs_by_created ON runs (created_ms);

    CREATE TABLE attempts (
        run_id TEXT NOT NULL REFERENCES runs (id),
        stage TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        dispatched_ms INTEGER NOT NULL,
        deadline_ms INTEGER NOT NULL,
        settled_ms INTEGER,
        agent_id TEXT,
        plugin_name TEXT,
        plugin_version TEXT,
        plugin_digest TEXT,
        outcome TEXT,
        failure_kind TEXT,
        failure_message TEXT,
        duration_ms INTEGER,
        report_json TEXT,
        logs_json TEXT,
        PRIMARY KEY (run_id, stage, attempt)
    );

    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        stage TEXT,
        attempt INTEGER,
        message TEXT NOT NULL,
        data_json TEXT
    );
    CREATE INDEX events_by_run ON events (run_id, seq);

    CREATE TABLE deliveries (
        delivery_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        event TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        run_id TEXT,
        outcome TEXT NOT NULL
    );

    CREATE TABLE gates (
        request_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        phase TEXT NOT NULL,
        requested_ms INTEGER NOT NULL,
        answered_ms INTEGER,
        verdicts_json TEXT
    );
    CREATE INDEX gates_by_run ON gates (run_id);

    CREATE TABLE notifications (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        detail TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    );
    CREATE INDEX notifications_by_run ON notifications (run_id);

    CREATE TABLE dead_letters (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        key TEXT NOT NULL,
        reason TEXT NOT NULL,
        deliveries INTEGER NOT NULL,
        payload TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    );
    ",
    // 2: the agents' announced inventories (stages and loaded plugins), one row per agent.
    "
    CREATE TABLE agents (
        agent_id TEXT PRIMARY KEY,
        stages_json TEXT NOT NULL,
        plugins_json TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL
    );
    CREATE INDEX attempts_by_dispatched ON attempts (dispatched_ms);
    ",
    // 3: deliveries are deduplicated per tenant: one tenant reusing another's delivery
    // id neither blocks that delivery nor learns the run it started.
    "
    CREATE TABLE deliveries_by_tenant (
        tenant TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        event TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        run_id TEXT,
        outcome TEXT NOT NULL,
        PRIMARY KEY (tenant, delivery_id)
    );
    INSERT INTO deliveries_by_tenant (tenant, delivery_id, event, received_ms, run_id, outcome)
        SELECT tenant, delivery_id, event, received_ms, run_id, outcome FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_by_tenant RENAME TO deliveries;
    ",
    // 4: where each schedule stands: the tick it last fired for (or when it was first
    // seen), so ticks missed while the orchestrator was down fire once.
    "
    CREATE TABLE IF NOT EXISTS schedule_marks (
        key TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        repository TEXT NOT NULL,
        branch TEXT NOT NULL,
        last_slot_ms INTEGER NOT NULL,
        run_id TEXT,
        updated_ms INTEGER NOT NULL
    );
    ",
    // 5: a re-run's stages that passed in the run it repeats are copied, not run again:
    // their attempt rows name the run that ran them.
    "
    ALTER TABLE attempts ADD COLUMN reused_from TEXT;
    ",
    // 6: the files command steps keep, per attempt (the content lives in the artifact
    // folder by digest), and the key that signs the tasks' artifact tokens.
    "
    CREATE TABLE IF NOT EXISTS artifacts (
        run_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        digest TEXT NOT NULL,
        kept_ms INTEGER NOT NULL,
        PRIMARY KEY (run_id, stage, attempt, path)
    );
    CREATE TABLE IF NOT EXISTS artifact_key (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key BLOB NOT NULL
    );
    INSERT OR IGNORE INTO artifact_key (id, key) VALUES (1, randomblob(32));
    ",
    // 7: what Bosun made on GitHub and edits later: a stage's check run (by its
    // external id) and a pull request's summary comment.
    "
    CREATE TABLE IF NOT EXISTS github_objects (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        object_id INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
    );
    ",
    // 8: the live log of running attempts, as agents stream it: consecutive lines of
    // one attempt's log per chunk, by where they start in it.
    "
    CREATE TABLE IF NOT EXISTS live_log_chunks (
        run_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        first_line INTEGER NOT NULL,
        end_line INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        agent_id TEXT NOT NULL,
        lines_json TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        PRIMARY KEY (run_id, stage, attempt, first_line)
    );
    ",
    // 9: retention finds a tenant's oldest runs, and whether a pruned file's content is
    // still kept by another run, without scanning the tables.
    "
    CREATE INDEX IF NOT EXISTS runs_by_tenant_created ON runs (lower(tenant), created_ms);
    CREATE INDEX IF NOT EXISTS artifacts_by_digest ON artifacts (digest);
    ",
    // 10: each run's owner when several orchestrators share the store: a lease until
    // `expires_ms`, and a fencing token that only grows, so a write from an owner whose
    // lease was taken over is refused (`leases.rs`). A released lease keeps its row
    // (owner NULL) so the next owner's token is still larger.
    "
    CREATE TABLE IF NOT EXISTS run_leases (
        run_id TEXT PRIMARY KEY,
        owner TEXT,
        token INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS run_leases_by_expiry ON run_leases (expires_ms);
    ",
    // 11: when several orchestrators share the store, a lease covers one repository's
    // runs (its key `tenant/owner/name`; no orchestrator held a lease before this step,
    // so the table is made afresh), and what one orchestrator receives for a
    // repository another owns (an agent's reply, a person's request) waits in the
    // owner's inbox; a request's answer is written back on its row (`inbox.rs`).
    "
    DROP TABLE IF EXISTS run_leases;
    CREATE TABLE run_leases (
        lease_key TEXT PRIMARY KEY,
        owner TEXT,
        token INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS run_leases_by_expiry ON run_leases (expires_ms);
    CREATE TABLE IF NOT EXISTS owner_inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        lease_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        sender TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        answer TEXT,
        answered_ms INTEGER
    );
    CREATE INDEX IF NOT EXISTS owner_inbox_by_key ON owner_inbox (lease_key, id);
    ",
    // 12: what every orchestrator reads and exactly one acts on (a notifier's answer,
    // a dead letter): the first to insert the claim's key does (`claims.rs`).
    "
    CREATE TABLE IF NOT EXISTS claims (
        claim_key TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS claims_by_time ON claims (at_ms);
    ",
];
