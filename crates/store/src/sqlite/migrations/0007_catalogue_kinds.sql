-- Pins of more than tools, and pins of a format: a row is a tool (`kind` 'tool', named by the tool)
-- or a server's instructions (`kind` 'instructions', named ''), so the key becomes
-- (server, kind, tool) and tool-only columns (category, severity, classification) may be NULL.
-- `pinned_format` and `current_format` say which members a digest covers: rows written before
-- this migration are format 1 (name, description, inputSchema, annotations); a format 1 pin is
-- taken again in the current format the first time its definition is seen unchanged.

CREATE TABLE catalogue_by_kind (
    server              TEXT NOT NULL,
    kind                TEXT NOT NULL,
    tool                TEXT NOT NULL,
    seq                 INTEGER NOT NULL,
    state               TEXT NOT NULL,
    pinned_digest       TEXT,
    pinned_definition   TEXT,
    pinned_format       INTEGER,
    current_digest      TEXT NOT NULL,
    current_definition  TEXT NOT NULL,
    current_format      INTEGER NOT NULL,
    category            TEXT,
    severity            TEXT,
    classification      TEXT,
    first_seen_ms       INTEGER NOT NULL,
    last_seen_ms        INTEGER NOT NULL,
    approved_by         TEXT,
    approved_at_ms      INTEGER,
    PRIMARY KEY (server, kind, tool)
);
INSERT INTO catalogue_by_kind (server, kind, tool, seq, state, pinned_digest, pinned_definition,
    pinned_format, current_digest, current_definition, current_format, category, severity,
    classification, first_seen_ms, last_seen_ms, approved_by, approved_at_ms)
SELECT server, 'tool', tool, seq, state, pinned_digest, pinned_definition,
    CASE WHEN pinned_digest IS NULL THEN NULL ELSE 1 END, current_digest, current_definition, 1,
    category, severity, classification, first_seen_ms, last_seen_ms, approved_by, approved_at_ms
FROM catalogue;
DROP TABLE catalogue;
ALTER TABLE catalogue_by_kind RENAME TO catalogue;
CREATE INDEX catalogue_seq ON catalogue (seq);
CREATE INDEX catalogue_state ON catalogue (state);
