-- What of a concert's waiting room must survive a loss of Redis's data
-- (API.md, "Redis is not the only copy"). The gateway writes both tables;
-- Redis keeps the working copy and is rebuilt from them after a loss.

-- A concert that has a queue, and the operator's settings of that queue
-- (PATCH /v1/admin/concerts/{id}/queue writes here before Redis). NULL
-- numbers mean "the configured default" (QUEUE_ADMIT_PER_TICK,
-- QUEUE_MAX_ACTIVE). `created_ms` (Unix ms, the gateway's clock) is when
-- the queue was first built: a queue rebuilt soon after that is being built
-- for the first time by several gateways at once, not recovering a loss.
CREATE TABLE queue_settings (
    concert_id BIGINT PRIMARY KEY REFERENCES concerts (concert_id),
    created_ms BIGINT NOT NULL,
    paused BOOLEAN NOT NULL DEFAULT false,
    admit_per_tick INTEGER CHECK (admit_per_tick BETWEEN 0 AND 100000),
    max_active INTEGER CHECK (max_active BETWEEN 0 AND 10000000),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Active sessions: one row per admission, written by the ticker that
-- admitted the user. `ended_ms` is set when the session is given up before
-- its end (the user left, or paid: booking sets it in the payment's
-- transaction), so a session lost with Redis is restored only when it was
-- neither. Times are Unix milliseconds, the unit of the active set's scores.
CREATE TABLE queue_sessions (
    ticket_id UUID PRIMARY KEY,
    concert_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    ends_ms BIGINT NOT NULL,
    ended_ms BIGINT
);

CREATE INDEX queue_sessions_live_idx ON queue_sessions (concert_id, ends_ms)
    WHERE ended_ms IS NULL;
CREATE INDEX queue_sessions_user_idx ON queue_sessions (concert_id, user_id)
    WHERE ended_ms IS NULL;
CREATE INDEX queue_sessions_ends_idx ON queue_sessions (ends_ms);
