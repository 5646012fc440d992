"""Turn loadtest/many_concerts.sh's measurements (one JSON object per line)
into the Markdown tables of docs/benchmarks.md, "Many concerts, one cluster".

    python3 loadtest/many_report.py results.jsonl
"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
runs = {r["name"]: r for r in rows if "kind" not in r}
facts = [r for r in rows if r.get("kind") == "fact"]
masters = [r for r in rows if r.get("kind") == "master"]
concerts = [r for r in rows if r.get("kind") == "concert"]
HALVES = (("single", "one Redis"), ("cluster", "Redis Cluster"))


def fmt(v, digits=1):
    return "-" if v is None or v != v else f"{v:,.{digits}f}"


def ratio(a, b):
    return "-" if a is None or b is None or not b else f"{a / b:.2f}"


print("| run | requests/s | × its baseline | p50 ms | p95 ms | p99 ms | 5xx | dropped | "
      "gateways + bookings CPU ms / 1k req | nginx CPU ms / 1k req | Redis CPU ms / 1k req (all servers) | "
      "Redis masters CPU ms / 1k req | Redis commands / req | Redis script calls / req |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for half, label in HALVES:
    base = runs.get(f"baseline-{half}")
    for name, what in ((f"baseline-{half}", f"baseline `GET /` (wrk, {label} half)"),
                       (f"sale-{half}", f"sale over the concerts through nginx (k6), {label}"),
                       (f"joins-{half}", f"joins at full speed through nginx (wrk), {label}")):
        r = runs.get(name)
        if not r:
            continue
        # k6: 5xx and transport errors; wrk: every answer other than 2xx.
        errors = r.get("server_errors", r["errors"])
        x = "" if name.startswith("baseline") else ratio(r["rps"], base and base["rps"])
        print(f"| {what} | {r['rps']:,.0f} | {x} | {fmt(r['p50_ms'], 2)} | {fmt(r['p95_ms'], 2)} | "
              f"{fmt(r['p99_ms'], 2)} | {errors} | {r.get('dropped_iterations', '-')} | {fmt(r['cpu_ms_per_1k'])} | "
              f"{fmt(r['nginx_cpu_ms_per_1k'])} | {fmt(r['redis_cpu_ms_per_1k'])} | "
              f"{fmt(r.get('redis_masters_cpu_ms_per_1k'))} | "
              f"{fmt(r.get('redis_commands_per_req'), 2)} | {fmt(r.get('redis_scripts_per_req'), 2)} |")
print()

print("Cluster ÷ single (same settings, same arrival rate):\n")
print("| run | requests/s | × baseline | p50 | p95 | p99 | gateways + bookings CPU / req | nginx CPU / req | "
      "Redis CPU / req (all servers) | Redis masters CPU / req | Redis commands / req | Redis script calls / req |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for kind in ("baseline", "sale", "joins"):
    s, c = runs.get(f"{kind}-single"), runs.get(f"{kind}-cluster")
    if not s or not c:
        continue
    bs, bc = runs.get("baseline-single"), runs.get("baseline-cluster")
    per_base = "-" if kind == "baseline" or not (bs and bc) else ratio(c["rps"] / bc["rps"], s["rps"] / bs["rps"])
    print(f"| {kind} | {ratio(c['rps'], s['rps'])} | {per_base} | {ratio(c['p50_ms'], s['p50_ms'])} | "
          f"{ratio(c['p95_ms'], s['p95_ms'])} | {ratio(c['p99_ms'], s['p99_ms'])} | "
          f"{ratio(c.get('cpu_ms_per_1k'), s.get('cpu_ms_per_1k'))} | "
          f"{ratio(c.get('nginx_cpu_ms_per_1k'), s.get('nginx_cpu_ms_per_1k'))} | "
          f"{ratio(c.get('redis_cpu_ms_per_1k'), s.get('redis_cpu_ms_per_1k'))} | "
          f"{ratio(c.get('redis_masters_cpu_ms_per_1k'), s.get('redis_masters_cpu_ms_per_1k'))} | "
          f"{ratio(c.get('redis_commands_per_req'), s.get('redis_commands_per_req'))} | "
          f"{ratio(c.get('redis_scripts_per_req'), s.get('redis_scripts_per_req'))} |")
print()

print("The sale's fans (k6):\n")
print("| half | fans | admitted | gave up | polls per fan, median / max | wait in line ms, median / p95 "
      "| other 4xx on the path | thresholds |")
print("|---|---|---|---|---|---|---|---|")
for half, label in HALVES:
    r = runs.get(f"sale-{half}")
    if not r:
        continue
    print(f"| {label} | {r.get('fans', 0):,} | {r.get('fans_admitted', 0):,} | {r.get('fans_gave_up', 0):,} | "
          f"{fmt(r.get('polls_per_fan_med'), 0)} / {fmt(r.get('polls_per_fan_max'), 0)} | "
          f"{fmt(r.get('queue_wait_med_ms'), 0)} / {fmt(r.get('queue_wait_p95_ms'), 0)} | "
          f"{r.get('unexpected_answers', '-')} | {'met' if r.get('thresholds_ok') else 'FAILED'} |")
print()
for half, label in HALVES:
    failed = runs.get(f"sale-{half}", {}).get("failed_steps")
    if failed:
        print(f"- {label}: failed requests by step of the path: " + ", ".join(f"{k} {v}" for k, v in failed.items()))
        print()

if masters:
    total_cpu = sum(m["cpu_ms"] for m in masters) or 1
    total_cmds = sum(m.get("commands", 0) for m in masters) or 1
    print("Keys and load on the cluster's masters (keys: `DBSIZE` after the sale, the cluster is the run's own; "
          "per concert `CLUSTER COUNTKEYSINSLOT` of its `{c:<id>}` slot; CPU and commands: `INFO` during the sale):\n")
    print("| master | concerts | concert (slot): keys | keys (DBSIZE) | CPU during the sale ms (share) "
          "| commands during the sale (share) |")
    print("|---|---|---|---|---|---|")
    for m in sorted(masters, key=lambda m: m["port"]):
        mine = sorted((c for c in concerts if c["port"] == m["port"]), key=lambda c: c["concert"])
        listed = ", ".join(f"{c['concert']} ({c['slot']}): {c['keys']}" for c in mine)
        print(f"| :{m['port']} | {len(mine)} | {listed} | {m['keys']} | {m['cpu_ms']:,} "
              f"({100 * m['cpu_ms'] / total_cpu:.0f} %) | {m.get('commands', 0):,} "
              f"({100 * m.get('commands', 0) / total_cmds:.0f} %) |")
    print()

for f in facts:
    print(f"- {f['name']}: {f['value']}")
