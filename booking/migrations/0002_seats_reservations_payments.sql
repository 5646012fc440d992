-- Seats, holds, money and idempotency.
--
-- Postgres is the truth; Redis only gates. Every invariant of the contract is
-- held by a constraint here, so that no code path (a lost Redis lock, two
-- replicas, a retried request) can break it:
--
--   * a seat is held or sold at most once      -> reservations_live_seat_uidx
--   * a reservation is paid at most once       -> payments.reservation_id UNIQUE
--   * a balance never goes negative            -> balances CHECK (balance >= 0)
--   * every balance change is in the ledger    -> written in the same transaction
--                                                  (balance_ledger.balance_after)

-- Every seat of a schedule, with its own price (defaults to the schedule's).
-- Rows are created with the schedule and never change state: who holds or
-- bought a seat lives in `reservations`, the single source of truth.
CREATE TABLE seats (
    schedule_id BIGINT  NOT NULL REFERENCES schedules (schedule_id),
    seat_number INTEGER NOT NULL CHECK (seat_number >= 1),
    price       BIGINT  NOT NULL CHECK (price BETWEEN 0 AND 10000000),
    PRIMARY KEY (schedule_id, seat_number)
);

-- A hold (`held`, until `expires_at`) that becomes `confirmed` when paid,
-- `cancelled` when released, or `expired` once its time has run out (set
-- lazily by the next taker of the seat, or by the sweeper). A `held` row whose
-- `expires_at` has passed is treated as expired by every reader.
CREATE TABLE reservations (
    reservation_id UUID        PRIMARY KEY,
    user_id        BIGINT      NOT NULL REFERENCES users (user_id),
    schedule_id    BIGINT      NOT NULL,
    seat_number    INTEGER     NOT NULL,
    -- Copied from the seat when the hold is taken: the price paid is always
    -- the server's, never the client's.
    price          BIGINT      NOT NULL CHECK (price BETWEEN 0 AND 10000000),
    status         TEXT        NOT NULL
        CHECK (status IN ('held', 'confirmed', 'expired', 'cancelled')),
    expires_at     TIMESTAMPTZ NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (schedule_id, seat_number) REFERENCES seats (schedule_id, seat_number)
);

-- The last line of defence against double booking: at most one live
-- (held or confirmed) reservation per seat. A new hold first moves a timed-out
-- `held` row of the seat to `expired` in the same transaction, then inserts;
-- a concurrent second insert fails on this index (mapped to 409
-- SEAT_UNAVAILABLE). Also serves the seat map and the available-seat counts,
-- which look up live reservations by schedule.
CREATE UNIQUE INDEX reservations_live_seat_uidx
    ON reservations (schedule_id, seat_number)
    WHERE status IN ('held', 'confirmed');

-- The per-user limit counts a user's live reservations for one schedule on
-- every hold.
CREATE INDEX reservations_user_schedule_live_idx
    ON reservations (user_id, schedule_id)
    WHERE status IN ('held', 'confirmed');

-- The sweeper looks for holds whose time has run out, oldest first.
CREATE INDEX reservations_held_expiry_idx
    ON reservations (expires_at)
    WHERE status = 'held';

-- One row per user, created with the user (trigger below), so a debit is a
-- single conditional UPDATE on a row that always exists.
CREATE TABLE balances (
    user_id    BIGINT      PRIMARY KEY REFERENCES users (user_id),
    -- Capped at one trillion KRW so that no charge can overflow BIGINT.
    balance    BIGINT      NOT NULL DEFAULT 0
        CHECK (balance >= 0 AND balance <= 1000000000000),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE FUNCTION create_balance_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO balances (user_id) VALUES (NEW.user_id);
    RETURN NEW;
END
$$;

CREATE TRIGGER users_create_balance
    AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION create_balance_row();

INSERT INTO balances (user_id) SELECT user_id FROM users ON CONFLICT DO NOTHING;

-- A payment: exactly one per reservation.
CREATE TABLE payments (
    payment_id     UUID        PRIMARY KEY,
    reservation_id UUID        NOT NULL UNIQUE REFERENCES reservations (reservation_id),
    user_id        BIGINT      NOT NULL REFERENCES users (user_id),
    amount         BIGINT      NOT NULL CHECK (amount >= 0),
    paid_at        TIMESTAMPTZ NOT NULL
);

-- Every change of a balance, written in the same transaction as the change.
-- `amount` is positive; `kind` gives the direction. The balance of a user
-- always equals the sum of its charges minus the sum of its payments.
CREATE TABLE balance_ledger (
    entry_id      BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       BIGINT      NOT NULL REFERENCES users (user_id),
    kind          TEXT        NOT NULL CHECK (kind IN ('charge', 'payment')),
    amount        BIGINT      NOT NULL CHECK (amount >= 0),
    balance_after BIGINT      NOT NULL CHECK (balance_after >= 0),
    payment_id    UUID        UNIQUE REFERENCES payments (payment_id),
    at            TIMESTAMPTZ NOT NULL,
    CHECK ((kind = 'payment') = (payment_id IS NOT NULL))
);

-- History is read per user, newest first, paged by entry id.
CREATE INDEX balance_ledger_user_entry_idx ON balance_ledger (user_id, entry_id DESC);

-- Idempotency keys of payments and charges, per user. A row is claimed
-- (`response_status` NULL) before the work starts, and its response is stored
-- in the same transaction as the work's effect, so a stored response always
-- means the effect happened, exactly once.
CREATE TABLE idempotency_keys (
    user_id         BIGINT      NOT NULL,
    idem_key        TEXT        NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 255),
    -- SHA-256 of method, path and canonical body: a different request under
    -- the same key is refused.
    fingerprint     TEXT        NOT NULL,
    -- Who is working on it; only the current claimant may store the response.
    claim_id        UUID        NOT NULL,
    claimed_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    response_status SMALLINT,
    response_body   BYTEA,
    PRIMARY KEY (user_id, idem_key),
    CHECK ((response_status IS NULL) = (response_body IS NULL))
);

-- The sweeper deletes keys older than 24 hours.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
