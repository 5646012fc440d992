#!/usr/bin/env bash
# Make sure Redis and PostgreSQL answer on their local ports.
#
# A server that is not answering is started; a server that is not installed
# is installed from Debian's packages first (only when running as root).
# Sourced or run by scripts/up.sh and scripts/test.sh; safe to run repeatedly.
#
#   REDIS_PORT (6379)  PG_PORT (5432)
set -euo pipefail

REDIS_PORT="${REDIS_PORT:-6379}"
PG_PORT="${PG_PORT:-5432}"

LOG_TAG=services
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || apt_install redis-server
  if redis_up; then log "Redis answers on 127.0.0.1:$REDIS_PORT"; return; fi
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  local dir="${TMPDIR:-/tmp}/ticketing-redis"
  mkdir -p "$dir"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log"
  wait_for "Redis" redis_up
}

pg_up() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }
pg_login() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atqc 'select 1'; }

ensure_postgres() {
  command -v pg_isready >/dev/null && ls /etc/postgresql/*/main >/dev/null 2>&1 || apt_install postgresql
  if ! pg_up; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    log "starting PostgreSQL $version on 127.0.0.1:$PG_PORT"
    if [ "$(id -u)" = 0 ]; then
      pg_ctlcluster --skip-systemctl-redirect "$version" main start
    else
      pg_ctlcluster "$version" main start
    fi
    wait_for "PostgreSQL" pg_up
  fi
  if ! pg_login >/dev/null 2>&1; then
    # A fresh Debian cluster asks for a password on TCP; the services expect
    # the local development setup of trust auth on the loopback address.
    [ "$(id -u)" = 0 ] || die "cannot log in to PostgreSQL as 'postgres' on 127.0.0.1 without a password"
    local hba
    hba=$(su postgres -c "psql -Atqc 'show hba_file'")
    log "allowing trust auth for 'postgres' on the loopback address in $hba"
    sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
    su postgres -c "psql -qc 'select pg_reload_conf()'" >/dev/null
    wait_for "PostgreSQL login" pg_login
  fi
  log "PostgreSQL answers on 127.0.0.1:$PG_PORT"
}

ensure_database() { # name
  if [ -z "$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atqc "select 1 from pg_database where datname = '$1'")" ]; then
    log "creating database $1"
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc "create database \"$1\"" >/dev/null
  fi
}

ensure_redis
ensure_postgres
if [ "$#" -gt 0 ] && [ "$1" = "--database" ]; then ensure_database "$2"; fi
