#!/usr/bin/env python3
"""Structural checks of deploy/ that no off-the-shelf validator makes.

Run by scripts/check-deploy.sh (which also runs promtool, kustomize and
kubernetes-validate); needs PyYAML and jsonschema.

    check.py metrics                   every series the rules and dashboard use is one the code exports
    check.py docs                      docs/operations.md has a section per alert and every setting
    check.py grafana  RULES_OUT        dashboard structure; writes its queries as a rule file for promtool
    check.py k8s      RENDERED.yaml    probes, preStop, grace, HPA, PDB, Services, settings names
    check.py compose  SCHEMA.json      Compose Specification schema, pinned images, wiring
"""

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
FAILURES = []


def fail(message):
    FAILURES.append(message)


def done(what):
    if FAILURES:
        for message in FAILURES:
            print(f"[check-deploy] {what}: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"[check-deploy] {what}: ok")


# ---------------------------------------------------------------- metric names

PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "on", "ignoring",
    "group_left", "group_right", "and", "or", "unless", "rate", "increase",
    "irate", "histogram_quantile", "vector", "absent", "bool", "offset",
    "label_values", "le", "inf", "nan", "time", "clamp_min", "clamp_max",
    "topk", "bottomk", "delta", "deriv", "abs", "round", "scalar",
}
BUILTIN_SERIES = {"up"}


def exported_metrics():
    """Names the services register, from the `metrics::` macros in the code."""
    names = set()
    pattern = re.compile(r'(?:counter|gauge|histogram)!\(\s*"([a-z_:][a-z0-9_:]*)"')
    for crate in ("gateway", "booking", "shared"):
        for source in (ROOT / crate / "src").rglob("*.rs"):
            names.update(pattern.findall(source.read_text()))
    return names


def series_in(expr):
    """Metric names a PromQL expression selects (labels, functions, keywords
    and Grafana variables removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\w+", "", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        word = match.group(0)
        rest = expr[match.end():].lstrip()
        if word.lower() in PROMQL_WORDS or rest.startswith("("):
            continue
        names.add(re.sub(r"_(bucket|count|sum)$", "", word))
    return names


def rule_exprs():
    rules = yaml.safe_load((DEPLOY / "prometheus/rules/ticketing.yml").read_text())
    return [(r.get("alert", r.get("record")), r["expr"]) for g in rules["groups"] for r in g["rules"]]


def dashboard():
    return json.loads((DEPLOY / "grafana/dashboards/ticketing.json").read_text())


def dashboard_exprs(dash):
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def check_metrics():
    known = exported_metrics() | BUILTIN_SERIES
    if len(known) < 20:
        fail(f"found only {len(known)} exported metric names; is the source layout unchanged?")
    dash = dashboard()
    queries = [("rule " + n, e) for n, e in rule_exprs()]
    queries += [("panel " + t, e) for t, e in dashboard_exprs(dash)]
    for variable in dash["templating"]["list"]:
        source = re.match(r"label_values\((\w+),", variable["definition"])
        queries.append((f"variable {variable['name']}", source.group(1) if source else "?"))
    for where, expr in queries:
        for name in sorted(series_in(expr) - known):
            fail(f"{where} uses {name}, which no service exports")
    done("metric names of rules and dashboard")


# ------------------------------------------------------------------------ docs

def github_anchor(heading):
    anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return anchor.replace(" ", "-")


def check_docs():
    guide = (ROOT / "docs/operations.md").read_text()
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", guide, re.M)}
    rules = yaml.safe_load((DEPLOY / "prometheus/rules/ticketing.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            runbook = rule.get("annotations", {}).get("runbook", "")
            page, _, anchor = runbook.partition("#")
            if page != "docs/operations.md" or anchor not in anchors:
                fail(f"alert {rule.get('alert')} has no section in docs/operations.md ({runbook!r})")
    documented = set()
    for line in guide.splitlines():
        if line.startswith("| `"):
            documented.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    for name in sorted(documented_settings() - documented):
        fail(f"setting {name} of the README is missing from docs/operations.md")
    done("operations guide covers every alert and setting")


# ---------------------------------------------------------------------- grafana

PANEL_TYPES = {"row", "timeseries", "stat", "heatmap", "gauge", "table", "bargauge", "text"}


def check_grafana(rules_out):
    dash = dashboard()
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "time"):
        if key not in dash:
            fail(f"dashboard has no {key!r}")
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/ticketing.yml").read_text()
    )["providers"][0]
    if provider["options"]["path"] != "/var/lib/grafana/dashboards":
        fail("the dashboard provider does not read the mounted dashboards folder")
    ids, cells, titles = set(), {}, set()
    for panel in dash["panels"]:
        pid, kind, title = panel.get("id"), panel.get("type"), panel.get("title", "")
        if pid in ids:
            fail(f"panel id {pid} is used twice")
        ids.add(pid)
        if kind not in PANEL_TYPES:
            fail(f"panel {title!r} has unknown type {kind!r}")
        if not title:
            fail(f"panel {pid} has no title")
        titles.add(title.lower())
        pos = panel.get("gridPos", {})
        if not all(k in pos for k in "hwxy") or pos["x"] + pos["w"] > 24 or pos["w"] < 1:
            fail(f"panel {title!r} has a bad gridPos {pos}")
            continue
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                if (x, y) in cells:
                    fail(f"panels {cells[(x, y)]!r} and {title!r} overlap")
                    break
                cells[(x, y)] = title
        if kind == "row":
            continue
        targets = panel.get("targets", [])
        if not targets:
            fail(f"panel {title!r} has no query")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or None in refs:
            fail(f"panel {title!r} has missing or repeated refIds")
        for t in [panel] + targets:
            if t.get("datasource", {}).get("uid") != datasource["uid"]:
                fail(f"panel {title!r} does not use the provisioned datasource")
        if kind == "heatmap" and any(t.get("format") != "heatmap" for t in targets):
            fail(f"heatmap {title!r} must query with format=heatmap")
    wanted = ["waiting", "admission rate", "eta accuracy", "holds", "payments",
              "heatmap", "5xx", "oversold", "ledger", "postgres pool"]
    for word in wanted:
        if not any(word in t for t in titles):
            fail(f"no panel about {word!r}")
    # Every query as a recording rule, so promtool parses the PromQL.
    rules = []
    for n, (title, expr) in enumerate(dashboard_exprs(dash)):
        expr = expr.replace("$__rate_interval", "1m").replace("$concert", ".*")
        rules.append({"record": f"dashboard:query:{n}", "expr": expr})
    Path(rules_out).write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done(f"grafana dashboard ({len(dash['panels'])} panels)")


# -------------------------------------------------------------------- settings

def documented_settings():
    """Environment variables of the README's configuration table."""
    names = set()
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


