-- One payment for several reservations (API.md, Booking: `POST /v1/payments`
-- with `reservation_ids`, all or nothing).
--
-- A payment is one row of `payments` (the sum debited, one ledger entry) and
-- one row here per reservation it paid. The primary key on reservation_id
-- keeps the invariant "a reservation is paid at most once" that
-- `payments.reservation_id UNIQUE` held until now.
CREATE TABLE payment_reservations (
    reservation_id UUID   PRIMARY KEY REFERENCES reservations (reservation_id),
    payment_id     UUID   NOT NULL REFERENCES payments (payment_id),
    -- The reservation's price, KRW; a payment's amount is the sum of these.
    amount         BIGINT NOT NULL CHECK (amount BETWEEN 0 AND 10000000)
);

-- A payment's reservations (the audit, operators' queries).
CREATE INDEX payment_reservations_payment_idx ON payment_reservations (payment_id);

INSERT INTO payment_reservations (reservation_id, payment_id, amount)
SELECT reservation_id, payment_id, amount FROM payments;

-- `payments.reservation_id` is no longer written: a payment's reservations
-- are the rows above. The column stays (nullable, still unique) for one
-- release so that replicas of the previous release, which still write it
-- during a rolling update, keep working; the trigger gives their payments the
-- row above. A later migration drops both.
ALTER TABLE payments ALTER COLUMN reservation_id DROP NOT NULL;

CREATE FUNCTION payments_copy_reservation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.reservation_id IS NOT NULL THEN
        INSERT INTO payment_reservations (reservation_id, payment_id, amount)
        VALUES (NEW.reservation_id, NEW.payment_id, NEW.amount);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER payments_copy_reservation
    AFTER INSERT ON payments
    FOR EACH ROW EXECUTE FUNCTION payments_copy_reservation();
