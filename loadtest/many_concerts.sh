#!/usr/bin/env bash
# Many concerts, one Redis Cluster: CONCERTS (20) concerts on sale at once.
#
#   loadtest/many_concerts.sh            (DURATION=10s CONCERTS=20 USERS_PER_CONCERT=500)
#
# Starts a local Redis Cluster of 3 masters and 3 replicas
# (scripts/redis-cluster.sh), the release gateway once on it
# (REDIS_CLUSTER_NODES) and once on the single Redis of 127.0.0.1:6379, the
# same settings otherwise, and for each:
#   1. joins USERS_PER_CONCERT users to each concert through the API (curl, 8
#      at a time): every concert has a live queue;
#   2. measures joins across all the concerts at full speed (wrk, 2 threads,
#      50 connections, loadtest/wrk/join-many.lua: request i joins concert
#      i mod CONCERTS), next to the baseline GET / of loadtest/baseline;
#   3. on the cluster: the keys of the run's prefix on each master (`DBSIZE`
#      less the keys the master had before, and `CLUSTER COUNTKEYSINSLOT` of
#      every concert's slot) and which master holds each concert.
# Results: loadtest/results/many-<time>/results.md (and .jsonl), printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"; SECS="${DURATION%s}"
CONCERTS="${CONCERTS:-20}"; USERS_PER_CONCERT="${USERS_PER_CONCERT:-500}"
export WRK_DIR="$PWD/loadtest/wrk"
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
scripts/services.sh
# NO_BUILD=1: measure the release binaries already in target/release as they are.
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p gateway -p booking -p baseline

