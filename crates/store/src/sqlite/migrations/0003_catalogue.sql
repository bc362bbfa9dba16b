-- The tool catalogue and its pins: one row per (server, tool). Definitions are canonical JSON (keys
-- sorted, no whitespace) with their SHA-256. `seq` is the pins change sequence number, given anew
-- (MAX + 1, under the write lock) to every row whose pin or pin state a write changes, so that other
-- processes can poll MAX(seq) for approvals.

CREATE TABLE catalogue (
    server              TEXT NOT NULL,
    tool                TEXT NOT NULL,
    seq                 INTEGER NOT NULL,
    state               TEXT NOT NULL,
    pinned_digest       TEXT,
    pinned_definition   TEXT,
    current_digest      TEXT NOT NULL,
    current_definition  TEXT NOT NULL,
    category            TEXT NOT NULL,
    severity            TEXT NOT NULL,
    classification      TEXT NOT NULL,
    first_seen_ms       INTEGER NOT NULL,
    last_seen_ms        INTEGER NOT NULL,
    approved_by         TEXT,
    approved_at_ms      INTEGER,
    PRIMARY KEY (server, tool)
);
CREATE INDEX catalogue_seq ON catalogue (seq);
CREATE INDEX catalogue_state ON catalogue (state);
