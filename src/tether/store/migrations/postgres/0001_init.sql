-- 0001: the whole schema of the SQLite store at its version 4, in Postgres types.
-- Times are epoch seconds (double precision), as in SQLite: the hash chain frames
-- ts as an IEEE 754 double, which a float8 column keeps bit for bit.
CREATE TABLE runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    tenant TEXT,
    parent_run_id TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    last_seq BIGINT NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    lease_owner TEXT,
    lease_expires_at DOUBLE PRECISION,
    wake_at DOUBLE PRECISION
);
CREATE INDEX runs_by_created ON runs (created_at, run_id);
CREATE INDEX runs_by_tenant ON runs (tenant, created_at);
-- What recovery scans: runs someone must drive, oldest first (claim_orphans).
CREATE INDEX runs_claimable ON runs (updated_at) WHERE status IN ('pending', 'running');
CREATE INDEX runs_by_wake_at ON runs (wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX runs_by_lease_owner ON runs (lease_owner) WHERE lease_owner IS NOT NULL;

-- Keyed by the integer run id: the text id is stored once, in runs. ``hash`` is the
-- event's link in its run's hash chain (tether/store/_chain.py), written by the same
-- INSERT as the event.
CREATE TABLE events (
    run BIGINT NOT NULL REFERENCES runs (id),
    seq BIGINT NOT NULL,
    step BIGINT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    type TEXT NOT NULL,
    data BYTEA NOT NULL,
    hash BYTEA,
    PRIMARY KEY (run, seq)
);

CREATE TABLE blobs (
    key TEXT PRIMARY KEY,
    data BYTEA NOT NULL
);

CREATE TABLE flags (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    tenant TEXT NOT NULL,
    scopes TEXT NOT NULL,
    label TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION
);

-- One row per (tenant, key): two concurrent POSTs with one key race on an INSERT that
-- only one of them wins, so only one run is ever started.
CREATE TABLE idempotency_keys (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- When this store began chaining: every run here is chained from its first event.
CREATE TABLE event_chain (since DOUBLE PRECISION NOT NULL);
INSERT INTO event_chain (since) VALUES (extract(epoch FROM clock_timestamp())::float8);
