-- mortar serve: several servers on one store (issue 12, docs/adr/0034-several-servers.md).
-- Each running run's aggregation is owned by one server through a lease: the owner renews
-- expires_at every second; when it stops doing so (the server died) another server takes the
-- run over (generation counts the takeovers). SQLite admits one server per data directory, so
-- here the table only records who runs what; the PostgreSQL twin is postgresql/V3.
CREATE TABLE run_leases (
    run_id     TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,      -- server id: --server-id, or hostname-pid
    expires_at INTEGER NOT NULL,   -- Unix ms on the store's clock
    taken_at   INTEGER NOT NULL,   -- Unix ms
    generation INTEGER NOT NULL DEFAULT 1
);
