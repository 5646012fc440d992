#!/usr/bin/env bash
# A local Redis Cluster: three masters and three replicas (one per master)
# on free ports of 127.0.0.1, each with its files in one temporary directory —
# for trying the services on a cluster, for the API tests run on one
# (scripts/cluster-tests.sh) and for the cluster failover test
# (booking/tests/redis_failover).
#
#   scripts/redis-cluster.sh install            install redis-server / redis-cli (as root) if absent
#   scripts/redis-cluster.sh start              start the six servers, create the cluster, wait until
#                                               `cluster info` says ok; print the settings below and
#                                               write them to <dir>/env (shell syntax)
#   scripts/redis-cluster.sh kill <dir> <port>  SIGKILL the server of <dir> on <port> (a failover drill)
#   scripts/redis-cluster.sh stop <dir>         stop what `start` started in <dir>, remove <dir>
#   scripts/redis-cluster.sh stop-all           the same for every directory `start` left behind
#
# Printed by `start`, one NAME=value a line:
#   REDIS_CLUSTER_NODES=127.0.0.1:<port>,…   the masters: the seeds for the services
#   REDIS_CLUSTER_DIR=<dir>
#   REDIS_CLUSTER_PORTS=<port> …             all six servers
#
# A master that does not answer for 2 s (`cluster-node-timeout 2000`; a
# production setting would be 5–15 s) is failed over to its replica.
set -euo pipefail

LOG_TAG=redis-cluster
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT="${TMPDIR:-/tmp}"
PREFIX="ticketing-cluster."
NODES=6

ensure_packages() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || apt_install redis-server
  command -v redis-cli >/dev/null || die "redis-cli is still missing after installing redis-server"
}


# Start cluster node $1 on a free port (another one if that port was taken
# first). Prints "<port> <pid>".
start_node() { # name
  local name=$1 port pid
  for _ in $(seq 1 10); do
    port=$(free_port)
    # Persistence as docs/operations.md recommends: an append-only file
    # written every second.
    cat >"$DIR/$name.conf" <<EOF
port $port
bind 127.0.0.1
dir $DIR
logfile $DIR/$name.log
cluster-enabled yes
cluster-config-file $name-nodes.conf
cluster-node-timeout 2000
appendonly yes
appendfsync everysec
appenddirname $name-aof
dbfilename $name.rdb
save ""
EOF
    redis-server "$DIR/$name.conf" </dev/null >>"$DIR/$name.out" 2>&1 &
    pid=$!
    for _ in $(seq 1 40); do
      if [ "$(served_by "$port")" = "$pid" ]; then
        echo "$pid" >"$DIR/$name.pid"
        echo "$port" >"$DIR/$name.port"
        echo "$port $pid"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -9 "$pid" 2>/dev/null || true
    log "$name did not come up on port $port; trying another port"
  done
  die "$name did not start; see $DIR/$name.log"
}

start() {
  ensure_packages
  DIR=$(mktemp -d "$ROOT/${PREFIX}XXXXXX")
  local ports=() node
  for i in $(seq 1 "$NODES"); do
    node=$(start_node "node-$i")
    ports+=("${node% *}")
  done
  local addrs=()
  for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
  # The first three become masters, the others their replicas.
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
    >"$DIR/create.log" 2>&1 || die "redis-cli --cluster create failed; see $DIR/create.log"
  all_ok() {
    local p
    for p in "${ports[@]}"; do
      redis-cli -p "$p" cluster info | tr -d '\r' | grep -q '^cluster_state:ok' || return 1
      # Every node knows all six and its role (masters own slots).
      [ "$(redis-cli -p "$p" cluster nodes | grep -c -v 'handshake\|noaddr')" = "$NODES" ] || return 1
    done
    # Each replica replicates its master.
    for p in "${ports[@]}"; do
      if redis-cli -p "$p" role | head -1 | grep -q slave; then
        redis-cli -p "$p" info replication | tr -d '\r' | grep -q '^master_link_status:up' || return 1
      fi
    done
  }
  wait_for "the cluster (cluster_state:ok, replicas in sync)" all_ok
  local masters=() p
  for p in "${ports[@]}"; do
    redis-cli -p "$p" role | head -1 | grep -q master && masters+=("127.0.0.1:$p")
  done
  local list
  list=$(printf '%s,' "${masters[@]}")
  {
    echo "REDIS_CLUSTER_NODES=${list%,}"
    echo "REDIS_CLUSTER_DIR=$DIR"
    echo "REDIS_CLUSTER_PORTS=${ports[*]}"
  } | tee "$DIR/env"
  log "masters ${masters[*]}; all nodes on ${ports[*]} (files in $DIR)"
}

check_dir() {
  case "$(basename "$1")" in "$PREFIX"*) ;; *) die "$1 was not made by this script" ;; esac
}

# SIGKILL the node of $1 listening on $2 (only a process that is still a
# Redis server).
kill_node() { # dir port
  local dir=$1 port=$2 portfile name pid
  check_dir "$dir"
  for portfile in "$dir"/*.port; do
    [ "$(cat "$portfile")" = "$port" ] || continue
    name=$(basename "$portfile" .port)
    pid=$(cat "$dir/$name.pid")
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q redis || die "$name (pid $pid) is not running"
    kill -9 "$pid"
    log "killed $name (port $port, pid $pid)"
    return 0
  done
  die "no node of $dir listens on $port"
}

# Stop the servers whose pid files are in $1 (only processes that are still
# a Redis server), then remove the directory.
stop() {
  local dir=$1
  check_dir "$dir"
  stop_redis_dir "$dir"
}

case "${1:-}" in
  install) ensure_packages ;;
  start) start ;;
  kill) [ -n "${3:-}" ] || die "usage: $0 kill <dir> <port>"; kill_node "$2" "$3" ;;
  stop) [ -n "${2:-}" ] || die "usage: $0 stop <dir>"; stop "$2" ;;
  stop-all)
    for d in "$ROOT/$PREFIX"*; do
      [ -d "$d" ] || continue
      stop "$d"
    done
    ;;
  *) die "usage: $0 install | start | kill <dir> <port> | stop <dir> | stop-all" ;;
esac
