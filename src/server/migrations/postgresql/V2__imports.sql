-- mortar serve on PostgreSQL: imported runs, the twin of SQLite's V7__imports.sql (issue 16,
-- docs/adr/0035-imports.md). {"tool", "file", "records", "malformed", "late", ...}; null for a
-- run mortar's own agents ran.
ALTER TABLE runs ADD COLUMN source_json TEXT;
