-- 0006: when a retry took over an idempotency key whose first request never created its
-- run (its start and the key's release both failed, say in a storage fault). A key taken
-- over is never released: the taker starts the very run the key names, so the first
-- request, if it still creates that run, meets the taker's on the primary key.
ALTER TABLE idempotency_keys ADD COLUMN taken_over_at REAL;
