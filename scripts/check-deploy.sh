#!/usr/bin/env bash
# Offline checks of deploy/, without a Docker engine or a cluster:
#
#   * Prometheus: promtool check config / check rules, and the alert rules'
#     unit tests (promtool test rules);
#   * every series the rules and the dashboard query is one the code exports,
#     and docs/operations.md has a section per alert and every setting;
#   * Grafana: the dashboard's structure, and its PromQL parsed by promtool;
#   * Kubernetes: the production overlay and the base rendered by kustomize
#     and validated against the API schemas (kubernetes-validate --strict),
#     plus probes, preStop, grace, HPA, PDB, Service and settings checks;
#   * Compose: the Compose Specification schema, pinned images, wiring, and
#     multi-stage non-root Dockerfiles;
#   * nginx: `nginx -t` on deploy/nginx/nginx.conf with the compose replica
#     lists (their host names replaced by 127.0.0.1, which resolves here).
#
#   scripts/check-deploy.sh
#
# The first run installs what is missing: Debian's `prometheus` (promtool)
# `kubernetes-client` (kubectl, for kustomize) and `nginx` when running as root, and
# the pinned Python packages of deploy/check-requirements.txt into
# target/deploy-check. Later runs need no network.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[check-deploy] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

apt_install() { # package command
  [ "$(id -u)" = 0 ] || die "$2 is missing and this script is not running as root; install the Debian package '$1' and retry"
  log "installing Debian package $1 (for $2)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}
command -v promtool >/dev/null || apt_install prometheus promtool
command -v kubectl >/dev/null || apt_install kubernetes-client kubectl
command -v nginx >/dev/null || apt_install nginx nginx

venv=target/deploy-check
requirements=deploy/check-requirements.txt
if ! cmp -s "$requirements" "$venv/requirements.txt"; then
  log "installing the pinned Python checkers into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi
py="$venv/bin/python"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "Prometheus configuration and alert rules"
promtool check config deploy/prometheus/prometheus.yml >/dev/null
promtool check rules deploy/prometheus/rules/*.yml >/dev/null
promtool test rules deploy/prometheus/tests/*.test.yml
"$py" deploy/check.py metrics
"$py" deploy/check.py docs

log "Grafana dashboard"
"$py" deploy/check.py grafana "$work/dashboard-queries.yml"
promtool check rules "$work/dashboard-queries.yml" >/dev/null

log "Kubernetes manifests"
cp -r deploy/k8s "$work/k8s"
secrets="$work/k8s/overlays/production/secrets"
printf '%s' 'placeholder key' >"$secrets/signing-key.pem"
printf '%s' 'placeholder key' >"$secrets/session-key.pem"
printf '%s' 'postgres://user:password@postgres:5432/ticketing' >"$secrets/database-url"
printf '%s' 'placeholder-admin-token' >"$secrets/admin-token"
for target in base overlays/production; do
  out="$work/$(basename "$target").yaml"
  if ! kubectl kustomize "$work/k8s/$target" >"$out" 2>"$work/kustomize.err"; then
    cat "$work/kustomize.err" >&2
    die "kustomize could not render deploy/k8s/$target"
  fi
  for version in 1.30.0 1.37.0; do
    "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$out" ||
      die "deploy/k8s/$target does not validate against Kubernetes $version"
  done
done
"$py" deploy/check.py k8s "$work/production.yaml"

log "Compose file and Dockerfiles"
schema=$("$py" -c 'import importlib.util, os; print(os.path.join(importlib.util.find_spec("compose").submodule_search_locations[0], "config", "compose_spec.json"))')
"$py" deploy/check.py compose "$schema"

log "nginx configuration"
mkdir -p "$work/nginx"
cp deploy/nginx/nginx.conf "$work/nginx/"
for file in gateways.conf bookings.conf listen.conf; do
  sed -E 's/server +[A-Za-z0-9.-]+:/server 127.0.0.1:/' "deploy/compose/nginx/$file" >"$work/nginx/$file"
done
if ! nginx -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf" -e stderr 2>"$work/nginx.err"; then
  cat "$work/nginx.err" >&2
  die "nginx refuses deploy/nginx/nginx.conf"
fi

log "all deployment checks passed"
