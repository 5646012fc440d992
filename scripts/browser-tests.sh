#!/usr/bin/env bash
# Drive the fan pages in a real browser (Debian's chromium through
# playwright-core) against this checkout's gateway and booking.
#
#   scripts/browser-tests.sh                        run the browser tests
#   UPDATE_SCREENSHOTS=1 scripts/browser-tests.sh   also refresh docs/screenshots/
#
# Installs what is missing first (chromium and Node.js with apt when running
# as root, the npm packages of gateway/web/tests with `npm ci`), builds the
# debug binaries, then starts two gateway + booking pairs of its own on free
# ports, each with a fresh database (seeded with the demo data) and its own
# Redis key prefix: one with the normal hold time, one with a short
# HOLD_TTL_SECS for the hold-expiry test. Each gateway verifies session
# tokens with its own booking's keys (IDENTITY_JWKS_URL); each pair keeps its
# signing keys in its own DATA_DIR. It also starts the services the way
# production runs them, for loadbalancer.test.js: nginx in front of two
# gateways and two bookings (scripts/replicas.sh), one origin for the pages
# and both APIs, on a seeded database, Redis key prefix, LB_DIR and DATA_DIR
# of their own. The demo users log in with the password
# concert-demo. Everything it started is stopped and
# dropped at the end; the exit status is the tests'.
#
#   CHROMIUM (/usr/bin/chromium)   the browser to drive
#   BROWSER_TESTS (all)            test files of gateway/web/tests to run, e.g. "checkout.test.js pages.test.js"
#   EXPIRY_HOLD_TTL_SECS (8)       hold time of the expiry pair
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
EXPIRY_HOLD_TTL_SECS="${EXPIRY_HOLD_TTL_SECS:-8}"
TESTS_DIR=gateway/web/tests
PG="postgres://postgres@127.0.0.1:5432"

