#!/usr/bin/env bash
# Stop the gateway and booking started by scripts/up.sh (SIGTERM: they drain
# and exit), or the replicas and nginx of scripts/up.sh --replicas N.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${DATA_DIR:-.data}"
quiet=false
[ "${1:-}" = "--quiet" ] && quiet=true
for name in gateway booking; do
  pidfile="$DATA_DIR/$name.pid"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    $quiet || echo "[down] stopped $name ($pid)"
  fi
  rm -f "$pidfile"
done
if [ -d "$DATA_DIR/replicas" ]; then
  if $quiet; then DATA_DIR="$DATA_DIR" scripts/replicas.sh down >/dev/null 2>&1; else DATA_DIR="$DATA_DIR" scripts/replicas.sh down; fi
fi
