"""Join users to a concert's queue through the gateway and collect their
access tokens once admitted. Prints "<user_id> <access token>" lines.

    python3 loadtest/admit_users.py GATEWAY CONCERT FIRST_USER COUNT
"""
import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

gateway, concert, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])


def call(method, path, body=None, token=None):
    request = urllib.request.Request(gateway + path, method=method,
                                     data=json.dumps(body).encode() if body else None)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def admit(user):
    ticket = call("POST", f"/v1/concerts/{concert}/queue", {"user_id": user})["ticket"]
    for _ in range(200):
        status = call("GET", f"/v1/concerts/{concert}/queue/status", token=ticket)
        if status["status"] == "active":
            return f"{user} {status['access_token']}"
        time.sleep(0.2)
    raise SystemExit(f"user {user} was not admitted")


with ThreadPoolExecutor(max_workers=16) as pool:
    for line in pool.map(admit, range(first, first + count)):
        print(line)
