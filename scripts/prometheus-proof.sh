#!/usr/bin/env bash
# Show that Prometheus really sees the services: bring them up (own database,
# Redis prefix and ports, so a running demo is left alone), run Debian's
# Prometheus against them with the project's scrape jobs and alert rules,
# drive a short on-sale (users join, wait, get admitted, hold, top up, pay),
# query Prometheus's HTTP API for the key series, fail if any is empty, and
# save a screenshot of Prometheus's graph page (headless Chromium).
#
#   scripts/prometheus-proof.sh            (USERS=150 DURATION=60)
#
# Writes docs/prometheus-proof.png and docs/prometheus-proof.txt. Installs
# `prometheus` and `chromium` from Debian when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS="${USERS:-150}"
DURATION="${DURATION:-60}"
PROM_ADDR=127.0.0.1:19090
export GATEWAY_ADDR=127.0.0.1:18080 BOOKING_ADDR=127.0.0.1:18081
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/ticketing_proof
export REDIS_KEY_PREFIX="proof$RANDOM"
export DATA_DIR=.data/proof ADMIN_TOKEN=proof-admin-token RUST_LOG=warn
export JWKS_URL="http://$GATEWAY_ADDR/.well-known/jwks.json"
export CORS_ALLOWED_ORIGINS="http://$GATEWAY_ADDR"
export AUDIT_INTERVAL_SECS=5

