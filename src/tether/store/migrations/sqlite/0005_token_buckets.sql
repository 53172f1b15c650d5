-- 0005: token buckets shared by every process on the store (fleet-wide rate limits,
-- tether/store/_buckets.py). ``level`` is the tokens in the bucket at time ``at`` (epoch
-- seconds), below zero when in debt; ``rate`` (tokens a second), ``capacity`` and
-- ``last_amount`` are the last take's, kept for people to read.
CREATE TABLE token_buckets (
    key TEXT PRIMARY KEY,
    level REAL NOT NULL,
    at REAL NOT NULL,
    rate REAL NOT NULL,
    capacity REAL NOT NULL,
    last_amount REAL NOT NULL
) WITHOUT ROWID;
