"""Redis CPU per poll of one concert's queue, at 1,000 and 1,000,000 waiting.

    python3 loadtest/hot_concert.py [PORT]      (default: a scratch redis-server on a free port)

Starts its own `redis-server` (no persistence) unless PORT is given, builds
one concert's queue with the gateway's key layout (`gateway/src/keys.rs`)
for each size, and sends the gateway's poll script (`status_fn.lua` +
`status.lua`, as `gateway/src/keys.rs` joins them) with batches of 1 and of
64 tickets, as the gateway's batcher does when polls arrive alone or
together. Reports, per size and batch: polls, Redis `usec_per_call` of
EVALSHA (`INFO commandstats`), µs of Redis CPU per poll (`INFO cpu`
used_cpu_user + used_cpu_sys, delta over the run) and the polls per second
one Redis core serves at that cost (1e6 / µs per poll).
"""
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "gateway", "src", "scripts")


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send(self, *parts):
        enc = [p if isinstance(p, bytes) else str(p).encode() for p in parts]
        out = [b"*%d\r\n" % len(enc)]
        for p in enc:
            out.append(b"$%d\r\n%s\r\n" % (len(p), p))
        self.sock.sendall(b"".join(out))

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 20)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 20)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")

    def call(self, *parts):
        self.send(*parts)
        return self.read()


def info(r, section):
    text = r.call("INFO", section).decode()
    return dict(l.split(":", 1) for l in text.splitlines() if ":" in l)


def cpu(r):
    i = info(r, "cpu")
    return float(i["used_cpu_user"]) + float(i["used_cpu_sys"])


def load_queue(port, base, count, now):
    """COUNT waiting tickets t<i> of users i, all seen at `now`."""
    cli = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL)
    out = []

    def command(*parts):
        enc = [str(p).encode() for p in parts]
        out.append(b"*%d\r\n" % len(enc) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in enc))
        if len(out) >= 10000:
            cli.stdin.write(b"".join(out))
            out.clear()

    for i in range(1, count + 1):
        command("ZADD", f"{base}:waiting", i, f"t{i}")
        command("ZADD", f"{base}:seen", now, f"t{i}")
        command("HSET", f"{base}:users", i, f"t{i}")
        command("HSET", f"{base}:tickets", f"t{i}", i)
    command("SET", f"{base}:seq", count)
    command("SET", f"{base}:epoch", 1)
    cli.stdin.write(b"".join(out))
    cli.stdin.close()
    cli.wait()


def measure(r, sha, base, count, batch, polls):
    keys = [f"{base}:{k}" for k in
            ("seq", "waiting", "active", "seen", "users", "tickets", "config", "tick", "admits",
             "stats", "epoch")]
    rng = random.Random(7)
    calls = polls // batch
    r.call("CONFIG", "RESETSTAT")
    before = cpu(r)
    in_flight = 0
    for _ in range(calls):
        now = int(time.time() * 1000)
        args = [now, 3_600_000]
        for _ in range(batch):
            i = rng.randint(1, count)
            args += [f"t{i}", i, "", ""]
        r.send("EVALSHA", sha, len(keys), *keys, *args)
        in_flight += 1
        if in_flight == 32:  # a few calls in flight, like the gateway's pipelining
            for _ in range(in_flight):
                r.read()
            in_flight = 0
    for _ in range(in_flight):
        r.read()
    used = cpu(r) - before
    stats = info(r, "commandstats").get("cmdstat_evalsha", "")
    fields = dict(kv.split("=") for kv in stats.split(","))
    usec_per_call = float(fields["usec_per_call"])
    per_poll_cpu = used * 1e6 / (calls * batch)
    per_poll_cmd = usec_per_call / batch
    return calls * batch, usec_per_call, per_poll_cmd, per_poll_cpu


def main():
    own = len(sys.argv) < 2
    if own:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        workdir = tempfile.mkdtemp(prefix="hot-concert.")
        server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", workdir],
                                  stdout=subprocess.DEVNULL)
        for _ in range(100):
            try:
                Redis(port).call("PING")
                break
            except OSError:
                time.sleep(0.05)
    else:
        port = int(sys.argv[1])
    try:
        r = Redis(port)
        body = open(os.path.join(SCRIPTS, "status_fn.lua")).read() + "\n" + \
            open(os.path.join(SCRIPTS, "status.lua")).read()
        sha = r.call("SCRIPT", "LOAD", body).decode()
        print("| waiting | batch | polls | EVALSHA µs per call | Redis µs per poll (commandstats) "
              "| Redis CPU µs per poll (INFO cpu) | polls/s one core serves |")
        print("|---|---|---|---|---|---|---|")
        for count in (1_000, 1_000_000):
            base = f"hot:{count}:{{c:1}}"
            load_queue(port, base, count, int(time.time() * 1000))
            for batch, polls in ((1, 20_000), (64, 200_000)):
                n, per_call, per_poll, per_poll_cpu = measure(r, sha, base, count, batch, polls)
                print(f"| {count:,} | {batch} | {n:,} | {per_call:.1f} | {per_poll:.2f} "
                      f"| {per_poll_cpu:.2f} | {1e6 / per_poll_cpu:,.0f} |", flush=True)
    finally:
        if own:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
