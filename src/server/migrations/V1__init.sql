-- mortar serve: initial schema (docs/adr/0011-control-plane.md). Applied once, in a
-- transaction, recorded in schema_history with its checksum; never edit it once released:
-- add V2__... instead.

CREATE TABLE tests (
    id              TEXT PRIMARY KEY,          -- UUIDv7
    name            TEXT NOT NULL UNIQUE,
    description     TEXT NOT NULL DEFAULT '',
    version         INTEGER NOT NULL,
    config_json     TEXT NOT NULL,
    tolerances_json TEXT NOT NULL,
    baseline_run_id TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted         INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE test_versions (
    test_id         TEXT NOT NULL REFERENCES tests(id) ON DELETE CASCADE,
    version         INTEGER NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    config_json     TEXT NOT NULL,
    tolerances_json TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (test_id, version)
);

CREATE TABLE schedules (
    id           TEXT PRIMARY KEY,
    test_id      TEXT NOT NULL REFERENCES tests(id) ON DELETE CASCADE,
    cron         TEXT NOT NULL,
    policy       TEXT NOT NULL CHECK (policy IN ('skip', 'queue')),
    enabled      INTEGER NOT NULL,
    next_fire_at INTEGER NOT NULL DEFAULT 0,   -- Unix s, 0 = not computed yet
    last_fire_at INTEGER,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,            -- UUIDv7: time-ordered, the list order
    test_id       TEXT,                        -- no FK: runs outlive their test
    test_version  INTEGER,
    schedule_id   TEXT,
    state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'passed', 'failed',
                                                 'stopped', 'interrupted', 'error')),
    reason        TEXT,
    config_json   TEXT NOT NULL,
    labels_json   TEXT NOT NULL DEFAULT '{}',
    agent         TEXT,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    ended_at      TEXT,
    seconds       INTEGER NOT NULL DEFAULT 0,
    summary_json  TEXT,
    verdicts_json TEXT
);
CREATE INDEX runs_state ON runs (state, id);
CREATE INDEX runs_test ON runs (test_id, id);
CREATE INDEX runs_schedule ON runs (schedule_id, state);

CREATE TABLE run_seconds (
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    second      INTEGER NOT NULL,
    tag         TEXT NOT NULL,                 -- '' = all requests of the second
    data_json   TEXT NOT NULL,
    latency_b64 TEXT NOT NULL,
    service_b64 TEXT NOT NULL,
    PRIMARY KEY (run_id, second, tag)
) WITHOUT ROWID;

CREATE TABLE agents (
    name           TEXT PRIMARY KEY,
    labels_json    TEXT NOT NULL DEFAULT '{}',
    capacity       INTEGER NOT NULL DEFAULT 1,
    active_runs    INTEGER NOT NULL DEFAULT 0,
    last_heartbeat INTEGER NOT NULL             -- Unix ms
);

CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events_json TEXT NOT NULL,                 -- ["run.finished", ...] or ["*"]
    created_at  TEXT NOT NULL
);

-- The transactional outbox: every state change writes its event in the same transaction.
CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body_json  TEXT NOT NULL                   -- {"id","type","created_at","data"}
);

-- One per (event, matching webhook), created in the event's transaction.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL REFERENCES events(id),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,          -- Unix s
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'runner', 'admin')),
    hash       TEXT NOT NULL UNIQUE,           -- hex SHA-256 of the secret
    created_at TEXT NOT NULL
);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,                -- the token id
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,                -- hex SHA-256 of method, path and body
    status       INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,             -- Unix s; kept 24 h
    PRIMARY KEY (scope, key)
);
