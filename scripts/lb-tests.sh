#!/usr/bin/env bash
# The contract through the load balancer: starts nginx in front of two
# gateways and two bookings (scripts/replicas.sh) on a database and Redis
# prefix of its own, runs scripts/lb_tests.py against it, and stops it all.
#
#   scripts/lb-tests.sh          (about a minute; BIN_DIR=target/release to test release binaries)
#
# The tests talk from several loopback addresses (127.0.0.x): nginx appends
# each to X-Forwarded-For, and the replicas trust only nginx (127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh
export BIN_DIR="${BIN_DIR:-target/debug}"
if [ "$BIN_DIR" = target/debug ]; then
  echo "[lb-tests] building the gateway and booking" >&2
  cargo build -q -p gateway -p booking
fi

id=$(cat /proc/sys/kernel/random/uuid | tr -d -)
db="test_lb_$id"
work=$(mktemp -d)
export LB_DIR="$work/replicas" DATA_DIR="$work/data"
cleanup() {
  scripts/replicas.sh down >/dev/null 2>&1 || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "test:$id:*" | xargs -r -n 500 redis-cli -h 127.0.0.1 unlink >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
psql -h 127.0.0.1 -U postgres -d postgres -qc "create database \"$db\"" >/dev/null

export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" REDIS_KEY_PREFIX="test:$id"
export ADMIN_TOKEN="lb-test-admin-$id" RUST_LOG=warn
# Small budgets, so that the rate-limit test can exceed them quickly.
export RATE_LIMIT_IP_PER_SEC=2 RATE_LIMIT_USER_PER_MIN=600
# A quick line: admitted within a tick or two.
export QUEUE_TICK_MS=100
# A replica silent for 5 s counts as hung (production: 30 s), so that the
# hung-replica test waits seconds, not a minute.
export LB_UPSTREAM_TIMEOUT=5
scripts/replicas.sh up --replicas 2 >/dev/null
set -a
# shellcheck disable=SC1091
. "$LB_DIR/env"
set +a
REPLICAS="$PWD/scripts/replicas.sh" timeout 170 python3 scripts/lb_tests.py || {
  echo "[lb-tests] failed; the replicas' logs:" >&2
  tail -n 20 "$LB_DIR"/logs/*.log >&2
  exit 1
}
