-- Logged-out sessions (API.md, DELETE /v1/sessions/current). Redis holds
-- them for the per-request check; this table is the copy that survives a
-- loss of Redis's data, from which both services reload Redis. Rows are
-- useless once the token has expired and are pruned then.
CREATE TABLE revoked_sessions (
    session_id TEXT PRIMARY KEY CHECK (length(session_id) BETWEEN 1 AND 255),
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX revoked_sessions_expires_idx ON revoked_sessions (expires_at);
