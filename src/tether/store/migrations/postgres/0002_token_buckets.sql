-- 0002: token buckets shared by every worker on the store (fleet-wide rate limits,
-- tether/store/_buckets.py). ``level`` is the tokens in the bucket at time ``at`` (epoch
-- seconds, the database's clock), below zero when in debt; ``rate`` (tokens a second),
-- ``capacity`` and ``last_amount`` are the last take's: the single-statement take
-- passes them to ON CONFLICT DO UPDATE through the proposed row.
CREATE TABLE token_buckets (
    key TEXT PRIMARY KEY,
    level DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    rate DOUBLE PRECISION NOT NULL,
    capacity DOUBLE PRECISION NOT NULL,
    last_amount DOUBLE PRECISION NOT NULL
);
