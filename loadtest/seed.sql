-- Data for loadtest/run.sh (a fresh database, migrated by `booking migrate`).
--   users 1..200000; 1..100000 start with 10,000,000 KRW (through the ledger),
--   the flash-sale fans (150001..) start with nothing and top up.
--   concert 1: 4,010 dates × 50 seats for the hold and payment runs (4,000 for
--              wrk, enough for 20,000 requests/s for 10 s; 10 for the storms)
--   concert 2: the flash sale, 4 dates × 50 seats
--   concert 3: the measured queue; concert 4: the 1M-user queue
--   concert 5: 1,200 dates whose 60,000 seats are held in advance for pgbench
--   concert 6: the ETA calibration line, 20 dates × 50 seats (some fans pay)
--   concerts 7 and 8: the draw of 1,000 and of 1,000,000 pre-queue tickets
INSERT INTO users (name) SELECT 'fan ' || g FROM generate_series(1, 200000) g;
WITH funded AS (
    INSERT INTO balance_ledger (user_id, kind, amount, balance_after, at)
    SELECT user_id, 'charge', 10000000, 10000000, now() FROM users WHERE user_id <= 100000
    RETURNING user_id)
UPDATE balances SET balance = 10000000 WHERE user_id IN (SELECT user_id FROM funded);

INSERT INTO concerts (title, venue) VALUES
    ('Hold and pay runs', 'Hall A'), ('Flash sale', 'Hall B'), ('Queue', 'Hall C'),
    ('A million fans', 'Stadium'), ('pgbench payments', 'Hall D'), ('ETA calibration', 'Hall E'),
    ('Draw of a thousand', 'Hall F'), ('Draw of a million', 'Stadium');
INSERT INTO schedules (concert_id, starts_at, price, total_seats)
SELECT c, now() + interval '30 days' + g * interval '1 minute', 50000, 50
  FROM (VALUES (1, 4010), (2, 4), (5, 1200), (6, 20)) AS d(c, n), generate_series(1, n) g;
INSERT INTO seats (schedule_id, seat_number, price)
SELECT s.schedule_id, n, s.price FROM schedules s, generate_series(1, 50) n;

-- The bare conditional-UPDATE baseline's table: the same seats, a holder column.
CREATE TABLE bench_seats (
    schedule_id BIGINT, seat_number INTEGER, holder BIGINT,
    PRIMARY KEY (schedule_id, seat_number));
INSERT INTO bench_seats SELECT schedule_id, seat_number, NULL FROM seats;

-- Held reservations for the pgbench payment transaction, one per user.
CREATE TABLE bench_pay_queue (n BIGINT PRIMARY KEY, reservation_id UUID NOT NULL);
CREATE SEQUENCE bench_pay_seq;
WITH held AS (
    INSERT INTO reservations (reservation_id, user_id, schedule_id, seat_number, price, status,
                              expires_at, created_at, updated_at)
    SELECT gen_random_uuid(), 20000 + row_number() OVER (ORDER BY s.schedule_id, s.seat_number),
           s.schedule_id, s.seat_number, s.price, 'held', now() + interval '1 day', now(), now()
      FROM seats s JOIN schedules sc USING (schedule_id) WHERE sc.concert_id = 5
    RETURNING reservation_id, user_id)
INSERT INTO bench_pay_queue SELECT user_id - 20000, reservation_id FROM held;
ANALYZE;
