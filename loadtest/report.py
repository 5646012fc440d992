"""Turn the runner's measurements (one JSON object per line) into the
Markdown tables of docs/benchmarks.md, including the targets and whether
this run met them.

    python3 loadtest/report.py results.jsonl
"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by = {r["name"]: r for r in rows if r.get("kind") != "fact"}
facts = {r["name"]: r["value"] for r in rows if r.get("kind") == "fact"}


def fmt(v, digits=2):
    return "-" if v is None or v != v else f"{v:.{digits}f}"


def table(title, names, base=None):
    present = [n for n in names if n in by]
    if not present:
        return
    print(f"### {title}\n")
    print("| run | requests/s | " + (f"× {base} | " if base else "") +
          "p50 ms | p95 ms | p99 ms | errors | dropped | service CPU ms / 1k req | Redis + Postgres CPU ms / 1k req |")
    print("|---|---|" + ("---|" if base else "") + "---|---|---|---|---|---|---|")
    for n in present:
        r = by[n]
        ratio = f"{r['rps'] / by[base]['rps']:.2f} | " if base and base in by and by[base]["rps"] else ("- | " if base else "")
        dropped = r.get("dropped_iterations", "-")
        print(f"| {n} | {r['rps']:.0f} | {ratio}{fmt(r['p50_ms'])} | {fmt(r['p95_ms'])} | {fmt(r['p99_ms'])} | "
              f"{r['errors']} | {dropped} | {fmt(r.get('cpu_ms_per_1k'), 1)} | {fmt(r.get('stores_cpu_ms_per_1k'), 1)} |")
    print()


table("Throughput, closed loop (wrk, 50 connections)",
      ["baseline", "baseline-as-poll", "poll-before", "poll", "join-before", "join", "rejoin", "baseline-again"], "baseline")
table("Latency at half the measured rate (wrk, paced)", ["poll@half", "join@half"])
table("The queue scenario, open model (k6: 1,000 waiting users polling at the gateway's cadence + 300 joins/s)", ["queue-k6"])
table("Seat map reads (wrk, 50 connections; 4 dates with 10 holds each, a different fan each request)",
      ["baseline-seats", "seats-before", "seats"], "baseline-seats")
table("Holds of free seats (wrk) and hold storms (k6)", ["bare-update", "hold-before", "hold", "storm-50-seats", "storm-one-seat"], "bare-update")
table("Payments: the pgbench transaction and the HTTP endpoint", ["pgbench-pay", "pay"], "pgbench-pay")
table("Flash sale (k6): one replica of each service, then through nginx in front of two", ["flash-sale", "replicated-flash-sale"])
table("Scale: 1k vs 1M waiting users, same arrival rates (k6)", ["poll@1k", "poll@1M", "join@1k", "join@1M"])
table("ETA calibration: a real line (k6 eta.js; the figures are in Checks)", ["eta"])

if facts:
    print("### Checks\n")
    print("| what | value |")
    print("|---|---|")
    for name, value in facts.items():
        print(f"| {name} | {value} |")
    print()


def get(name, key="rps"):
    return by.get(name, {}).get(key)


def ratio(a, b, key="rps"):
    x, y = get(a, key), get(b, key)
    return x / y if x is not None and y else None


targets = []
r = ratio("poll", "baseline")
same = ratio("poll", "baseline-as-poll")
targets.append(("poll ≥ 0.6 × baseline requests/s", f"{fmt(r)} ({fmt(same)} against the baseline driven by the same client script)",
                r is not None and r >= 0.6))
p = get("poll@half", "p99_ms")
rate = get("poll@half")
targets.append(("poll p99 ≤ 10 ms at half the poll rate", f"{fmt(p)} ms at {fmt(rate, 0)} requests/s", p is not None and p <= 10))
r = ratio("join", "baseline")
targets.append(("join ≥ 0.3 × baseline", fmt(r), r is not None and r >= 0.3))
targets.append(("join with a session token to verify (first join) ≥ 0.2 × baseline", fmt(r), r is not None and r >= 0.2))
r = ratio("seats", "baseline-seats")
targets.append(("seat map ≥ 0.3 × the bare handler (measured right before it)", fmt(r), r is not None and r >= 0.3))
r = ratio("pay", "pgbench-pay")
targets.append(("pay ≥ 0.6 × pgbench TPS of the same transaction", fmt(r), r is not None and r >= 0.6))
r = ratio("hold", "bare-update")
targets.append(("hold ≥ 0.8 × a bare conditional-UPDATE handler", fmt(r), r is not None and r >= 0.8))
one = facts.get("storm, 10,000 requests for one seat: holds in Postgres")
redis_refused = facts.get("storm, 10,000 requests for one seat: refused in Redis (never reached Postgres)")
sent = get("storm-one-seat", "requests")
targets.append(("10,000 requests for one seat: one success, the rest refused in Redis",
                f"{one} success, {redis_refused} of {sent} refused in Redis",
                sent == 10000 and one == "1" and redis_refused == str(sent - 1)))
for kind in ("poll", "join"):
    r = ratio(f"{kind}@1M", f"{kind}@1k", "p99_ms")
    targets.append((f"{kind} p99 at 1M waiting ≤ 1.5 × at 1k", fmt(r), r is not None and r <= 1.5))
oversold = facts.get("flash sale: oversold seats (more than one live reservation)")
errors5xx = facts.get("flash sale: 5xx answers")
sold, seats = facts.get("flash sale: seats sold (confirmed and paid)"), facts.get("flash sale: seats")
targets.append(("flash sale: 0 oversold, 0 5xx, every seat sold once",
                f"{oversold} oversold, {errors5xx} 5xx, {sold}/{seats} sold",
                oversold == "0" and errors5xx == "0" and sold == seats))
for kind, base, what in (("seats", "baseline-seats", "Seat map"), ("hold", "bare-update", "Holds")):
    if f"{kind}-before" not in by:
        continue
    print(f"### {what} before and after (same run, against the bare handler measured right before)\n")
    b, a = get(f"{kind}-before"), get(kind)
    print("| run | before req/s | × bare handler | after req/s | × bare handler | after / before |")
    print("|---|---|---|---|---|---|")
    print(f"| {kind} | {fmt(b, 0)} | {fmt(ratio(f'{kind}-before', base))} | {fmt(a, 0)} | "
          f"{fmt(ratio(kind, base))} | {fmt(ratio(kind, f'{kind}-before'))} |")
    print()
oversold = facts.get("replicated flash sale: oversold seats (more than one live reservation)")
twice = facts.get("replicated flash sale: seats sold more than once (more than one paid reservation)")
errors5xx = facts.get("replicated flash sale: 5xx answers")
sold, seats = facts.get("replicated flash sale: seats sold (confirmed and paid)"), facts.get("replicated flash sale: seats")
ledger = facts.get("all users: balances differing from their ledger")
targets.append(("replicated flash sale through nginx: 0 oversold, 0 5xx, every seat sold once, ledgers equal balances",
                f"{oversold} oversold, {twice} sold twice, {errors5xx} 5xx, {sold}/{seats} sold, {ledger} balances off their ledger"
                if sold is not None else "-",
                oversold == "0" and twice == "0" and errors5xx == "0" and sold == seats and ledger == "0"))
if "join-before" in by or "poll-before" in by:
    print("### Before and after (same run, each against this run's baseline)\n")
    if facts.get("before: the gateway of commit"):
        print(f"Before: the gateway of commit {facts['before: the gateway of commit']}, with its own wrk scripts.\n")
    print("| run | before req/s | × baseline | after req/s | × baseline | after / before |")
    print("|---|---|---|---|---|---|")
    for kind in ("poll", "join"):
        b, a = get(f"{kind}-before"), get(kind)
        print(f"| {kind} | {fmt(b, 0)} | {fmt(ratio(f'{kind}-before', 'baseline'))} | {fmt(a, 0)} | "
              f"{fmt(ratio(kind, 'baseline'))} | {fmt(ratio(kind, f'{kind}-before'))} |")
    print()

print("### Targets\n")
print("| target | this run | met |")
print("|---|---|---|")
for name, value, met in targets:
    # A target whose figures this run did not measure (SCENARIOS) is not judged.
    measured = value not in ("-", "None") and not value.startswith(("- ", "None "))
    print(f"| {name} | {value} | {('yes' if met else 'no') if measured else 'not run'} |")
k6 = [r for r in rows if "thresholds_ok" in r]
if k6:
    print()
    print("k6 thresholds: " + ", ".join(f"{r['name']} {'passed' if r['thresholds_ok'] else 'FAILED'}" for r in k6))