log() { printf '[proof] %s\n' "$*" >&2; }
need() { # command package
  command -v "$1" >/dev/null && return
  [ "$(id -u)" = 0 ] || { log "install the Debian package $2"; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
need prometheus prometheus
need chromium chromium

work=$(mktemp -d)
prom_pid=
cleanup() {
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null
  scripts/down.sh --quiet || true
  rm -rf "$work"
}
trap cleanup EXIT

log "bringing the services up on $GATEWAY_ADDR and $BOOKING_ADDR (fresh database)"
psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists ticketing_proof with (force)" >/dev/null 2>&1 || true
scripts/up.sh --detach >"$work/up.log"

sed -e "s|gateway-1:8080\", \"gateway-2:8080|$GATEWAY_ADDR|" \
    -e "s|booking-1:8081\", \"booking-2:8081|$BOOKING_ADDR|" \
    -e "s|localhost:9090|$PROM_ADDR|" \
    -e "s|scrape_interval: 5s .*|scrape_interval: 2s|" \
    -e "s|rules/\*.yml|$PWD/deploy/prometheus/rules/*.yml|" \
    deploy/prometheus/prometheus.yml >"$work/prometheus.yml"
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="$PROM_ADDR" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!
for _ in $(seq 1 60); do curl -fs "http://$PROM_ADDR/-/ready" >/dev/null && break; sleep 0.5; done

log "driving an on-sale: $USERS users for at most ${DURATION}s"
python3 - "$USERS" "$DURATION" <<'PY'
import json, os, random, sys, threading, time, urllib.error, urllib.request
users, duration = int(sys.argv[1]), float(sys.argv[2])
gateway, booking = "http://" + os.environ["GATEWAY_ADDR"], "http://" + os.environ["BOOKING_ADDR"]
admin = os.environ["ADMIN_TOKEN"]
deadline = time.time() + duration

def call(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, None

concert = 2
# A line that moves slowly enough to be seen: 5 admitted per tick.
call(gateway, "PATCH", f"/v1/admin/concerts/{concert}/queue", {"admit_per_tick": 5}, admin)
ids = [call(booking, "POST", "/v1/admin/users", {"name": f"proof user {n}"}, admin)[1]["user_id"]
       for n in range(users)]

def shopper(user):
    status, joined = call(gateway, "POST", f"/v1/concerts/{concert}/queue", {"user_id": user})
    if status not in (200, 201):
        return
    ticket, token = joined["ticket"], None
    while time.time() < deadline:
        status, s = call(gateway, "GET", f"/v1/concerts/{concert}/queue/status", token=ticket)
        if status == 200 and s["status"] == "active":
            token = s["access_token"]
            break
        time.sleep(min(s.get("poll_after_ms", 1000) if s else 1000, 1000) / 1000)
    if token is None:
        return
    call(booking, "GET", "/v1/concerts/1/schedules", token="not-a-token")  # a rejection
    _, schedules = call(booking, "GET", f"/v1/concerts/{concert}/schedules", token=token)
    if not schedules:
        return
    schedule = random.choice(schedules)["schedule_id"]
    status, held = call(booking, "POST", "/v1/reservations",
                        {"schedule_id": schedule, "seat_number": random.randint(1, 50)}, token)
    call(booking, "POST", f"/v1/users/{user}/balance/charge", {"amount": 200000}, token)
    if status == 201:
        call(booking, "POST", "/v1/payments", {"reservation_id": held["reservation_id"]}, token)

threads = []
for user in ids:
    t = threading.Thread(target=shopper, args=(user,))
    t.start()
    threads.append(t)
    time.sleep(0.1)
for t in threads:
    t.join(max(0.1, deadline - time.time() + 15))
PY
sleep 6  # two more scrapes and an audit

log "querying Prometheus for the key series"
python3 - "http://$PROM_ADDR" >docs/prometheus-proof.txt <<'PY'
import json, sys, urllib.parse, urllib.request
base = sys.argv[1]
queries = [
    ("queue joins (total)", 'sum(queue_joins_total)'),
    ("admissions per concert (total)", 'sum by (concert) (queue_admissions_total)'),
    ("measured admission rate per concert (users/s)", 'max by (concert) (queue_admissions_per_second)'),
    ("waiting per concert (peak over 5m)", 'max by (concert) (max_over_time(queue_waiting[5m]))'),
    ("actual wait p50 (s)", 'histogram_quantile(0.5, sum by (le) (rate(queue_wait_duration_seconds_bucket[5m])))'),
    ("promised ETA p50 (s)", 'histogram_quantile(0.5, sum by (le) (rate(queue_wait_predicted_seconds_bucket[5m])))'),
    ("tokens issued", 'sum by (kind) (tokens_issued_total)'),
    ("holds by outcome", 'sum by (outcome) (holds_total)'),
    ("payments by outcome", 'sum by (outcome) (payments_total)'),
    ("token rejections", 'sum by (job, reason) (token_rejections_total)'),
    ("HTTP requests/s by service", 'sum by (job) (rate(http_requests_total[1m]))'),
    ("HTTP p99 latency by service (s)", 'histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{route!="/metrics"}[5m])))'),
    ("oversold seats (must be 0)", 'max(oversold_seats)'),
    ("balances off their ledger (must be 0)", 'max(ledger_mismatched_balances)'),
    ("audits completed", 'sum(audit_runs_total{result="ok"})'),
    ("ready", 'service_ready'),
    ("Postgres pool", 'db_pool_connections'),
    ("firing alerts", 'ALERTS{alertstate="firing"}'),
]
empty = []
print("| series | PromQL | result |\n|---|---|---|")
for title, q in queries:
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    result = json.load(urllib.request.urlopen(url))["data"]["result"]
    shown = "; ".join(
        (",".join(f"{k}={v}" for k, v in r["metric"].items() if k not in ("__name__",)) or "value")
        + " = " + r["value"][1] for r in result) or "(empty)"
    print(f"| {title} | `{q}` | {shown} |")
    if not result and title != "firing alerts":
        empty.append(title)
if empty:
    sys.exit("empty series: " + ", ".join(empty))
PY
cat docs/prometheus-proof.txt >&2

log "screenshot of the graph page"
quote() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
url="http://$PROM_ADDR/graph?g0.expr=$(quote 'max by (concert) (queue_waiting)')&g0.tab=0&g0.range_input=2m"
url+="&g1.expr=$(quote 'sum by (job) (rate(http_requests_total{route!="/metrics"}[15s]))')&g1.tab=0&g1.range_input=2m"
url+="&g2.expr=$(quote 'sum by (outcome) (rate(holds_total[15s]))')&g2.tab=0&g2.range_input=2m"
chromium --headless --no-sandbox --disable-gpu --disable-quic --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$work/chromium" \
  --hide-scrollbars --window-size=1400,2450 --virtual-time-budget=15000 \
  --screenshot="$PWD/docs/prometheus-proof.png" "$url" >/dev/null 2>&1
log "wrote docs/prometheus-proof.png and docs/prometheus-proof.txt"
