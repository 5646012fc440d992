"""Join users to a concert's queue through the gateway and collect their
access tokens once admitted. Prints "<user_id> <access token>" lines.

    python3 loadtest/admit_users.py GATEWAY CONCERT FIRST_USER COUNT SESSIONS_FILE

Each user joins with its own session token (`Authorization: Bearer`): line k
(from 0) of SESSIONS_FILE is the session token of user FIRST_USER + k, as
`booking mint-sessions FIRST_USER LAST` prints them.
"""
import http.client
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

gateway, concert, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(sys.argv[5]) as f:
    sessions = [line.strip() for line in f if line.strip()]
if len(sessions) < count:
    raise SystemExit(f"{sys.argv[5]} has {len(sessions)} session tokens, {count} are needed")
host = urlparse(gateway)
local = threading.local()


def call(method, path, token):
    """One request on this thread's keep-alive connection."""
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    local.conn.request(method, path, None, {"authorization": "Bearer " + token})
    response = local.conn.getresponse()
    body = response.read()
    if response.status >= 300:
        raise SystemExit(f"{method} {path}: {response.status} {body[:200]!r}")
    return json.loads(body)


def admit(user):
    joined = call("POST", f"/v1/concerts/{concert}/queue", sessions[user - first])
    status = joined
    for _ in range(600):
        if status["status"] == "active":
            return f"{user} {status['access_token']}"
        time.sleep(status.get("poll_after_ms", 250) / 1000)
        status = call("GET", f"/v1/concerts/{concert}/queue/status", joined["ticket"])
    raise SystemExit(f"user {user} was not admitted")


with ThreadPoolExecutor(max_workers=64) as pool:
    for line in pool.map(admit, range(first, first + count)):
        print(line)