log() { printf '[browser] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

apt_install() { # package...
  [ "$(id -u)" = 0 ] || die "missing $*; install the Debian package(s) '$*' (needs root) and retry"
  log "installing Debian package(s) $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}

scripts/services.sh

[ -x "$CHROMIUM" ] || apt_install chromium
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
if [ ! -d "$TESTS_DIR/node_modules/playwright-core" ]; then
  log "installing the test's npm packages (npm ci)"
  (cd "$TESTS_DIR" && npm ci --no-audit --no-fund)
fi

log "building the debug binaries"
cargo build -p gateway -p booking

run_id="$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')"
work="$(mktemp -d)"
pids=()
databases=()

cleanup() {
  local pid db
  if [ -d "$work/lb" ]; then
    LB_DIR="$work/lb" DATA_DIR="$work/lb-data" scripts/replicas.sh down >/dev/null 2>&1 || true
  fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for db in "${databases[@]}"; do
    psql "$PG/postgres" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true
  done
  redis-cli -h 127.0.0.1 --scan --pattern "test:browser-$run_id-*" | xargs -r -n 500 redis-cli -h 127.0.0.1 unlink >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

wait_ready() { # name url log
  for _ in $(seq 1 120); do
    if curl -fs "$2/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$1 did not become ready; its log:"
  tail -n 30 "$3" >&2
  exit 1
}

# seeded_database NAME: a database of this run with the demo data (removed
# on exit); sets url to its address.
seeded_database() {
  local db="test_browser_${run_id}_$1"
  url="$PG/$db"
  psql "$PG/postgres" -qc "create database \"$db\"" >/dev/null
  databases+=("$db")
  DATABASE_URL="$url" RUST_LOG=warn target/debug/booking seed >"$work/$1-seed.log" 2>&1 ||
    { tail -n 20 "$work/$1-seed.log" >&2; die "seeding $db failed"; }
}

# start_pair NAME HOLD_TTL_SECS: sets pair=(gateway_url booking_url database_url)
start_pair() {
  local name=$1 hold=$2
  local prefix="test:browser-$run_id-$name"
  local url
  seeded_database "$name"
  local gport bport
  gport="$(free_port)"
  bport="$(free_port)"
  while [ "$bport" = "$gport" ]; do bport="$(free_port)"; done
  local gateway="http://127.0.0.1:$gport" booking="http://127.0.0.1:$bport"
  env DATABASE_URL="$url" REDIS_KEY_PREFIX="$prefix" ADMIN_TOKEN="$admin_token" RUST_LOG=info \
    GATEWAY_ADDR="127.0.0.1:$gport" DATA_DIR="$work/$name-data" QUEUE_TICK_MS=200 \
    BOOKING_PUBLIC_URL="$booking" IDENTITY_JWKS_URL="$booking/.well-known/jwks.json" \
    target/debug/gateway >"$work/$name-gateway.log" 2>&1 &
  pids+=($!)
  env DATABASE_URL="$url" REDIS_KEY_PREFIX="$prefix" ADMIN_TOKEN="$admin_token" RUST_LOG=info \
    BOOKING_ADDR="127.0.0.1:$bport" JWKS_URL="$gateway/.well-known/jwks.json" DATA_DIR="$work/$name-data" \
    HOLD_TTL_SECS="$hold" CORS_ALLOWED_ORIGINS="$gateway" \
    target/debug/booking >"$work/$name-booking.log" 2>&1 &
  pids+=($!)
  wait_ready "$name gateway" "$gateway" "$work/$name-gateway.log"
  wait_ready "$name booking" "$booking" "$work/$name-booking.log"
  pair=("$gateway" "$booking" "$url")
}

# start_replicas: nginx in front of two gateways and two bookings, as
# production runs them; sets lb=(load_balancer_url database_url).
start_replicas() {
  local url lb_url
  seeded_database lb
  lb_url=$(LB_DIR="$work/lb" DATA_DIR="$work/lb-data" BIN_DIR=target/debug DATABASE_URL="$url" \
    REDIS_KEY_PREFIX="test:browser-$run_id-lb" ADMIN_TOKEN="$admin_token" RUST_LOG=info QUEUE_TICK_MS=200 \
    scripts/replicas.sh up --replicas 2 2>"$work/lb-up.log") ||
    { tail -n 30 "$work/lb-up.log" >&2; die "the replicas behind nginx did not start"; }
  lb=("$lb_url" "$url")
}

admin_token="browser-$run_id"
log "starting two gateway + booking pairs (run $run_id)"
start_pair main 300
main=("${pair[@]}")
start_pair expiry "$EXPIRY_HOLD_TTL_SECS"
expiry=("${pair[@]}")
log "starting nginx in front of two gateways and two bookings"
start_replicas

if [ "${UPDATE_SCREENSHOTS:-0}" = 1 ]; then
  screenshots="$PWD/docs/screenshots"
else
  screenshots="$PWD/target/browser-screenshots"
fi
mkdir -p "$screenshots"

log "running the browser tests (screenshots in ${screenshots#"$PWD"/})"
status=0
(
  cd "$TESTS_DIR"
  GATEWAY_URL="${main[0]}" BOOKING_URL="${main[1]}" DATABASE_URL="${main[2]}" \
    EXPIRY_GATEWAY_URL="${expiry[0]}" EXPIRY_BOOKING_URL="${expiry[1]}" EXPIRY_DATABASE_URL="${expiry[2]}" \
    EXPIRY_HOLD_TTL_SECS="$EXPIRY_HOLD_TTL_SECS" ADMIN_TOKEN="$admin_token" \
    LB_URL="${lb[0]}" LB_DATABASE_URL="${lb[1]}" \
    CHROMIUM="$CHROMIUM" SCREENSHOT_DIR="$screenshots" \
    node --test --test-concurrency=1 --test-reporter=spec ${BROWSER_TESTS:-}
) || status=$?

if [ "$status" != 0 ]; then
  for f in "$work"/*-gateway.log "$work"/*-booking.log "$work"/lb/logs/*.log; do
    log "last lines of $(basename "$f"):"
    tail -n 15 "$f" >&2
  done
fi
exit "$status"
