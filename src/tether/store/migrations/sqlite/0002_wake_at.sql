-- 0002: timers for parked runs (approval expiry): when a runtime must look again.
ALTER TABLE runs ADD COLUMN wake_at REAL;
CREATE INDEX runs_by_wake_at ON runs (wake_at) WHERE wake_at IS NOT NULL;
