"""Reduce a k6 end-of-test summary to the runner's one-line JSON.

    python3 loadtest/k6_summary.py summary.json EXIT_CODE
"""
import json
import sys

try:
    data = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print(json.dumps({"requests": 0, "rps": 0, "p50_ms": 0, "p95_ms": 0, "p99_ms": 0, "errors": -1,
                      "thresholds_ok": False}))
    sys.exit(0)
m = data["metrics"]
duration = m.get("http_req_duration", {}).get("values", {})
reqs = m.get("http_reqs", {}).get("values", {})
failed = m.get("http_req_failed", {}).get("values", {})
dropped = m.get("dropped_iterations", {}).get("values", {}).get("count", 0)
thresholds_ok = all(t.get("ok", True) for v in m.values() for t in v.get("thresholds", {}).values())
print(json.dumps({
    "requests": int(reqs.get("count", 0)),
    "rps": reqs.get("rate", 0),
    "p50_ms": duration.get("med", 0),
    "p95_ms": duration.get("p(95)", 0),
    "p99_ms": duration.get("p(99)", 0),
    "errors": int(failed.get("passes", 0)),
    "dropped_iterations": int(dropped),
    "thresholds_ok": thresholds_ok and sys.argv[2] == "0",
}))
