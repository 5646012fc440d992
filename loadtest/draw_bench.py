"""Time the draw of a scheduled opening with COUNT pre-queue tickets.

    python3 loadtest/draw_bench.py GATEWAY ADMIN_TOKEN REDIS_PORT PREFIX CONCERT COUNT

Against a running gateway whose Redis (REDIS_PORT, a server of this run's
own: its slow log is reset and read) holds nothing else of note:

1. schedules the concert's opening an hour ahead (admin PATCH): the gateway
   picks the seed and the draw base;
2. fills COUNT pre-queue tickets straight into Redis with the gateway's key
   layout and numbers (`gateway/src/draw.rs`: draw_base + the first 51 bits
   of SHA-256(seed + ticket id)), as COUNT joins would have;
3. logs every Redis call from then on (SLOWLOG with a 0 µs threshold),
   opens the queue now (PATCH `opens_at: null`), waits until the seed is
   published and three more ticks ran;
4. prints one JSON line: the longest single Redis call after the opening
   (µs, and its command), the number of calls logged, and the time from the
   PATCH to the published seed.
"""
import hashlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

gateway, token, port, prefix, concert, count = sys.argv[1:7]
concert, count = int(concert), int(count)
base_key = f"{prefix}:{{c:{concert}}}"


class Redis:
    """Just enough of RESP to send commands and read their replies."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", int(port)))
        self.file = self.sock.makefile("rb")

    def __call__(self, *args):
        parts = [str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self.read()

    def read(self):
        line = self.file.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)[:-2]
            return data.decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")


redis = Redis(port)


def patch(body):
    request = urllib.request.Request(
        f"{gateway}/v1/admin/concerts/{concert}/queue", data=json.dumps(body).encode(), method="PATCH",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def stats():
    with urllib.request.urlopen(f"{gateway}/v1/concerts/{concert}/queue", timeout=30) as response:
        return json.load(response)


at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
patch({"opens_at": at, "admit_per_tick": 100, "max_active": 1000})
seed, base = redis("HMGET", f"{base_key}:config", "draw_seed", "draw_base")
base = int(base)

fill = subprocess.Popen(["redis-cli", "-p", port, "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
out = fill.stdin
now = int(time.time() * 1000)


def command(*parts):
    encoded = [str(p).encode() for p in parts]
    out.write(b"*%d\r\n" % len(encoded))
    for p in encoded:
        out.write(b"$%d\r\n%s\r\n" % (len(p), p))


first_user = 10_000_000
for i in range(count):
    ticket = str(uuid.uuid4())
    digest = hashlib.sha256((seed + ticket).encode()).digest()
    score = base + (int.from_bytes(digest[:8], "big") >> 13)
    command("ZADD", f"{base_key}:waiting", score, ticket)
    command("ZADD", f"{base_key}:seen", now, ticket)
    command("HSET", f"{base_key}:users", first_user + i, ticket)
    command("HSET", f"{base_key}:tickets", ticket, first_user + i)
out.close()
fill.wait()
assert stats()["waiting"] >= count, "the pre-queue was filled"

redis("CONFIG", "SET", "slowlog-max-len", 1_000_000)
redis("CONFIG", "SET", "slowlog-log-slower-than", 0)
redis("SLOWLOG", "RESET")
started = time.monotonic()
patch({"opens_at": None})
while stats()["draw_seed"] is None:
    time.sleep(0.01)
published_ms = (time.monotonic() - started) * 1000
tick = int(redis("GET", f"{base_key}:tick") or 0)
while int(redis("GET", f"{base_key}:tick") or 0) < tick + 3:
    time.sleep(0.05)
redis("CONFIG", "SET", "slowlog-log-slower-than", -1)

# Each entry: id, Unix time, duration (µs), arguments, client address, name.
entries = redis("SLOWLOG", "GET", 1_000_000)
longest = max(entries, key=lambda e: e[2])
print(json.dumps({
    "tickets": count,
    "calls_logged": len(entries),
    "longest_call_us": longest[2],
    "longest_call": " ".join(longest[3][:2]),
    "seed_published_after_ms": round(published_ms, 1),
    "summary": f"{longest[2]} µs ({longest[3][0]}), {len(entries)} calls, {published_ms:.0f} ms",
}))
