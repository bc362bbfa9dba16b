-- Approvals: tool calls held for a human's decision. `seq` is the change sequence number, given anew
-- (MAX + 1, under the write lock) on every change, so that other processes can poll for decisions.

CREATE TABLE approvals (
    id              TEXT PRIMARY KEY NOT NULL,
    seq             INTEGER NOT NULL UNIQUE,
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    mode            TEXT NOT NULL,
    status          TEXT NOT NULL,
    grant_label     TEXT,
    agent           TEXT NOT NULL,
    server          TEXT NOT NULL,
    tool            TEXT NOT NULL,
    args_digest     TEXT NOT NULL,
    policy_version  TEXT NOT NULL,
    rule            TEXT NOT NULL,
    arguments       TEXT,
    decided_by      TEXT,
    note            TEXT,
    decided_at_ms   INTEGER,
    used_at_ms      INTEGER
);
CREATE INDEX approvals_status_expiry ON approvals (status, expires_at_ms);
CREATE INDEX approvals_call ON approvals (server, tool, args_digest, agent);
CREATE INDEX approvals_created ON approvals (created_at_ms, id);
