"""Join users to a concert's queue through the gateway and collect their
access tokens once admitted. Prints "<user_id> <access token>" lines.

    python3 loadtest/admit_users.py GATEWAY CONCERT FIRST_USER COUNT
"""
import http.client
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

gateway, concert, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
host = urlparse(gateway)
local = threading.local()


def call(method, path, body=None, token=None):
    """One request on this thread's keep-alive connection."""
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    local.conn.request(method, path, json.dumps(body) if body else None, headers)
    response = local.conn.getresponse()
    return json.loads(response.read())


def admit(user):
    joined = call("POST", f"/v1/concerts/{concert}/queue", {"user_id": user})
    status = joined
    for _ in range(600):
        if status["status"] == "active":
            return f"{user} {status['access_token']}"
        time.sleep(status.get("poll_after_ms", 250) / 1000)
        status = call("GET", f"/v1/concerts/{concert}/queue/status", token=joined["ticket"])
    raise SystemExit(f"user {user} was not admitted")


with ThreadPoolExecutor(max_workers=64) as pool:
    for line in pool.map(admit, range(first, first + count)):
        print(line)
