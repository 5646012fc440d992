"""Turn the runner's measurements (one JSON object per line) into the
Markdown tables of docs/benchmarks.md.

    python3 loadtest/report.py results.jsonl
"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by = {r["name"]: r for r in rows}


def ratio(name, base):
    a, b = by.get(name), by.get(base)
    return f"{a['rps'] / b['rps']:.2f}" if a and b and b["rps"] else "-"


def table(title, names, base):
    print(f"### {title}\n")
    print("| run | requests/s | ratio | p50 ms | p95 ms | p99 ms | errors | service CPU ms / 1k req |")
    print("|---|---|---|---|---|---|---|---|")
    for n in names:
        r = by.get(n)
        if not r:
            continue
        cpu = f"{r['cpu_ms_per_1k']:.1f}" if r.get("cpu_ms_per_1k") is not None else "-"
        print(f"| {n} | {r['rps']:.0f} | {ratio(n, base)} × {base} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
              f"{r['p99_ms']:.2f} | {r['errors']} | {cpu} |")
    print()


table("Throughput, closed loop (wrk)", ["baseline", "poll", "join"], "baseline")
table("Latency at half the measured rate, open model (k6)", ["poll@half", "join@half"], "poll")
table("Holds of free seats (wrk)", ["bare-update", "hold"], "bare-update")
table("Payments", ["pgbench-pay", "pay"], "pgbench-pay")
table("Scale: 1k vs 1M waiting users (k6, same rates)", ["poll@1k", "poll@1M", "join@1k", "join@1M"], "poll@1k")
extra = [r for r in rows if r.get("kind") == "fact"]
if extra:
    print("### Checks and facts\n")
    print("| what | value |")
    print("|---|---|")
    for r in extra:
        print(f"| {r['name']} | {r['value']} |")
    print()
