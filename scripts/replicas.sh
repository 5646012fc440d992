#!/usr/bin/env bash
# Several gateway and booking replicas behind nginx on this machine, the way
# a production deployment runs them (docs/operations.md, "Behind a load
# balancer"): one origin for fans, routed by path to the replicas, all on one
# Redis and one PostgreSQL.
#
#   scripts/replicas.sh up [--replicas N]   start nginx and N gateways + N bookings (default 2)
#   scripts/replicas.sh stop gateway|booking K
#                                           stop replica K (SIGTERM: it drains and exits)
#   scripts/replicas.sh start gateway|booking K
#                                           start replica K again, on its port
#   scripts/replicas.sh down                stop everything `up` started
#
# `up` prints the load balancer's URL and writes it, with every replica's
# address, to $LB_DIR/env (LB_URL=…, GATEWAY_1=…, BOOKING_1=…). It does not
# build, migrate or seed (scripts/up.sh --replicas N does all of it).
#
# Settings (environment):
#   LB_DIR          where pid files, logs and nginx's prefix live ($DATA_DIR/replicas)
#   LB_ADDR         nginx's listen address (127.0.0.1 and a free port)
#   BIN_DIR         the gateway and booking binaries (target/release)
#   TRUSTED_PROXIES nginx's address as the replicas see it (127.0.0.1/32):
#                   requests from other loopback addresses (127.0.0.2, …)
#                   are clients of their own
#   LB_UPSTREAM_TIMEOUT
#                   seconds nginx waits on a silent replica before it counts
#                   it as failed and answers 503 (unset: the configuration's
#                   30 s, as in production); tests set a few seconds
# and every setting of the services (README.md, Configuration), passed to
# every replica: DATABASE_URL, REDIS_URL, REDIS_KEY_PREFIX, ADMIN_TOKEN, …
# The replicas share DATA_DIR, hence their signing keys (the first replica
# of each service generates them before the others start), unless
# JWT_PRIVATE_KEY_FILE / SESSION_PRIVATE_KEY_FILE name the keys.
set -euo pipefail
cd "$(dirname "$0")/.."

LOG_TAG=replicas
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

export DATA_DIR="${DATA_DIR:-.data}"
LB_DIR=$(realpath -m "${LB_DIR:-$DATA_DIR/replicas}")
BIN_DIR="${BIN_DIR:-target/release}"

