#!/usr/bin/env bash
# Stop the gateway and booking started by scripts/up.sh (SIGTERM: they drain and exit).
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
