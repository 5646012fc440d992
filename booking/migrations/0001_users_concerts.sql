-- Users, concerts and their dates. The gateway reads users and concerts
-- (read-only, cached) to check joins; booking owns and extends the schema.

CREATE TABLE users (
    user_id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE concerts (
    concert_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title      TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    venue      TEXT NOT NULL CHECK (length(venue) BETWEEN 1 AND 200),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE schedules (
    schedule_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    concert_id  BIGINT NOT NULL REFERENCES concerts (concert_id),
    starts_at   TIMESTAMPTZ NOT NULL,
    price       BIGINT NOT NULL CHECK (price BETWEEN 0 AND 10000000),
    total_seats INTEGER NOT NULL DEFAULT 50 CHECK (total_seats BETWEEN 1 AND 1000)
);

-- "Upcoming dates of a concert" is a hot read (every admitted user lists them).
CREATE INDEX schedules_concert_starts_idx ON schedules (concert_id, starts_at);
