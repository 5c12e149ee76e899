-- mortar serve: a test may make a run that regressed against its baseline end "failed"
-- (issue 18, docs/adr/0029-baseline-verdict.md, docs/analysis.md).
ALTER TABLE tests ADD COLUMN fail_on_regression INTEGER NOT NULL DEFAULT 0;
