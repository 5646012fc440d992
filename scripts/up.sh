#!/usr/bin/env bash
# Bring the whole system up on this machine, with demo data, for a person to try.
#
#   scripts/up.sh             build, migrate, seed, run gateway + booking (Ctrl-C stops both)
#   scripts/up.sh --detach    same, but leave them running in the background
#                             (stop them with scripts/down.sh)
#   scripts/up.sh --replicas 2 [--detach]
#                             N gateways and N bookings behind nginx on
#                             GATEWAY_ADDR (one origin, routed by path;
#                             scripts/replicas.sh)
#
# Redis and PostgreSQL are started (or installed, as root) when missing.
# Settings come from the environment (see README.md); the defaults below
# make a local demo work out of the box.
set -euo pipefail
cd "$(dirname "$0")/.."

detach=false
replicas=
while [ "$#" -gt 0 ]; do
  case "$1" in
    --detach) detach=true; shift ;;
    --replicas) replicas=${2:?--replicas needs a number}; shift 2 ;;
    *) echo "usage: scripts/up.sh [--detach] [--replicas N]" >&2; exit 2 ;;
  esac
done

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ticketing}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export ADMIN_TOKEN="${ADMIN_TOKEN:-dev-admin-token}"
export DATA_DIR="${DATA_DIR:-.data}"
export GATEWAY_ADDR="${GATEWAY_ADDR:-127.0.0.1:8080}"
export BOOKING_ADDR="${BOOKING_ADDR:-127.0.0.1:8081}"
export JWKS_URL="${JWKS_URL:-http://$GATEWAY_ADDR/.well-known/jwks.json}"
# The pages served by the gateway call booking from the browser.
export BOOKING_PUBLIC_URL="${BOOKING_PUBLIC_URL:-http://$BOOKING_ADDR}"
export CORS_ALLOWED_ORIGINS="${CORS_ALLOWED_ORIGINS:-http://$GATEWAY_ADDR}"
export RUST_LOG="${RUST_LOG:-info}"

db_name="${DATABASE_URL##*/}"
db_name="${db_name%%\?*}"
scripts/services.sh --database "$db_name"

echo "[up] building release binaries (the first build takes a few minutes)" >&2
cargo build --release -p gateway -p booking

mkdir -p "$DATA_DIR/logs"
echo "[up] migrating and seeding demo data" >&2
target/release/booking migrate
target/release/booking seed

"$(dirname "$0")/down.sh" --quiet || true
if [ -n "$replicas" ]; then
  # nginx takes the gateway's address: fans, the gateway API and the booking
  # API on one origin.
  LB_ADDR="$GATEWAY_ADDR" scripts/replicas.sh up --replicas "$replicas" >/dev/null
  BOOKING_ADDR="$GATEWAY_ADDR"
  echo "[up] nginx on http://$GATEWAY_ADDR in front of $replicas gateways and $replicas bookings" \
    "(their own addresses: $DATA_DIR/replicas/env)" >&2
else
  target/release/booking >"$DATA_DIR/logs/booking.log" 2>&1 &
  echo $! >"$DATA_DIR/booking.pid"
  target/release/gateway >"$DATA_DIR/logs/gateway.log" 2>&1 &
  echo $! >"$DATA_DIR/gateway.pid"

  wait_ready() { # name addr
    for _ in $(seq 1 60); do
      if curl -fs "http://$2/readyz" >/dev/null 2>&1; then return 0; fi
      sleep 0.5
    done
    echo "[up] $1 did not become ready; see $DATA_DIR/logs/$1.log" >&2
    tail -n 20 "$DATA_DIR/logs/$1.log" >&2
    exit 1
  }
  wait_ready gateway "$GATEWAY_ADDR"
  wait_ready booking "$BOOKING_ADDR"
fi

psql_q() { psql "$DATABASE_URL" -Atqc "$1"; }
if [ -n "$replicas" ]; then
  metrics="each replica's /metrics (addresses in $DATA_DIR/replicas/env)"
else
  metrics="http://$GATEWAY_ADDR/metrics  http://$BOOKING_ADDR/metrics"
fi
cat <<MSG

  Ticketing is up.

  Fan pages (browser)      http://$GATEWAY_ADDR/
  Gateway (waiting room)   http://$GATEWAY_ADDR
      JWKS                 http://$GATEWAY_ADDR/.well-known/jwks.json
      API description      http://$GATEWAY_ADDR/openapi.json
  Booking (store)          http://$BOOKING_ADDR
      API description      http://$BOOKING_ADDR/openapi.json
  Metrics                  $metrics
  Admin token              $ADMIN_TOKEN
  Logs                     $DATA_DIR/logs/

  Demo users (id | name | balance KRW), each with the password concert-demo
$(psql_q "select '    ' || u.user_id || ' | ' || u.name || ' | ' || coalesce(b.balance, 0) from users u left join balances b using (user_id) order by u.user_id limit 10")

  Concerts (id | title | dates):
$(psql_q "select '    ' || c.concert_id || ' | ' || c.title || ' | ' || count(s.*) from concerts c left join schedules s using (concert_id) group by c.concert_id order by c.concert_id")

  Try it (log in at booking, then join with the session token):
    session=\$(curl -s -X POST http://$BOOKING_ADDR/v1/sessions -H 'content-type: application/json' \\
      -d '{"user_id": 1, "password": "concert-demo"}' | sed -E 's/.*"session_token":"([^"]+)".*/\\1/')
    curl -s -X POST http://$GATEWAY_ADDR/v1/concerts/1/queue -H "authorization: Bearer \$session"

MSG

if $detach; then
  echo "  Running in the background; stop with scripts/down.sh"
  exit 0
fi
echo "  Press Ctrl-C to stop."
trap '"$(dirname "$0")/down.sh"; exit 0' INT TERM
if [ -n "$replicas" ]; then
  # The replicas are not this shell's children: wait while nginx runs.
  while kill -0 "$(cat "$DATA_DIR/replicas/nginx.pid" 2>/dev/null)" 2>/dev/null; do sleep 1; done
else
  wait
fi
