-- 0001: runs, their append-only event log, shared blobs, runtime flags.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    tenant TEXT,
    parent_run_id TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    lease_owner TEXT,
    lease_expires_at REAL
);
CREATE INDEX runs_by_status ON runs (status, lease_expires_at);
CREATE INDEX runs_by_created ON runs (created_at);

-- Keyed by the integer run id: the text id is stored once, in runs.
-- WITHOUT ROWID: the primary key is the table, no second index to maintain.
CREATE TABLE events (
    run INTEGER NOT NULL REFERENCES runs (id),
    seq INTEGER NOT NULL,
    step INTEGER NOT NULL,
    ts REAL NOT NULL,
    type TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (run, seq)
) WITHOUT ROWID;

CREATE TABLE blobs (
    key TEXT PRIMARY KEY,
    data BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE flags (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