# ------------------------------------------------------------------ kubernetes

def check_k8s(rendered):
    docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    settings = documented_settings()
    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    if set(deployments) != {"gateway", "booking"}:
        fail(f"expected Deployments gateway and booking, found {sorted(deployments)}")
    for cm in by_kind.get("ConfigMap", []):
        for key in cm.get("data", {}):
            if key not in settings:
                fail(f"ConfigMap key {key} is not a documented setting")
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]
        labels = pod["metadata"]["labels"]
        spec = pod["spec"]
        if "replicas" in dep["spec"]:
            fail(f"{name}: replicas is set, but the HPA owns the count")
        grace = spec.get("terminationGracePeriodSeconds", 30)
        for c in spec["containers"]:
            ready = c.get("readinessProbe", {}).get("httpGet", {}).get("path")
            alive = c.get("livenessProbe", {}).get("httpGet", {}).get("path")
            if ready != "/readyz" or alive != "/healthz":
                fail(f"{name}: readiness must probe /readyz and liveness /healthz")
            command = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            if len(command) != 2 or command[0] != "sleep":
                fail(f"{name}: preStop must be a sleep")
            elif grace < int(command[1]) + 15:
                fail(f"{name}: termination grace {grace}s leaves no time to drain after preStop")
            for env in c.get("env", []):
                if env["name"] not in settings:
                    fail(f"{name}: env {env['name']} is not a documented setting")
        annotations = pod["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") != "true":
            fail(f"{name}: pods are not annotated for scraping")
        hpas = [h for h in by_kind.get("HorizontalPodAutoscaler", [])
                if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}]
        if len(hpas) != 1 or hpas[0]["spec"]["metrics"][0]["resource"]["name"] != "cpu":
            fail(f"{name}: needs exactly one CPU HorizontalPodAutoscaler")
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", [])
                if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        if len(pdbs) != 1:
            fail(f"{name}: needs exactly one PodDisruptionBudget selecting its pods")
        elif hpas and pdbs[0]["spec"].get("minAvailable", 0) >= hpas[0]["spec"]["minReplicas"]:
            fail(f"{name}: the PodDisruptionBudget would block every voluntary eviction")
        services = [s for s in by_kind.get("Service", [])
                    if s["spec"]["selector"].items() <= labels.items()]
        if len(services) != 1:
            fail(f"{name}: needs exactly one Service selecting its pods")
    jobs = by_kind.get("Job", [])
    if not any(c.get("args") == ["migrate"] for j in jobs for c in j["spec"]["template"]["spec"]["containers"]):
        fail("no migration Job running `booking migrate`")
    secrets = {s["metadata"]["name"] for s in by_kind.get("Secret", [])}
    for d in docs:
        for ref in re.findall(r"'?(?:secretName|name)'?: '?(ticketing-secrets[\w-]*)", yaml.safe_dump(d)):
            if ref not in secrets:
                fail(f"{d['kind']} {d['metadata']['name']} refers to missing Secret {ref}")
    done(f"kubernetes manifests ({len(docs)} objects)")


