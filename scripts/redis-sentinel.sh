#!/usr/bin/env bash
# A local Redis with Sentinel: one primary, one replica and three Sentinels on
# free ports of 127.0.0.1, each with its files in one temporary directory —
# for trying failovers and for the failover test (booking/tests/redis_failover.rs).
#
#   scripts/redis-sentinel.sh install       install redis-server / redis-sentinel (as root) if absent
#   scripts/redis-sentinel.sh start         start everything; print the settings below and
#                                           write them to <dir>/env (shell syntax)
#   scripts/redis-sentinel.sh stop <dir>    stop what `start` started in <dir>, remove <dir>
#   scripts/redis-sentinel.sh stop-all      the same for every directory `start` left behind
#
# Printed by `start`, one NAME=value a line:
#   REDIS_SENTINELS=127.0.0.1:<port>,…  REDIS_SENTINEL_MASTER=<name>
#   REDIS_SENTINEL_DIR=<dir>  REDIS_PRIMARY_PORT  REDIS_PRIMARY_PID
#   REDIS_REPLICA_PORT  REDIS_REPLICA_PID
#
# The Sentinels declare the primary down after 1 s without an answer (a
# production setting would be 5–30 s) and agree with a quorum of 2.
# REDIS_SENTINEL_MASTER (default `ticketing`) names the master.
set -euo pipefail

LOG_TAG=redis-sentinel
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MASTER="${REDIS_SENTINEL_MASTER:-ticketing}"
ROOT="${TMPDIR:-/tmp}"
PREFIX="ticketing-sentinel."

ensure_packages() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || apt_install redis-server
  command -v redis-sentinel >/dev/null || apt_install redis-sentinel
  command -v redis-sentinel >/dev/null || die "redis-sentinel is still missing after installing it"
}


# Start $1 (redis-server or redis-sentinel) on a free port, as <dir>/$2.conf
# made of the standard lines and $3 (printf escapes allowed); try another
# port if that one was taken first. Prints "<port> <pid>".
start_server() { # program name config-lines
  local program=$1 name=$2 lines=$3 port pid
  for _ in $(seq 1 10); do
    port=$(free_port)
    printf 'port %s\nbind 127.0.0.1\ndir %s\nlogfile %s\n%s\n' \
      "$port" "$DIR" "$DIR/$name.log" "$(printf "$lines")" >"$DIR/$name.conf"
    "$program" "$DIR/$name.conf" </dev/null >>"$DIR/$name.out" 2>&1 &
    pid=$!
    for _ in $(seq 1 40); do
      if [ "$(served_by "$port")" = "$pid" ]; then
        echo "$pid" >"$DIR/$name.pid"
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

# A field of `SENTINEL MASTER <name>` as Sentinel $1 sees it.
sentinel_field() { # port field
  redis-cli -p "$1" sentinel master "$MASTER" 2>/dev/null | tr -d '\r' |
    awk -v f="$2" 'prev == f { print; exit } { prev = $0 }'
}

start() {
  ensure_packages
  DIR=$(mktemp -d "$ROOT/${PREFIX}XXXXXX")
  local primary replica
  # Persistence as docs/operations.md recommends: an append-only file
  # written every second.
  local data='appendonly yes\nappendfsync everysec\nsave ""'
  primary=$(start_server redis-server primary "$data\ndbfilename primary.rdb\nappenddirname primary-aof")
  local primary_port=${primary% *}
  replica=$(start_server redis-server replica \
    "$data\ndbfilename replica.rdb\nappenddirname replica-aof\nreplicaof 127.0.0.1 $primary_port")
  local replica_port=${replica% *}
  replica_synced() { redis-cli -p "$replica_port" info replication | grep -q 'master_link_status:up'; }
  wait_for "replication from the primary" replica_synced

  local sentinels=() s
  for i in 1 2 3; do
    s=$(start_server redis-sentinel "sentinel-$i" "sentinel monitor $MASTER 127.0.0.1 $primary_port 2
sentinel down-after-milliseconds $MASTER 1000
sentinel failover-timeout $MASTER 5000
sentinel parallel-syncs $MASTER 1")
    sentinels+=("${s% *}")
  done
  # A failover needs Sentinels that know each other and the replica.
  all_know_each_other() {
    local p
    for p in "${sentinels[@]}"; do
      [ "$(sentinel_field "$p" num-other-sentinels)" = 2 ] || return 1
      [ "$(sentinel_field "$p" num-slaves)" = 1 ] || return 1
    done
  }
  wait_for "the Sentinels to discover each other and the replica" all_know_each_other

  local list
  list=$(printf '127.0.0.1:%s,' "${sentinels[@]}")
  {
    echo "REDIS_SENTINELS=${list%,}"
    echo "REDIS_SENTINEL_MASTER=$MASTER"
    echo "REDIS_SENTINEL_DIR=$DIR"
    echo "REDIS_PRIMARY_PORT=$primary_port"
    echo "REDIS_PRIMARY_PID=${primary#* }"
    echo "REDIS_REPLICA_PORT=$replica_port"
    echo "REDIS_REPLICA_PID=${replica#* }"
  } | tee "$DIR/env"
  log "primary on $primary_port, replica on $replica_port, Sentinels on ${sentinels[*]} (files in $DIR)"
}

# Stop the servers whose pid files are in $1 (only processes that are still
# a Redis server or Sentinel), then remove the directory.
stop() {
  local dir=$1
  case "$(basename "$dir")" in "$PREFIX"*) ;; *) die "$dir was not made by this script" ;; esac
  stop_redis_dir "$dir"
}

case "${1:-}" in
  install) ensure_packages ;;
  start) start ;;
  stop) [ -n "${2:-}" ] || die "usage: $0 stop <dir>"; stop "$2" ;;
  stop-all)
    for d in "$ROOT/$PREFIX"*; do
      [ -d "$d" ] || continue
      stop "$d"
    done
    ;;
  *) die "usage: $0 install | start | stop <dir> | stop-all" ;;
esac
