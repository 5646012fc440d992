#!/usr/bin/env bash
# First booking figures: holds of free seats and payments, next to a bare
# axum handler (the baseline), back to back in one run with wrk. Users are
# admitted through the real gateway; their access tokens are real.
#
#   loadtest/booking-wrk.sh      (DURATION=10s CONNECTIONS=50 THREADS=2 USERS=20000)
#
# Uses its own database (loadtest_booking) and Redis prefix. Prints a
# Markdown table. "ok/s" counts only 201 answers (checked in Postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"; CONNECTIONS="${CONNECTIONS:-50}"; THREADS="${THREADS:-2}"
USERS="${USERS:-20000}"; SCHEDULES=1000
export WRK_DIR="$PWD/loadtest/wrk"
command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; }
scripts/services.sh
cargo build --release -q -p gateway -p booking -p baseline

DB=loadtest_booking
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
export REDIS_KEY_PREFIX="lt:$RANDOM$RANDOM" RUST_LOG=warn ADMIN_TOKEN=loadtest
psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists $DB with (force)" -c "create database $DB" >/dev/null
target/release/booking migrate
psql -q "$DATABASE_URL" <<SQL >/dev/null
INSERT INTO users (name) SELECT 'load ' || g FROM generate_series(1, $USERS) g;
WITH c AS (INSERT INTO balance_ledger (user_id, kind, amount, balance_after, at)
           SELECT user_id, 'charge', 10000000, 10000000, now() FROM users RETURNING user_id)
UPDATE balances SET balance = 10000000 WHERE user_id IN (SELECT user_id FROM c);
INSERT INTO concerts (title, venue) VALUES ('Load test', 'Hall');
INSERT INTO schedules (concert_id, starts_at, price, total_seats)
  SELECT 1, now() + interval '30 days' + g * interval '1 minute', 50000, 50 FROM generate_series(1, $SCHEDULES) g;
INSERT INTO seats (schedule_id, seat_number, price)
  SELECT s.schedule_id, n, s.price FROM schedules s, generate_series(1, 50) n;
SQL

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
BASELINE_ADDR=127.0.0.1:8090 target/release/baseline & base_pid=$!
GATEWAY_ADDR=127.0.0.1:8089 DATA_DIR="$work" QUEUE_TICK_MS=100 QUEUE_ADMIT_PER_TICK=100000 \
  QUEUE_MAX_ACTIVE=10000000 ACTIVE_TTL_SECS=3600 target/release/gateway & gw_pid=$!
BOOKING_ADDR=127.0.0.1:8088 JWKS_URL=http://127.0.0.1:8089/.well-known/jwks.json \
  target/release/booking & bk_pid=$!
for _ in $(seq 1 60); do
  curl -fs http://127.0.0.1:8089/readyz >/dev/null && curl -fs http://127.0.0.1:8088/readyz >/dev/null && break; sleep 0.5
done

echo "[booking-wrk] admitting $USERS users through the gateway" >&2
python3 loadtest/admit_users.py http://127.0.0.1:8089 1 1 "$USERS" > "$work/admitted"
cut -d' ' -f2 "$work/admitted" > "$work/tokens"
export TOKENS_FILE="$work/tokens" FIRST_SCHEDULE=$(psql -Atq "$DATABASE_URL" -c "select min(schedule_id) from schedules")
export SCHEDULES_PER_THREAD=$((SCHEDULES / THREADS))

cpu_ms() { awk '{print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"'}' "/proc/$1/stat"; }
run() { # name pid url script ok_sql
  local before after line ok=""
  before=$(cpu_ms "$2")
  if [ -n "${PROFILE:-}" ] && [ "$1" != baseline ]; then
    # PROFILE=dir: record a CPU profile of the service during each run (perf).
    mkdir -p "$PROFILE"
    perf record -F 499 -g -p "$2" -o "$PROFILE/$1.perf.data" -- sleep "${DURATION%s}" >/dev/null 2>&1 &
  fi
  line=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$WRK_DIR/$4" "$3" | grep '^{')
  after=$(cpu_ms "$2")
  [ -n "${5:-}" ] && ok=$(psql -Atq "$DATABASE_URL" -c "$5")
  echo "$1 $before $after ${ok:-0} $line" >>"$work/results"
}
run baseline "$base_pid" http://127.0.0.1:8090/ plain.lua
run hold "$bk_pid" http://127.0.0.1:8088/v1/reservations hold.lua "select count(*) from reservations"
# One payment per user (a payment revokes that user's access token).
psql -Atq "$DATABASE_URL" -F' ' -c "select distinct on (user_id) user_id, reservation_id from reservations where status = 'held' order by user_id" \
  | join -o 1.2,2.2 <(sort -k1,1 "$work/admitted") <(sort -k1,1 -) > "$work/pay"
export PAY_FILE="$work/pay"
run pay "$bk_pid" http://127.0.0.1:8088/v1/payments pay.lua "select count(*) from payments"
oversold=$(psql -Atq "$DATABASE_URL" -c "select count(*) from (select 1 from reservations where status in ('held','confirmed') group by schedule_id, seat_number having count(*) > 1) x")
mismatch=$(psql -Atq "$DATABASE_URL" -c "select count(*) from balances b where b.balance <> (select coalesce(sum(case kind when 'charge' then amount else -amount end), 0) from balance_ledger l where l.user_id = b.user_id)")

python3 - "$work/results" "$DURATION" <<'PY'
import json, sys
dur = float(sys.argv[2].rstrip("s"))
rows = []
for line in open(sys.argv[1]):
    name, before, after, ok, js = line.split(" ", 4)
    r = json.loads(js); r["name"] = name; r["ok"] = int(ok)
    r["cpu"] = (float(after) - float(before)) / max(r["requests"], 1) * 1000
    rows.append(r)
base = rows[0]["rps"]
print("| run | requests/s | × baseline | 201s/s | p50 ms | p95 ms | p99 ms | non-2xx | service CPU ms / 1k req |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    okps = f"{r['ok'] / dur:.0f}" if r["name"] != "baseline" else "-"
    print(f"| {r['name']} | {r['rps']:.0f} | {r['rps']/base:.2f} | {okps} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | {r['cpu']:.1f} |")
PY
echo
echo "oversold seats: $oversold; balances differing from their ledger: $mismatch"