out="loadtest/results/many-$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$out"
results="$PWD/$out/results.jsonl"; : >"$results"
work=$(mktemp -d)
cluster_dir=
cleanup() {
  kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true
  [ -z "$cluster_dir" ] || scripts/redis-cluster.sh stop "$cluster_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
log() { printf '[many-concerts] %s\n' "$*" >&2; }
fact() { printf '{"kind":"fact","name":"%s","value":"%s"}\n' "$1" "$2" >>"$results"; }

DB=loadtest_many
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB" RUST_LOG=warn ADMIN_TOKEN=loadtest
export RATE_LIMIT_IP_PER_SEC=0 RATE_LIMIT_USER_PER_MIN=0 RATE_LIMIT_TICKET_POLLS_PER_SEC=0 MAX_QUEUED_REQUESTS=100000
q() { psql -Atq "$DATABASE_URL" -c "$1"; }
psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists $DB with (force)" -c "create database $DB" >/dev/null
target/release/booking migrate
first=$(q "insert into concerts (title, venue) select 'Concert ' || g, 'Hall ' || g from generate_series(1, $CONCERTS) g returning concert_id" | head -1)
ids=$(seq -s, "$first" $((first + CONCERTS - 1)))
q "insert into schedules (concert_id, starts_at, price, total_seats)
   select c, now() + interval '30 days', 50000, 50 from generate_series($first, $((first + CONCERTS - 1))) c" >/dev/null
log "concerts $ids"

export SESSION_PRIVATE_KEY_FILE="$work/session-key.pem"
openssl genpkey -algorithm ed25519 -out "$SESSION_PRIVATE_KEY_FILE" 2>/dev/null
mkdir -p "$work/booking"
BOOKING_ADDR=127.0.0.1:8078 JWKS_URL=http://127.0.0.1:8079/.well-known/jwks.json DATA_DIR="$work/booking" \
  target/release/booking &
BASELINE_ADDR=127.0.0.1:8077 BASELINE_DATABASE_URL="$DATABASE_URL" target/release/baseline & base_pid=$!
# Users who do not exist in Postgres: a join does not look users up.
DATA_DIR="$work/booking" target/release/booking mint-sessions 1 $((CONCERTS * USERS_PER_CONCERT)) >"$work/sessions-pre"
join_users=$((20000 * SECS))
DATA_DIR="$work/booking" target/release/booking mint-sessions 5000001 $((5000000 + join_users)) >"$work/sessions-join"

wait_up() { for _ in $(seq 1 60); do curl -fs "$1" >/dev/null && return 0; sleep 0.5; done; log "$1 did not become ready"; exit 1; }
wait_up http://127.0.0.1:8077/
wait_up http://127.0.0.1:8078/.well-known/jwks.json
cpu_ms() { awk '{print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"'}' "/proc/$1/stat"; }
wrk_run() { # name pid url script
  log "wrk: $1"
  local before after line
  before=$(cpu_ms "$2")
  line=$(wrk -t2 -c50 -d"$DURATION" -s "$WRK_DIR/$4" "$3" 2>"$work/$1.wrk-err" | grep '^{')
  after=$(cpu_ms "$2")
  python3 - "$1" "$before" "$after" "$line" >>"$results" <<'PY'
import json, sys
name, before, after, js = sys.argv[1:5]
r = json.loads(js); r["name"] = name
r["cpu_ms_per_1k"] = (float(after) - float(before)) / max(r["requests"], 1) * 1000
print(json.dumps(r))
PY
}

run_gateway() { # name [REDIS_CLUSTER_NODES]
  local name=$1 nodes=${2:-} gw
  mkdir -p "$work/$name"
  env QUEUE_TICK_MS=250 QUEUE_ADMIT_PER_TICK=100000 QUEUE_MAX_ACTIVE=10000000 ACTIVE_TTL_SECS=3600 \
    QUEUE_IDLE_TIMEOUT_SECS=3600 ${nodes:+REDIS_CLUSTER_NODES=$nodes} REDIS_KEY_PREFIX="many:$name:$(date +%s)" \
    GATEWAY_ADDR=127.0.0.1:8079 DATA_DIR="$work/$name" IDENTITY_JWKS_URL=http://127.0.0.1:8078/.well-known/jwks.json \
    target/release/gateway & gw=$!
  wait_up http://127.0.0.1:8079/readyz
  for c in ${ids//,/ }; do
    curl -fs -X PATCH "http://127.0.0.1:8079/v1/admin/concerts/$c/queue" -H "authorization: Bearer $ADMIN_TOKEN" \
      -H 'content-type: application/json' -d '{"max_active": 0}' >/dev/null
  done
  log "$name: joining $USERS_PER_CONCERT users to each of the $CONCERTS concerts"
  local i=0 c
  while read -r token; do
    c=$((first + i % CONCERTS)); i=$((i + 1))
    printf '%s %s\n' "$c" "$token"
  done <"$work/sessions-pre" | xargs -P 8 -n 2 sh -c \
    'curl -s -o /dev/null -w "%{http_code}\n" -X POST "http://127.0.0.1:8079/v1/concerts/$0/queue" -H "authorization: Bearer $1"' \
    | sort | uniq -c | tr '\n' ' ' >"$work/$name.pre"
  fact "$name: answers to the $((CONCERTS * USERS_PER_CONCERT)) first joins (count status)" "$(cat "$work/$name.pre")"
  wrk_run "baseline-$name" "$base_pid" http://127.0.0.1:8077/ plain.lua
  SESSIONS_FILE="$work/sessions-join" JOIN_STRIDE=$((join_users / 2)) CONCERTS="$ids" \
    wrk_run "join-$CONCERTS-concerts-$name" "$gw" "http://127.0.0.1:8079/v1/concerts/$first/queue" join-many.lua
  if [ -n "$nodes" ]; then spread "$nodes"; fi
  kill "$gw"; wait "$gw" 2>/dev/null || true
}

# Keys of the run on each master, and the master of each concert's slot.
spread() {
  local port master_ports slot keys c
  master_ports=$(redis-cli -p "$cluster_port" cluster nodes | awk '$3 ~ /master/ {split($2, a, "[:@]"); print a[2]}' | sort -n)
  for port in $master_ports; do
    keys=$(redis-cli -p "$port" dbsize)
    fact "cluster master :$port: keys (DBSIZE)" "$keys"
  done
  for c in ${ids//,/ }; do
    slot=$(redis-cli -p "$cluster_port" cluster keyslot "{c:$c}")
    for port in $master_ports; do
      keys=$(redis-cli -c -p "$port" cluster countkeysinslot "$slot" 2>/dev/null || echo 0)
      if [ "$keys" != 0 ]; then fact "concert $c: slot $slot on master :$port, keys in the slot" "$keys"; fi
    done
  done
}

run_gateway single
log "starting a local Redis Cluster"
scripts/redis-cluster.sh start >"$work/cluster.env"
cluster_dir=$(sed -n 's/^REDIS_CLUSTER_DIR=//p' "$work/cluster.env")
nodes=$(sed -n 's/^REDIS_CLUSTER_NODES=//p' "$work/cluster.env")
cluster_port=${nodes%%,*}; cluster_port=${cluster_port##*:}
run_gateway cluster "$nodes"

python3 - "$results" >"$out/results.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| run | requests/s | p50 ms | p99 ms | errors | gateway CPU ms per 1k |")
print("|---|---|---|---|---|---|")
for r in rows:
    if r.get("kind") == "fact":
        continue
    print(f"| {r['name']} | {r['rps']:.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | {r['cpu_ms_per_1k']:.1f} |")
print()
for r in rows:
    if r.get("kind") == "fact":
        print(f"- {r['name']}: {r['value']}")
PY
cat "$out/results.md"
