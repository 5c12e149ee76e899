-- mortar serve: who created a run (docs/api.md, Run.created_by): the API caller's token
-- ({"token_id","token_name","role"}, the name as it was then) or the schedule that fired it
-- ({"schedule_id"}); NULL for runs stored before this migration. The PostgreSQL twin is
-- postgresql/V4.
ALTER TABLE runs ADD COLUMN created_by_json TEXT;
