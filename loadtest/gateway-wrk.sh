#!/usr/bin/env bash
# First gateway figures: join and poll throughput next to a bare axum
# handler (the baseline), measured back to back in one run with wrk.
#
#   loadtest/gateway-wrk.sh            (DURATION=10s CONNECTIONS=50 THREADS=2)
#
# Uses its own database (loadtest_gateway) and Redis prefix (lt:<random>).
# Prints a Markdown table; CPU is the service's own CPU time per 1,000 requests.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"; CONNECTIONS="${CONNECTIONS:-50}"; THREADS="${THREADS:-2}"
export WRK_DIR="$PWD/loadtest/wrk"
command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; }
scripts/services.sh
cargo build --release -q -p gateway -p baseline

DB=loadtest_gateway
psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists $DB with (force)" -c "create database $DB" >/dev/null
for f in booking/migrations/*.sql; do psql -h 127.0.0.1 -U postgres -d $DB -q -f "$f" >/dev/null; done
psql -h 127.0.0.1 -U postgres -d $DB -qc "insert into users (name) select 'load ' || g from generate_series(1, 500000) g" \
  -c "insert into concerts (title, venue) values ('Load test', 'Hall')" >/dev/null

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
BASELINE_ADDR=127.0.0.1:8090 target/release/baseline & base_pid=$!
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB" REDIS_KEY_PREFIX="lt:$RANDOM$RANDOM" \
  GATEWAY_ADDR=127.0.0.1:8089 DATA_DIR="$work" QUEUE_MAX_ACTIVE=0 QUEUE_IDLE_TIMEOUT_SECS=3600 RUST_LOG=warn \
  target/release/gateway & gw_pid=$!
for _ in $(seq 1 60); do curl -fs http://127.0.0.1:8089/readyz >/dev/null && curl -fs http://127.0.0.1:8090/ >/dev/null && break; sleep 0.5; done

# 1,000 waiting users whose tickets the poll run rotates over.
seq 1 1000 | xargs -P 8 -I{} curl -s -X POST http://127.0.0.1:8089/v1/concerts/1/queue \
  -H 'content-type: application/json' -d '{"user_id":{}}' | grep -o '"ticket":"[^"]*"' | cut -d'"' -f4 > "$work/tickets"
export TICKETS_FILE="$work/tickets"

cpu_ms() { awk '{print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"'}' "/proc/$1/stat"; }
run() { # name pid url script
  local before after line
  before=$(cpu_ms "$2")
  if [ -n "${PROFILE:-}" ] && [ "$1" != baseline ]; then
    # PROFILE=dir: record a CPU profile of the service during each run (perf).
    mkdir -p "$PROFILE"
    perf record -F 499 -g -p "$2" -o "$PROFILE/$1.perf.data" -- sleep "${DURATION%s}" >/dev/null 2>&1 &
  fi
  line=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$WRK_DIR/$4" "$3" | grep '^{')
  after=$(cpu_ms "$2")
  echo "$1 $before $after $line" >>"$work/results"
}
run baseline "$base_pid" http://127.0.0.1:8090/ plain.lua
run join "$gw_pid" http://127.0.0.1:8089/v1/concerts/1/queue join.lua
run poll "$gw_pid" http://127.0.0.1:8089/v1/concerts/1/queue/status poll.lua

python3 - "$work/results" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    name, before, after, js = line.split(" ", 3)
    r = json.loads(js); r["name"] = name; r["cpu"] = (float(after) - float(before)) / max(r["requests"], 1) * 1000
    rows.append(r)
base = rows[0]["rps"]
print("| run | requests/s | × baseline | p50 ms | p95 ms | p99 ms | errors | service CPU ms / 1k req |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['name']} | {r['rps']:.0f} | {r['rps']/base:.2f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | {r['cpu']:.1f} |")
PY
