-- The payment transaction of booking (booking/src/payments/store.rs), run by
-- pgbench: the yardstick of the payment figure. Each transaction pays the
-- next pre-created held reservation (bench_pay_queue, numbered by a sequence).
BEGIN;
SELECT r.reservation_id AS rid, r.user_id AS uid, r.price AS price FROM reservations r WHERE r.reservation_id = (SELECT q.reservation_id FROM bench_pay_queue q WHERE q.n = (SELECT nextval('bench_pay_seq'))) FOR UPDATE \gset
UPDATE balances SET balance = balance - :price, updated_at = now() WHERE user_id = :uid AND balance >= :price RETURNING balance \gset
INSERT INTO payments (payment_id, user_id, amount, paid_at) VALUES (gen_random_uuid(), :uid, :price, now()) RETURNING payment_id AS pid \gset
INSERT INTO payment_reservations (reservation_id, payment_id, amount) VALUES (:rid, :pid, :price);
INSERT INTO balance_ledger (user_id, kind, amount, balance_after, payment_id, at) VALUES (:uid, 'payment', :price, :balance, :pid, now());
UPDATE reservations SET status = 'confirmed', updated_at = now() WHERE reservation_id = :rid AND status = 'held';
COMMIT;
