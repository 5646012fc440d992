#!/usr/bin/env bash
# Run the tests that matter most for a Redis Cluster on a real one: the
# queue's order and lifecycle and admission across gateway replicas (gateway
# API tests `queue_order`, `lifecycle`, `replicas`), the race for seats and
# the seat map (booking API tests `concurrency`, `seat_map`), against a local cluster of three
# masters and three replicas (scripts/redis-cluster.sh), stopped afterwards.
#
#   scripts/cluster-tests.sh            (extra arguments go to both `cargo test` runs)
#
# The switch is TEST_REDIS_CLUSTER_NODES: with it, the API tests' services
# and their own Redis checks use the cluster (shared::testing::redis_topology).
# The cluster failover test (booking/tests/redis_failover) starts its own
# cluster and runs with the rest of the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_TAG=cluster-tests
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

env_file=$(mktemp)
scripts/redis-cluster.sh start >"$env_file"
dir=$(sed -n 's/^REDIS_CLUSTER_DIR=//p' "$env_file")
nodes=$(sed -n 's/^REDIS_CLUSTER_NODES=//p' "$env_file")
rm -f "$env_file"
trap 'scripts/redis-cluster.sh stop "$dir"' EXIT
[ -n "$nodes" ] || die "the cluster script printed no REDIS_CLUSTER_NODES"
log "running the queue, replica, seat-race and seat-map tests on the cluster $nodes"
export TEST_REDIS_CLUSTER_NODES="$nodes"
timeout 900 cargo test -p gateway --test api "$@" -- queue_order:: lifecycle:: replicas::
timeout 900 cargo test -p booking --test api "$@" -- concurrency:: seat_map::
