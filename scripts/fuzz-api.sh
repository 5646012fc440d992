#!/usr/bin/env bash
# Fuzz both services' HTTP APIs against the OpenAPI documents they serve.
#
#   scripts/fuzz-api.sh        build, start a gateway + booking pair, fuzz both
#
# Schemathesis (a pinned version, installed from PyPI into a virtualenv under
# target/) generates requests from each service's GET /openapi.json, valid
# and invalid, with real credentials: a demo user's session token (booking's
# POST /v1/sessions), a queue ticket and an access token (a join and a poll
# at the gateway), and the admin token. The run fails on any 5xx, any answer
# that violates the document (status, content type, headers, body schema),
# any status the document does not list, bad input that is accepted, and a
# protected route that answers without its token (`--checks all`).
#
# scripts/fuzz-known-failures.json lists the failures accepted for now, each
# by operation, check and status (or header) and with the reason: the run
# fails on anything else.
#
# The pair runs on free ports, with a fresh database (seeded with the demo
# data) and its own Redis key prefix; everything is stopped and dropped at
# the end. The exit status is schemathesis's (non-zero on any failure).
#
#   FUZZ_MAX_EXAMPLES (25)   generated cases per operation and phase
#   FUZZ_MAX_TIME (75)       seconds of fuzzing per service (two services)
#   FUZZ_SEED                a seed to replay an earlier run's cases
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
FUZZ_MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-25}"
FUZZ_MAX_TIME="${FUZZ_MAX_TIME:-75}"
VENV=target/schemathesis-venv
PG="postgres://postgres@127.0.0.1:5432"

