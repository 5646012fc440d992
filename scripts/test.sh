#!/usr/bin/env bash
# Run every check and test of the project against real Redis and PostgreSQL.
#
#   scripts/test.sh            formatting, lints, then the whole test suite
#
# The suite ends with the tests through nginx (scripts/lb-tests.sh), the
# browser tests and the API fuzzing run
# (scripts/fuzz-api.sh: a few minutes, bounded by FUZZ_MAX_TIME per service).
#
# Tests create their own databases (test_<uuid>) and Redis key prefixes
# (test:<uuid>); leftovers of earlier runs are removed first.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh

echo "[test] removing leftovers of earlier test runs" >&2
psql -h 127.0.0.1 -U postgres -d postgres -Atqc \
  "select format('drop database if exists %I with (force);', datname) from pg_database where datname like 'test\_%'" |
  psql -h 127.0.0.1 -U postgres -d postgres -q >/dev/null
redis-cli -h 127.0.0.1 --scan --pattern 'test:*' | xargs -r -n 500 redis-cli -h 127.0.0.1 unlink >/dev/null
scripts/redis-sentinel.sh stop-all  # Sentinel setups of an interrupted failover test
scripts/redis-cluster.sh stop-all   # clusters of an interrupted cluster test run
# The failover test (booking/tests/redis_failover, at most 3 minutes) starts
# its own primary, replica and Sentinels; install the packages first, so that
# a machine where they cannot be installed fails here, loudly.
scripts/redis-sentinel.sh install

scripts/check-deploy.sh  # deploy/: promtool, alert rule tests, dashboard, kustomize + kubernetes-validate, compose
echo "[test] cargo fmt --check" >&2
cargo fmt --all -- --check
echo "[test] cargo clippy" >&2
cargo clippy --workspace --all-targets -- -D warnings
echo "[test] cargo test" >&2
cargo test --workspace --all-targets
echo "[test] the gateway and booking API tests on a Redis Cluster" >&2
scripts/cluster-tests.sh
scripts/lb-tests.sh  # the contract through nginx in front of two replicas of each service
scripts/browser-tests.sh
scripts/fuzz-api.sh
