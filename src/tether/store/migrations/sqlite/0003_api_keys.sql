-- 0003: API keys (stored hashed) and idempotency keys for the HTTP API; runs by tenant.
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    tenant TEXT NOT NULL,
    scopes TEXT NOT NULL,
    label TEXT,
    created_at REAL NOT NULL,
    revoked_at REAL
) WITHOUT ROWID;

-- One row per (tenant, key): the primary key makes two concurrent POSTs with one key
-- race on an INSERT that only one of them wins, so only one run is ever started.
CREATE TABLE idempotency_keys (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (tenant, key)
) WITHOUT ROWID;

CREATE INDEX runs_by_tenant ON runs (tenant, created_at);
