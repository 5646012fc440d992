-- Taking a hold in one round trip.
--
-- The hold is the hottest write of an on-sale. As a client-side transaction
-- it was six round trips (BEGIN, lock the user, expire a timed-out hold of
-- the seat, count the user's seats, insert, COMMIT), each a context switch on
-- both sides. This function runs the same steps, in the same order and with
-- the same locks, inside the server: one statement, one round trip, its own
-- transaction. The partial unique index reservations_live_seat_uidx still
-- decides who wins a seat (ON CONFLICT … DO NOTHING on that index).
--
-- Returns one row: outcome 'held' with the new reservation, or 'taken',
-- 'limit', 'unknown_user' with the other columns NULL. `expired` counts the
-- timed-out holds of the seat this call moved to 'expired'.
CREATE FUNCTION hold_seat(
    p_reservation_id UUID,
    p_user_id        BIGINT,
    p_schedule_id    BIGINT,
    p_seat_number    INTEGER,
    p_now            TIMESTAMPTZ,
    p_expires_at     TIMESTAMPTZ,
    p_max_per_user   INTEGER
) RETURNS TABLE (
    outcome        TEXT,
    expired        INTEGER,
    reservation_id UUID,
    user_id        BIGINT,
    schedule_id    BIGINT,
    seat_number    INTEGER,
    price          BIGINT,
    status         TEXT,
    expires_at     TIMESTAMPTZ
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_expired INTEGER;
    v_live    BIGINT;
BEGIN
    -- The user's row lock serialises this user's holds, so the count below
    -- cannot be raced by the same user holding several seats at once.
    PERFORM 1 FROM users u WHERE u.user_id = p_user_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_user', 0, NULL::UUID, NULL::BIGINT, NULL::BIGINT,
                            NULL::INTEGER, NULL::BIGINT, NULL::TEXT, NULL::TIMESTAMPTZ;
        RETURN;
    END IF;

    UPDATE reservations r SET status = 'expired', updated_at = p_now
     WHERE r.schedule_id = p_schedule_id AND r.seat_number = p_seat_number
       AND r.status = 'held' AND r.expires_at <= p_now;
    GET DIAGNOSTICS v_expired = ROW_COUNT;

    SELECT count(*) INTO v_live FROM reservations r
     WHERE r.user_id = p_user_id AND r.schedule_id = p_schedule_id
       AND r.status IN ('held', 'confirmed')
       AND (r.status = 'confirmed' OR r.expires_at > p_now);
    IF v_live >= p_max_per_user THEN
        RETURN QUERY SELECT 'limit', v_expired, NULL::UUID, NULL::BIGINT, NULL::BIGINT,
                            NULL::INTEGER, NULL::BIGINT, NULL::TEXT, NULL::TIMESTAMPTZ;
        RETURN;
    END IF;

    RETURN QUERY
    INSERT INTO reservations AS r
           (reservation_id, user_id, schedule_id, seat_number, price, status,
            expires_at, created_at, updated_at)
    SELECT p_reservation_id, p_user_id, s.schedule_id, s.seat_number, s.price, 'held',
           p_expires_at, p_now, p_now
      FROM seats s
     WHERE s.schedule_id = p_schedule_id AND s.seat_number = p_seat_number
    ON CONFLICT (schedule_id, seat_number) WHERE status IN ('held', 'confirmed') DO NOTHING
    RETURNING 'held'::TEXT, v_expired, r.reservation_id, r.user_id, r.schedule_id,
              r.seat_number, r.price, r.status, r.expires_at;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'taken', v_expired, NULL::UUID, NULL::BIGINT, NULL::BIGINT,
                            NULL::INTEGER, NULL::BIGINT, NULL::TEXT, NULL::TIMESTAMPTZ;
    END IF;
END
$$;
