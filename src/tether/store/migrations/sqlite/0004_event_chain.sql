-- 0004: the hash chain over each run's events (see tether/store/_chain.py).
-- Written by the same INSERT as the event: the chain costs no extra write.
-- Rows written before this migration keep a NULL hash: "not chained before seq N".
ALTER TABLE events ADD COLUMN hash BLOB;

-- When this store began chaining: runs created before it may start with unchained rows,
-- runs created after it may not (a row stripped of its hash is then tampering).
CREATE TABLE event_chain (since REAL NOT NULL);
INSERT INTO event_chain (since) VALUES ((julianday('now') - 2440587.5) * 86400.0);
