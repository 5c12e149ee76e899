-- mortar serve: change points across a test's history (issue 18, docs/adr/0030-change-points.md).
-- config_version counts changes of a test's config only (version counts every edit, a new
-- description too), so a run's config_version says which load it ran: a change of the test is
-- not a change of the service. Rows from before this migration take version as config_version
-- (every edit counted as a config change: the conservative reading).
ALTER TABLE tests ADD COLUMN config_version INTEGER NOT NULL DEFAULT 1;
UPDATE tests SET config_version = version;
ALTER TABLE runs ADD COLUMN config_version INTEGER;
UPDATE runs SET config_version = test_version;
-- the change points already announced by test.changed: {"p99": [run ids], ...}; null until the
-- first detection after a run ends (which records what it finds without announcing it)
ALTER TABLE tests ADD COLUMN changes_json TEXT;
