"""Write Redis commands (RESP) that put COUNT waiting users into a concert's
queue with the gateway's key layout, for `redis-cli --pipe`.

    python3 loadtest/bulk_queue.py PREFIX CONCERT FIRST_USER COUNT | redis-cli --pipe
"""
import sys
import time
import uuid

prefix, concert, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
base = f"{prefix}:{{c:{concert}}}"
now = int(time.time() * 1000)
out = sys.stdout.buffer


def command(*parts):
    encoded = [str(p).encode() for p in parts]
    out.write(b"*%d\r\n" % len(encoded))
    for p in encoded:
        out.write(b"$%d\r\n%s\r\n" % (len(p), p))


for i in range(count):
    ticket = str(uuid.uuid4())
    user = first + i
    command("ZADD", f"{base}:waiting", i + 1, ticket)
    command("ZADD", f"{base}:seen", now, ticket)
    command("HSET", f"{base}:users", user, ticket)
    command("HSET", f"{base}:tickets", ticket, user)
command("SET", f"{base}:seq", count)
command("SADD", f"{prefix}:{{concerts}}:ids", concert)
