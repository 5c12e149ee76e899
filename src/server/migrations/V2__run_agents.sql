-- mortar serve: runs shared by several agents (issue 11, docs/adr/0024-placement.md).
-- One row per (run, agent): the part the agent runs and how its start and seconds went.

CREATE TABLE run_agents (
    run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,             -- the agent
    idx             INTEGER NOT NULL,          -- its part: 0 .. agents - 1
    share_json      TEXT,                      -- the part (split.h's JSON), null until known
    state           TEXT NOT NULL CHECK (state IN ('preparing', 'ready', 'running', 'ended',
                                                   'lost', 'refused')),
    reason          TEXT,                      -- why refused / lost / ended early
    clock_offset_us INTEGER,                   -- agent clock - control plane clock
    start_skew_us   INTEGER,                   -- actual start - the commit's instant T
    last_second     INTEGER,                   -- the last second received from it
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE INDEX run_agents_agent ON run_agents (name, state);

ALTER TABLE agents ADD COLUMN version TEXT NOT NULL DEFAULT '';
-- what the agent says of itself: 'up' (takes work), 'draining' (finishes its runs, takes no
-- new ones), 'stopped' (said goodbye); the API shows 'down' when heartbeats stopped
ALTER TABLE agents ADD COLUMN state TEXT NOT NULL DEFAULT 'up';