log() { printf '[fuzz] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV" ||
    die "python3 -m venv failed; install Python 3 with its venv module (Debian: python3-venv) and retry"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
py="$VENV/bin/python"

scripts/services.sh
log "building the debug binaries"
cargo build -p gateway -p booking

run_id="$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')"
work="$(mktemp -d)"
db="test_fuzz_$run_id"
prefix="test:fuzz-$run_id"
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$PG/postgres" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "$prefix*" | xargs -r -n 500 redis-cli -h 127.0.0.1 unlink >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
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

# json_field FIELD: that field of the JSON document on standard input.
json_field() { "$py" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

admin_token="fuzz-$run_id"
url="$PG/$db"
psql "$PG/postgres" -qc "create database \"$db\"" >/dev/null
DATABASE_URL="$url" RUST_LOG=warn target/debug/booking seed >"$work/seed.log" 2>&1 ||
  { tail -n 20 "$work/seed.log" >&2; die "seeding $db failed"; }
gport="$(free_port)"
bport="$(free_port)"
while [ "$bport" = "$gport" ]; do bport="$(free_port)"; done
gateway="http://127.0.0.1:$gport"
booking="http://127.0.0.1:$bport"
# The fuzzer is one client sending as fast as it can: the per-address and
# per-user budgets (API.md, Limits) are off here, so that it reaches the
# handlers instead of collecting 429s.
common=(DATABASE_URL="$url" REDIS_KEY_PREFIX="$prefix" ADMIN_TOKEN="$admin_token" RUST_LOG=warn
  DATA_DIR="$work/data" RATE_LIMIT_IP_PER_SEC=0 RATE_LIMIT_USER_PER_MIN=0)
env "${common[@]}" GATEWAY_ADDR="127.0.0.1:$gport" QUEUE_TICK_MS=200 \
  BOOKING_PUBLIC_URL="$booking" IDENTITY_JWKS_URL="$booking/.well-known/jwks.json" \
  target/debug/gateway >"$work/gateway.log" 2>&1 &
pids+=($!)
env "${common[@]}" BOOKING_ADDR="127.0.0.1:$bport" JWKS_URL="$gateway/.well-known/jwks.json" \
  CORS_ALLOWED_ORIGINS="$gateway" target/debug/booking >"$work/booking.log" 2>&1 &
pids+=($!)
wait_ready gateway "$gateway" "$work/gateway.log"
wait_ready booking "$booking" "$work/booking.log"

# credentials USER: log demo user USER in, join concert 1's queue, wait for
# the admission, and write the schemathesis configuration with the tokens by
# security scheme name (shared::openapi::Scheme), so each operation gets the
# token its document names. Each service is fuzzed with a user of its own: a
# run logs out, leaves and pays, which ends that user's tokens.
credentials() {
  local user=$1 session logout ticket status access=""
  log "logging demo user $user in, joining concert 1's queue and waiting for admission"
  session="$(curl -fsS -H 'content-type: application/json' \
    -d "{\"user_id\": $user, \"password\": \"concert-demo\"}" "$booking/v1/sessions" | json_field session_token)"
  # Logging out ends a session: that operation gets a session of its own.
  logout="$(curl -fsS -H 'content-type: application/json' \
    -d "{\"user_id\": $user, \"password\": \"concert-demo\"}" "$booking/v1/sessions" | json_field session_token)"
  ticket="$(curl -fsS -X POST -H "authorization: Bearer $session" \
    "$gateway/v1/concerts/1/queue" | json_field ticket)"
  for _ in $(seq 1 100); do
    status="$(curl -fsS -H "authorization: Bearer $ticket" "$gateway/v1/concerts/1/queue/status")"
    if [ "$(json_field status <<<"$status")" = active ]; then
      access="$(json_field access_token <<<"$status")"
      break
    fi
    sleep 0.2
  done
  [ -n "$access" ] || die "demo user $user was not admitted to concert 1"
  cat >"$work/schemathesis.toml" <<TOML
[auth.openapi.session_token]
bearer = "$session"

[auth.openapi.queue_ticket]
bearer = "$ticket"

[auth.openapi.access_token]
bearer = "$access"

[auth.openapi.admin_token]
bearer = "$admin_token"

[[operations]]
include-path = "/v1/sessions/current"
headers = { Authorization = "Bearer $logout" }

# A valid request may still reuse an Idempotency-Key with another body:
# 422 IDEMPOTENCY_KEY_REUSED (API.md, Booking).
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", 401, 403, 404, 409, 422, 429, "5xx"]

# Links are inferred from the documents' parameter names, which pair
# unrelated operations (a reservation with a balance); no links are declared.
[phases.stateful.inference]
algorithms = []
TOML
}

fuzz() { # name url
  log "fuzzing $1 ($2/openapi.json) for at most ${FUZZ_MAX_TIME}s"
  local args=(--config-file "$work/schemathesis.toml" --no-color run "$2/openapi.json"
    --checks all --max-examples "$FUZZ_MAX_EXAMPLES" --max-time "$FUZZ_MAX_TIME"
    # One worker: schemathesis's generator is not safe across threads on
    # every Python (a SystemError from ast.parse was seen with two).
    --request-timeout 10 --workers 1 --report junit --report-junit-path "target/fuzz-$1.xml"
    # The generator's own health checks (too many examples filtered out,
    # too slow, …) judge the generator, not the API, and trip at random on
    # a busy machine: a run that fails on them is a flaky run.
    --suppress-health-check all
    --baseline scripts/fuzz-known-failures.json)
  [ -n "${FUZZ_SEED:-}" ] && args+=(--seed "$FUZZ_SEED")
  # A hard bound on top of --max-time, should the run itself hang.
  timeout --kill-after=10 "$((FUZZ_MAX_TIME + 120))" "$VENV/bin/schemathesis" "${args[@]}"
}

status=0
credentials 1
fuzz booking "$booking" || status=$?
credentials 2
fuzz gateway "$gateway" || status=$?
if [ "$status" != 0 ]; then
  for f in "$work"/gateway.log "$work"/booking.log; do
    log "last lines of $(basename "$f"):"
    tail -n 15 "$f" >&2
  done
fi
exit "$status"
