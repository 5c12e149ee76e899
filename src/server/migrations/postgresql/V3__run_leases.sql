-- mortar serve: several servers on one database (issue 12, docs/adr/0034-several-servers.md);
-- the twin of SQLite V8. Each running run's aggregation is owned by one server through a lease
-- renewed every second; expires_at is on the database's clock (Unix ms), so the servers'
-- clocks need not agree. A lapsed lease is taken over with one conditional upsert.
CREATE TABLE run_leases (
    run_id     TEXT COLLATE "C" PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    taken_at   BIGINT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 1
);