usage() { sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2; exit 2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Send SIGTERM to the process of a pid file and wait (up to 25 s: the
# services drain for at most 20 s) until it has exited.
stop_pid() { # pidfile name
  local pid
  if alive "$1"; then
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    log "stopped $2 ($pid)"
  fi
  rm -f "$1"
}

# Start replica K of a service on the address recorded for it.
start_replica() { # service k
  local service=$1 k=$2 addr lb
  addr=$(cat "$LB_DIR/$service-$k.addr")
  lb=$(cat "$LB_DIR/lb.url")
  alive "$LB_DIR/$service-$k.pid" && die "$service $k is already running"
  if [ "$service" = gateway ]; then
    GATEWAY_ADDR="$addr" IDENTITY_JWKS_URL="$lb/booking/.well-known/jwks.json" \
      BOOKING_PUBLIC_URL="$lb" "$BIN_DIR/gateway" </dev/null >>"$LB_DIR/logs/$service-$k.log" 2>&1 &
  else
    # Replica 1 applies the migrations; the others find them done.
    local migrate=true
    [ "$k" = 1 ] || migrate=false
    BOOKING_ADDR="$addr" JWKS_URL="$lb/.well-known/jwks.json" CORS_ALLOWED_ORIGINS="$lb" \
      RUN_MIGRATIONS="${RUN_MIGRATIONS:-$migrate}" "$BIN_DIR/booking" </dev/null >>"$LB_DIR/logs/$service-$k.log" 2>&1 &
  fi
  echo $! >"$LB_DIR/$service-$k.pid"
}

# Wait up to 30 s for a replica's /readyz to answer 200.
wait_replica() { # service k
  local addr; addr=$(cat "$LB_DIR/$1-$2.addr")
  for _ in $(seq 1 120); do
    curl -fs -o /dev/null --max-time 1 "http://$addr/readyz" && return 0
    alive "$LB_DIR/$1-$2.pid" || break
    sleep 0.25
  done
  tail -n 20 "$LB_DIR/logs/$1-$2.log" >&2 || true
  die "$1 $2 did not become ready on $addr; see $LB_DIR/logs/$1-$2.log"
}

# nginx's files: the shared configuration and the replica lists beside it.
write_nginx_conf() { # replicas listen
  local conf="$LB_DIR/nginx" k
  mkdir -p "$conf"
  cp deploy/nginx/nginx.conf "$conf/nginx.conf"
  : >"$conf/gateways.conf"; : >"$conf/bookings.conf"
  for k in $(seq 1 "$1"); do
    echo "server $(cat "$LB_DIR/gateway-$k.addr") max_fails=1 fail_timeout=5s;" >>"$conf/gateways.conf"
    echo "server $(cat "$LB_DIR/booking-$k.addr") max_fails=1 fail_timeout=5s;" >>"$conf/bookings.conf"
  done
  echo "listen $2;" >"$conf/listen.conf"
  rm -f "$conf/upstream-timeouts.conf"
  if [ -n "${LB_UPSTREAM_TIMEOUT:-}" ]; then
    echo "proxy_send_timeout ${LB_UPSTREAM_TIMEOUT}s; proxy_read_timeout ${LB_UPSTREAM_TIMEOUT}s;" \
      >"$conf/upstream-timeouts.conf"
  fi
}

cmd_up() {
  local replicas=2
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --replicas) replicas=${2:?--replicas needs a number}; shift 2 ;;
      *) usage ;;
    esac
  done
  case "$replicas" in '' | *[!0-9]* | 0) die "--replicas must be a positive number" ;; esac
  case "${LB_UPSTREAM_TIMEOUT:-1}" in '' | *[!0-9]* | 0) die "LB_UPSTREAM_TIMEOUT must be a positive number of seconds" ;; esac
  [ -x "$BIN_DIR/gateway" ] && [ -x "$BIN_DIR/booking" ] ||
    die "no gateway and booking binaries in $BIN_DIR (cargo build --release -p gateway -p booking)"
  command -v nginx >/dev/null || apt_install nginx
  if [ -d "$LB_DIR" ]; then cmd_down --quiet; fi
  mkdir -p "$LB_DIR/logs"

  local listen=${LB_ADDR:-127.0.0.1:$(free_port)} k service port taken
  echo "http://$listen" >"$LB_DIR/lb.url"
  taken=" ${listen##*:} "
  for k in $(seq 1 "$replicas"); do
    for service in gateway booking; do
      port=$(free_port)
      while [[ "$taken" == *" $port "* ]]; do port=$(free_port); done
      taken="$taken$port "
      echo "127.0.0.1:$port" >"$LB_DIR/$service-$k.addr"
    done
  done
  write_nginx_conf "$replicas" "$listen"

  # nginx trusts nothing; the replicas trust nginx's X-Forwarded-For.
  export TRUSTED_PROXIES="${TRUSTED_PROXIES:-127.0.0.1/32}"
  nginx -t -q -p "$LB_DIR/nginx" -c "$LB_DIR/nginx/nginx.conf" -e stderr ||
    die "nginx refused the configuration in $LB_DIR/nginx"
  # Its own prefix and configuration, in the foreground (no daemon): the
  # system's nginx, if any, is neither used nor touched.
  nginx -p "$LB_DIR/nginx" -c "$LB_DIR/nginx/nginx.conf" -e stderr -g 'daemon off;' \
    </dev/null >>"$LB_DIR/logs/nginx.log" 2>&1 &
  echo $! >"$LB_DIR/nginx.pid"
  wait_for "nginx on $listen" port_in_use "${listen##*:}"

  # Replica 1 of each service first: it creates the schema and the keys
  # that the others then share.
  for service in booking gateway; do
    start_replica "$service" 1
    wait_replica "$service" 1
  done
  for k in $(seq 2 "$replicas"); do
    for service in booking gateway; do start_replica "$service" "$k"; done
  done
  for k in $(seq 2 "$replicas"); do
    for service in booking gateway; do wait_replica "$service" "$k"; done
  done

  {
    echo "LB_URL=http://$listen"
    for k in $(seq 1 "$replicas"); do
      echo "GATEWAY_$k=http://$(cat "$LB_DIR/gateway-$k.addr")"
      echo "BOOKING_$k=http://$(cat "$LB_DIR/booking-$k.addr")"
    done
  } >"$LB_DIR/env"
  log "nginx on http://$listen in front of $replicas gateways and $replicas bookings (addresses in $LB_DIR/env)"
  echo "http://$listen"
}

cmd_down() {
  [ -d "$LB_DIR" ] || return 0
  local pidfile
  # Replicas first (they drain), then the load balancer.
  for pidfile in "$LB_DIR"/gateway-*.pid "$LB_DIR"/booking-*.pid; do
    [ -e "$pidfile" ] || continue
    stop_pid "$pidfile" "$(basename "$pidfile" .pid)" &
  done
  wait
  stop_pid "$LB_DIR/nginx.pid" nginx
  [ "${1:-}" = --quiet ] || log "all stopped"
}

replica_args() { # service k
  case "${1:-}" in gateway | booking) ;; *) usage ;; esac
  [ -f "$LB_DIR/$1-${2:-}.addr" ] || die "no $1 replica ${2:-} (scripts/replicas.sh up first)"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  stop) replica_args "${2:-}" "${3:-}"; stop_pid "$LB_DIR/$2-$3.pid" "$2 $3" ;;
  start) replica_args "${2:-}" "${3:-}"; start_replica "$2" "$3"; wait_replica "$2" "$3" ;;
  *) usage ;;
esac
