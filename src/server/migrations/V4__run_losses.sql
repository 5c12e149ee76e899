-- mortar serve: seconds a run lost to a failing store (issue 14, docs/adr/0028-store-failures.md).
-- A merged second that could not be stored after its retries is counted here with the reason
-- ("disk full", "database corrupt", "read-only", ...); such a run never ends `passed`.
ALTER TABLE runs ADD COLUMN lost_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN loss_reason TEXT;
