-- mortar serve: settings shared by every server of one store (issue 14, ADR 0026). One row
-- per setting; "policy" holds the target policy as canonical JSON (docs/security.md).

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    version    INTEGER NOT NULL,   -- 1, 2, ...: readers reload when it changes
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
