//! The run store's schema on PostgreSQL: the same numbered steps as `migrations.rs`,
//! one for one, in PostgreSQL's dialect. Integers are `BIGINT` (SQLite's are 64-bit),
//! text that is sorted or compared is `COLLATE "C"` (byte order, as SQLite sorts), the
//! version lives in `bosun_schema`, and every step runs under an advisory lock so two
//! orchestrators starting at once migrate once.

/// Entry `i` is the PostgreSQL form of `migrations::MIGRATIONS[i]`. Never edit a
/// released step: append one to both lists (the lengths are checked at compile time).
pub const POSTGRES_MIGRATIONS: &[&str] = &[
    // 1: runs, attempts, the audit log, webhook deliveries, gates, notifications, dead letters.
    r#"
    CREATE TABLE runs (
        id TEXT COLLATE "C" PRIMARY KEY,
        tenant TEXT COLLATE "C" NOT NULL,
        repository TEXT COLLATE "C" NOT NULL,
        branch TEXT COLLATE "C" NOT NULL,
        commit_sha TEXT NOT NULL,
        event TEXT COLLATE "C" NOT NULL,
        status TEXT COLLATE "C" NOT NULL,
        created_ms BIGINT NOT NULL,
        finished_ms BIGINT,
        state_json TEXT NOT NULL
    );
    CREATE INDEX runs_by_repo_branch ON runs (repository, branch, created_ms);
    CREATE INDEX runs_by_status ON runs (status);
    CREATE INDEX runs_by_created ON runs (created_ms);

    CREATE TABLE attempts (
        run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id),
        stage TEXT COLLATE "C" NOT NULL,
        attempt BIGINT NOT NULL,
        dispatched_ms BIGINT NOT NULL,
        deadline_ms BIGINT NOT NULL,
        settled_ms BIGINT,
        agent_id TEXT COLLATE "C",
        plugin_name TEXT COLLATE "C",
        plugin_version TEXT COLLATE "C",
        plugin_digest TEXT COLLATE "C",
        outcome TEXT COLLATE "C",
        failure_kind TEXT COLLATE "C",
        failure_message TEXT,
        duration_ms BIGINT,
        report_json TEXT,
        logs_json TEXT,
        PRIMARY KEY (run_id, stage, attempt)
    );

    CREATE TABLE events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id TEXT COLLATE "C" NOT NULL,
        at_ms BIGINT NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        stage TEXT COLLATE "C",
        attempt BIGINT,
        message TEXT NOT NULL,
        data_json TEXT
    );
    CREATE INDEX events_by_run ON events (run_id, seq);

    CREATE TABLE deliveries (
        delivery_id TEXT COLLATE "C" PRIMARY KEY,
        tenant TEXT COLLATE "C" NOT NULL,
        event TEXT NOT NULL,
        received_ms BIGINT NOT NULL,
        run_id TEXT,
        outcome TEXT NOT NULL
    );

    CREATE TABLE gates (
        request_id TEXT COLLATE "C" PRIMARY KEY,
        run_id TEXT COLLATE "C" NOT NULL,
        stage TEXT COLLATE "C" NOT NULL,
        phase TEXT COLLATE "C" NOT NULL,
        requested_ms BIGINT NOT NULL,
        answered_ms BIGINT,
        verdicts_json TEXT
    );
    CREATE INDEX gates_by_run ON gates (run_id);

    CREATE TABLE notifications (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id TEXT COLLATE "C" NOT NULL,
        channel TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        detail TEXT NOT NULL,
        at_ms BIGINT NOT NULL
    );
    CREATE INDEX notifications_by_run ON notifications (run_id);

    CREATE TABLE dead_letters (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        topic TEXT NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        reason TEXT NOT NULL,
        deliveries BIGINT NOT NULL,
        payload TEXT NOT NULL,
        at_ms BIGINT NOT NULL
    );
    "#,
    // 2: the agents' announced inventories (stages and loaded plugins), one row per agent.
    r#"
    CREATE TABLE agents (
        agent_id TEXT COLLATE "C" PRIMARY KEY,
        stages_json TEXT NOT NULL,
        plugins_json TEXT NOT NULL,
        first_seen_ms BIGINT NOT NULL,
        last_seen_ms BIGINT NOT NULL
    );
    CREATE INDEX attempts_by_dispatched ON attempts (dispatched_ms);
    "#,
    // 3: deliveries are deduplicated per tenant: the unique key is (tenant, delivery id),
    // so concurrent inserts of one delivery leave exactly one row.
    r#"
    ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey;
    ALTER TABLE deliveries ADD PRIMARY KEY (tenant, delivery_id);
    "#,
    // 4: where each schedule stands.
    r#"
    CREATE TABLE IF NOT EXISTS schedule_marks (
        key TEXT COLLATE "C" PRIMARY KEY,
        tenant TEXT COLLATE "C" NOT NULL,
        repository TEXT COLLATE "C" NOT NULL,
        branch TEXT COLLATE "C" NOT NULL,
        last_slot_ms BIGINT NOT NULL,
        run_id TEXT,
        updated_ms BIGINT NOT NULL
    );
    "#,
    // 5: a re-run's reused attempts name the run that ran them.
    r#"
    ALTER TABLE attempts ADD COLUMN reused_from TEXT COLLATE "C";
    "#,
    // 6: the files command steps keep, and the key that signs artifact tokens (32 bytes
    // from the server's strong random source, through gen_random_uuid).
    r#"
    CREATE TABLE IF NOT EXISTS artifacts (
        run_id TEXT COLLATE "C" NOT NULL,
        stage TEXT COLLATE "C" NOT NULL,
        attempt BIGINT NOT NULL,
        path TEXT COLLATE "C" NOT NULL,
        size BIGINT NOT NULL,
        digest TEXT COLLATE "C" NOT NULL,
        kept_ms BIGINT NOT NULL,
        PRIMARY KEY (run_id, stage, attempt, path)
    );
    CREATE TABLE IF NOT EXISTS artifact_key (
        id BIGINT PRIMARY KEY CHECK (id = 1),
        key BYTEA NOT NULL
    );
    INSERT INTO artifact_key (id, key)
        VALUES (1, sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')))
        ON CONFLICT DO NOTHING;
    "#,
    // 7: what Bosun made on GitHub and edits later (ids past 2^31: BIGINT).
    r#"
    CREATE TABLE IF NOT EXISTS github_objects (
        kind TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        object_id BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    "#,
    // 8: the live log of running attempts, as agents stream it.
    r#"
    CREATE TABLE IF NOT EXISTS live_log_chunks (
        run_id TEXT COLLATE "C" NOT NULL,
        stage TEXT COLLATE "C" NOT NULL,
        attempt BIGINT NOT NULL,
        first_line BIGINT NOT NULL,
        end_line BIGINT NOT NULL,
        bytes BIGINT NOT NULL,
        agent_id TEXT COLLATE "C" NOT NULL,
        lines_json TEXT NOT NULL,
        received_ms BIGINT NOT NULL,
        PRIMARY KEY (run_id, stage, attempt, first_line)
    );
    "#,
    // 9: retention's lookups (a tenant's oldest runs, a digest still kept elsewhere).
    r#"
    CREATE INDEX IF NOT EXISTS runs_by_tenant_created ON runs (lower(tenant), created_ms);
    CREATE INDEX IF NOT EXISTS artifacts_by_digest ON artifacts (digest);
    "#,
    // 10: each run's owner and fencing token (`leases.rs`).
    r#"
    CREATE TABLE IF NOT EXISTS run_leases (
        run_id TEXT COLLATE "C" PRIMARY KEY,
        owner TEXT COLLATE "C",
        token BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS run_leases_by_expiry ON run_leases (expires_ms);
    "#,
    // 11: leases per repository, and each owner's inbox (`inbox.rs`).
    r#"
    DROP TABLE IF EXISTS run_leases;
    CREATE TABLE run_leases (
        lease_key TEXT COLLATE "C" PRIMARY KEY,
        owner TEXT COLLATE "C",
        token BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS run_leases_by_expiry ON run_leases (expires_ms);
    CREATE TABLE IF NOT EXISTS owner_inbox (
        id BIGSERIAL PRIMARY KEY,
        lease_key TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        payload TEXT NOT NULL,
        sender TEXT COLLATE "C" NOT NULL,
        created_ms BIGINT NOT NULL,
        answer TEXT,
        answered_ms BIGINT
    );
    CREATE INDEX IF NOT EXISTS owner_inbox_by_key ON owner_inbox (lease_key, id);
    "#,
    // 12: what every orchestrator reads and exactly one acts on (a notifier's answer,
    // a dead letter): the first to insert the claim's key does (`claims.rs`).
    r#"
    CREATE TABLE IF NOT EXISTS claims (
        claim_key TEXT COLLATE "C" PRIMARY KEY,
        owner TEXT COLLATE "C" NOT NULL,
        at_ms BIGINT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS claims_by_time ON claims (at_ms);
    "#,
];

const _: () = assert!(
    POSTGRES_MIGRATIONS.len() == super::migrations::MIGRATIONS.len(),
    "every SQLite migration needs its PostgreSQL form in migrations_pg.rs"
);
