# Helpers sourced by the scripts that start local servers (services.sh,
# redis-sentinel.sh). Set LOG_TAG before sourcing to prefix the messages.

log() { printf '[%s] %s\n' "${LOG_TAG:-scripts}" "$*" >&2; }
die() { log "$*"; exit 1; }

# Install a Debian package (only possible when running as root).
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    die "$1 is not installed and this script is not running as root; install the Debian package '$1' and retry"
  fi
  log "installing Debian package $1"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$1" >/dev/null || die "installing the Debian package $1 failed"
}

# Wait up to 30 s for a command to succeed.
wait_for() { # description, command...
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "$what did not come up"
}

# Whether something accepts TCP connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A TCP port on 127.0.0.1 that nothing listens on, below the kernel's
# ephemeral range. Another process may still take it before it is bound:
# callers check that their server came up on it and try again otherwise.
free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 12000))
    port_in_use "$port" || { echo "$port"; return 0; }
  done
  die "found no free TCP port"
}

# The pid a Redis server or Sentinel on 127.0.0.1:$1 reports for itself, if
# it answers.
served_by() { redis-cli -p "$1" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p'; }

# SIGKILL the servers whose pid files are in directory $1 (only processes
# that are still a Redis server or Sentinel), then remove the directory.
stop_redis_dir() {
  local dir=$1 pidfile pid
  [ -d "$dir" ] || return 0
  for pidfile in "$dir"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q redis; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}