# --------------------------------------------------------------------- compose

def check_compose(schema_path):
    import jsonschema

    path = DEPLOY / "compose/compose.yaml"
    doc = yaml.safe_load(path.read_text())
    schema = json.loads(Path(schema_path).read_text())
    # The schema shipped with docker-compose 1.29 predates the top-level
    # `name` of today's Compose Specification.
    schema.setdefault("properties", {})["name"] = {"type": "string"}
    validator = jsonschema.Draft201909Validator(schema)
    for error in validator.iter_errors(doc):
        fail(f"{'/'.join(map(str, error.path))}: {error.message[:200]}")
    services = doc["services"]
    wanted = {"redis", "postgres", "migrate", "gateway-1", "gateway-2",
              "booking-1", "booking-2", "nginx", "prometheus", "grafana"}
    if not wanted <= set(services):
        fail(f"missing services: {sorted(wanted - set(services))}")
    settings = documented_settings()
    for name, svc in services.items():
        image = svc.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        if not tag or tag == "latest":
            fail(f"{name}: image {image!r} is not pinned to a version")
        for dep in svc.get("depends_on", {}):
            if dep not in services:
                fail(f"{name} depends on unknown service {dep}")
        if name.startswith(("gateway", "booking", "migrate")):
            for key in svc.get("environment", {}):
                if key not in settings:
                    fail(f"{name}: {key} is not a documented setting")
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(".") and not (path.parent / source).exists():
                fail(f"{name}: mounts {source}, which does not exist")
    prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    for job in prometheus["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host = target.split(":")[0]
            if host != "localhost" and host not in services:
                fail(f"Prometheus scrapes {target}, which is not a compose service")
    # One nginx configuration (deploy/nginx/nginx.conf) for compose and the
    # local replicas; compose adds only its replica lists and port.
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["nginx"].get("volumes", [])}
    if mounts.get("/etc/nginx/nginx.conf") != "../nginx/nginx.conf":
        fail("nginx does not run deploy/nginx/nginx.conf")
    for name in ("gateways.conf", "bookings.conf", "listen.conf"):
        if f"/etc/nginx/{name}" not in mounts:
            fail(f"nginx lacks /etc/nginx/{name}, which deploy/nginx/nginx.conf includes")
    for upstream, prefix in (("gateways", "gateway-"), ("bookings", "booking-")):
        hosts = re.findall(r"server\s+([\w-]+):\d+", (path.parent / f"nginx/{upstream}.conf").read_text())
        if not hosts:
            fail(f"nginx/{upstream}.conf names no replica")
        for host in hosts:
            if host not in services or not host.startswith(prefix):
                fail(f"nginx/{upstream}.conf forwards to {host}, which is not a {prefix}N service")
    trusted = services["gateway-1"]["environment"].get("TRUSTED_PROXIES", "")
    address = services["nginx"].get("networks", {}).get("default", {}).get("ipv4_address")
    if not address or trusted.replace(" ", "") != f"{address}/32":
        fail("the services must trust nginx's address, and only it (TRUSTED_PROXIES)")
    for dockerfile in ("gateway", "booking"):
        text = (DEPLOY / f"docker/{dockerfile}.Dockerfile").read_text()
        if text.count("\nFROM ") + text.startswith("FROM ") < 2 or "AS build" not in text:
            fail(f"{dockerfile}.Dockerfile is not a multi-stage build")
        if "USER " not in text:
            fail(f"{dockerfile}.Dockerfile runs as root")
    done("compose file and Dockerfiles")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"metrics": check_metrics, "docs": check_docs, "grafana": check_grafana,
     "k8s": check_k8s, "compose": check_compose}[command](*args)
