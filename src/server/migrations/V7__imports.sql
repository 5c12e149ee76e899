-- mortar serve: imported runs (issue 16, docs/adr/0035-imports.md, docs/import.md). A run made
-- from another tool's results (phout, JMeter JTL, k6 JSON) says where it came from:
-- {"tool": "phout", "file": "phout.log", "records": N, "malformed": N, "late": N, ...};
-- null for a run mortar's own agents ran.
ALTER TABLE runs ADD COLUMN source_json TEXT;
