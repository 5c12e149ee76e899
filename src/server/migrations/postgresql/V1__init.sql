-- mortar serve on PostgreSQL (issue 12, docs/adr/0033-postgresql-store.md): the schema of the
-- SQLite migrations V1-V6 in one, in PostgreSQL's dialect. Applied once, in a transaction,
-- under an advisory lock, recorded in schema_history with its checksum; never edit it once
-- released: add V2__... instead (numbers: V2 imports, V3 several servers, V4 trace).
--
-- Ids are UUIDv7 text in the "C" collation, so they sort by bytes (= by time) whatever the
-- database's locale, and the list cursors ('~' sorts after every id) behave as on SQLite.
-- Times the API shows are RFC 3339 text, as on SQLite; the JSON documents are text (the
-- server parses them, the database never needs to).

CREATE TABLE tests (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    description        TEXT NOT NULL DEFAULT '',
    version            INTEGER NOT NULL,
    config_version     INTEGER NOT NULL DEFAULT 1,
    config_json        TEXT NOT NULL,
    tolerances_json    TEXT NOT NULL,
    baseline_run_id    TEXT COLLATE "C",
    fail_on_regression INTEGER NOT NULL DEFAULT 0,
    changes_json       TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    deleted            INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE test_versions (
    test_id         TEXT COLLATE "C" NOT NULL REFERENCES tests(id) ON DELETE CASCADE,
    version         INTEGER NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    config_json     TEXT NOT NULL,
    tolerances_json TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (test_id, version)
);

CREATE TABLE schedules (
    id           TEXT COLLATE "C" PRIMARY KEY,
    test_id      TEXT COLLATE "C" NOT NULL REFERENCES tests(id) ON DELETE CASCADE,
    cron         TEXT NOT NULL,
    policy       TEXT NOT NULL CHECK (policy IN ('skip', 'queue')),
    enabled      INTEGER NOT NULL,
    next_fire_at BIGINT NOT NULL DEFAULT 0,    -- Unix s, 0 = not computed yet
    last_fire_at BIGINT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE runs (
    id             TEXT COLLATE "C" PRIMARY KEY,  -- UUIDv7: time-ordered, the list order
    test_id        TEXT COLLATE "C",              -- no FK: runs outlive their test
    test_version   INTEGER,
    config_version INTEGER,
    schedule_id    TEXT COLLATE "C",
    state          TEXT NOT NULL CHECK (state IN ('queued', 'running', 'passed', 'failed',
                                                  'stopped', 'interrupted', 'error')),
    reason         TEXT,
    config_json    TEXT NOT NULL,
    labels_json    TEXT NOT NULL DEFAULT '{}',
    agent          TEXT,
    created_at     TEXT NOT NULL,
    started_at     TEXT,
    ended_at       TEXT,
    seconds        INTEGER NOT NULL DEFAULT 0,
    lost_seconds   INTEGER NOT NULL DEFAULT 0,
    loss_reason    TEXT,
    summary_json   TEXT,
    verdicts_json  TEXT
);
CREATE INDEX runs_state ON runs (state, id);
CREATE INDEX runs_test ON runs (test_id, id);
CREATE INDEX runs_schedule ON runs (schedule_id, state);

-- The per-second rows, partitioned by range of the run id (UUIDv7: by time), one partition a
-- month (run_seconds_yYYYYmMM), created on demand by the server; `mortar db prune` detaches
-- and drops whole partitions. Histograms are the encoded bytes (bytea), not base64.
CREATE TABLE run_seconds (
    run_id    TEXT COLLATE "C" NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    second    INTEGER NOT NULL,
    tag       TEXT NOT NULL,                  -- '' = all requests of the second
    data_json TEXT NOT NULL,
    latency   BYTEA NOT NULL,
    service   BYTEA NOT NULL,
    PRIMARY KEY (run_id, second, tag)
) PARTITION BY RANGE (run_id);

CREATE TABLE agents (
    name           TEXT PRIMARY KEY,
    labels_json    TEXT NOT NULL DEFAULT '{}',
    capacity       INTEGER NOT NULL DEFAULT 1,
    active_runs    INTEGER NOT NULL DEFAULT 0,
    last_heartbeat BIGINT NOT NULL,           -- Unix ms
    version        TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL DEFAULT 'up'
);

CREATE TABLE run_agents (
    run_id          TEXT COLLATE "C" NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    idx             INTEGER NOT NULL,
    share_json      TEXT,
    state           TEXT NOT NULL CHECK (state IN ('preparing', 'ready', 'running', 'ended',
                                                   'lost', 'refused')),
    reason          TEXT,
    clock_offset_us BIGINT,
    start_skew_us   BIGINT,
    last_second     BIGINT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE INDEX run_agents_agent ON run_agents (name, state);

CREATE TABLE webhooks (
    id          TEXT COLLATE "C" PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events_json TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE events (
    id         TEXT COLLATE "C" PRIMARY KEY,
    type       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body_json  TEXT NOT NULL
);

-- One per (event, matching webhook). A relay claims due rows with FOR UPDATE SKIP LOCKED and
-- sets lease_until (Unix s) in a short transaction, then calls the webhook holding no lock;
-- another relay takes the row over only once the lease ran out (a relay that died).
CREATE TABLE deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    webhook_id      TEXT COLLATE "C" NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        TEXT COLLATE "C" NOT NULL REFERENCES events(id),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);

CREATE TABLE tokens (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'runner', 'admin')),
    hash       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
