#!/usr/bin/env bash
# Run a throw-away Redis server in the foreground: no persistence, so
# stopping it loses every key (what a restart without persistence does in
# production). The tests that restart Redis empty start it through this
# script on a free port of their own, and stop it by killing the process.
#
#   scripts/redis-scratch.sh <port> <directory>
#
# Installs Debian's redis-server first when it is missing (as root).
set -euo pipefail

port=${1:?usage: redis-scratch.sh <port> <directory>}
dir=${2:?usage: redis-scratch.sh <port> <directory>}

if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "redis-server is not installed and this script is not running as root; install the Debian package 'redis-server'" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq redis-server >/dev/null
fi

mkdir -p "$dir"
exec redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir "$dir" --logfile "$dir/redis.log"
