-- Grants, the two hash-chained audit streams, their heads and retention checkpoints, kill switches.
-- Times are ms since the Unix epoch; lists and maps are JSON text.

CREATE TABLE grants (
    label          TEXT PRIMARY KEY NOT NULL,
    agent          TEXT NOT NULL,
    token_sha256   TEXT NOT NULL UNIQUE,
    servers        TEXT NOT NULL,
    policies       TEXT NOT NULL,
    tags           TEXT NOT NULL,
    expires_at_ms  INTEGER,
    created_at_ms  INTEGER NOT NULL,
    rotated_at_ms  INTEGER,
    revoked_at_ms  INTEGER
);

CREATE TABLE audit_records (
    seq                  INTEGER PRIMARY KEY NOT NULL,
    time_ms              INTEGER NOT NULL,
    request_id           TEXT NOT NULL,
    session              TEXT,
    agent                TEXT NOT NULL,
    grant_label          TEXT,
    server               TEXT NOT NULL,
    method               TEXT NOT NULL,
    tool                 TEXT,
    decision             TEXT NOT NULL,
    rule                 TEXT,
    message              TEXT,
    policy_version       TEXT,
    arg_keys             TEXT NOT NULL,
    args                 TEXT,
    upstream_status      TEXT,
    gateway_latency_us   INTEGER NOT NULL,
    upstream_latency_us  INTEGER,
    prev_hash            TEXT NOT NULL,
    hash                 TEXT NOT NULL
);
CREATE INDEX audit_records_time ON audit_records (time_ms);
CREATE INDEX audit_records_agent ON audit_records (agent, seq);
CREATE INDEX audit_records_server_tool ON audit_records (server, tool, seq);

CREATE TABLE admin_events (
    seq        INTEGER PRIMARY KEY NOT NULL,
    time_ms    INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX admin_events_time ON admin_events (time_ms);

-- The last record appended to each stream (to append without scanning, and to detect a cut tail).
CREATE TABLE audit_heads (
    stream  TEXT PRIMARY KEY NOT NULL,
    seq     INTEGER NOT NULL,
    hash    TEXT NOT NULL
);

-- The last record retention deleted from each stream: where verification starts.
CREATE TABLE audit_checkpoints (
    stream  TEXT PRIMARY KEY NOT NULL,
    seq     INTEGER NOT NULL,
    hash    TEXT NOT NULL
);

CREATE TABLE kill_switches (
    scope          TEXT NOT NULL,
    target         TEXT NOT NULL,
    reason         TEXT,
    engaged_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (scope, target)
);
