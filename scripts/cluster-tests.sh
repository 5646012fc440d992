#!/usr/bin/env bash
# Run the gateway's and booking's API test suites on a real Redis Cluster:
# every script and command of both services, among them the queue's order
# and lifecycle, admission across gateway replicas, the race for seats and
# the seat map with its locks, against a local cluster of three masters and
# three replicas (scripts/redis-cluster.sh), stopped afterwards. (The outage
# tests cut a proxy to the single server at TEST_REDIS_URL, as they do without the cluster.)
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
log "running the gateway and booking API tests on the cluster $nodes"
export TEST_REDIS_CLUSTER_NODES="$nodes"
timeout 900 cargo test -p gateway --test api "$@"
timeout 900 cargo test -p booking --test api "$@"
