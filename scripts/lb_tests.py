"""The contract through the load balancer: tests against nginx in front of
two gateways and two bookings (scripts/replicas.sh), run by scripts/lb-tests.sh.

Every answer a client gets through nginx must be the contract's
(API.md "Errors"): problem+json with `type`, `title`, `status` and `code`,
`Retry-After` on 503 — whether a replica or nginx itself answers.

Each test talks from its own loopback address (127.0.0.x): nginx appends it
to X-Forwarded-For and the replicas, which trust only nginx (127.0.0.1),
budget each address on its own (API.md "Limits").

Environment: LB_URL, GATEWAY_1.., BOOKING_1.. (scripts/replicas.sh's env
file), LB_DIR (its pid files), LB_UPSTREAM_TIMEOUT (how long nginx waits on a
silent replica; 30 s when unset), REPLICAS (the replicas script), ADMIN_TOKEN,
RATE_LIMIT_IP_PER_SEC. Standard library only.
"""

import http.client
import json
import os
import random
import signal
import subprocess
import time
import unittest
import urllib.parse
import uuid

LB = urllib.parse.urlsplit(os.environ["LB_URL"])
ADMIN = os.environ["ADMIN_TOKEN"]
IP_PER_SEC = int(os.environ["RATE_LIMIT_IP_PER_SEC"])
REPLICAS = os.environ["REPLICAS"]
LB_DIR = os.environ["LB_DIR"]
UPSTREAM_TIMEOUT = int(os.environ.get("LB_UPSTREAM_TIMEOUT") or 30)


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def request(method, path, body=None, headers=None, source="127.0.0.1", base=LB, timeout=10):
    """One request on a fresh connection from `source` (a loopback address)."""
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=timeout, source_address=(source, 0))
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        hdrs = {"content-type": "application/json"} if body is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        res = conn.getresponse()
        return Answer(res.status, {k.lower(): v for k, v in res.getheaders()}, res.read())
    finally:
        conn.close()


def bearer(token):
    return {"authorization": f"Bearer {token}"}


def replicas(service):
    """The replicas' own URLs (GATEWAY_1, GATEWAY_2, …)."""
    out, k = [], 1
    while f"{service}_{k}" in os.environ:
        out.append(urllib.parse.urlsplit(os.environ[f"{service}_{k}"]))
        k += 1
    return out


def replicas_script(*args):
    subprocess.run([REPLICAS, *args], check=True, stdout=subprocess.DEVNULL)


def wait_until(what, check, deadline_s=20):
    """Poll `check` until it returns something true; fail after the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {deadline_s} s")
        time.sleep(0.1)


class Contract(unittest.TestCase):
    def assert_problem(self, answer, status, code):
        """The contract's error answer (API.md "Errors")."""
        self.assertEqual(answer.status, status, answer.body[:300])
        self.assertTrue(answer.headers.get("content-type", "").startswith("application/problem+json"),
                        f"content-type {answer.headers.get('content-type')}: {answer.body[:200]}")
        body = answer.json()
        for field in ("type", "title", "status", "code"):
            self.assertIn(field, body)
        self.assertEqual(body["status"], status)
        self.assertEqual(body["code"], code)
        if status in (429, 503):
            self.assertGreaterEqual(int(answer.headers["retry-after"]), 1)
        return body


def create_user(source):
    name = f"lb-{uuid.uuid4().hex[:8]}"
    user = request("POST", "/v1/admin/users", {"name": name, "password": "concert-demo"}, bearer(ADMIN), source)
    assert user.status == 201, user.body
    return user.json()["user_id"]


def create_concert(source, dates=1):
    starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400))
    body = {"title": "Replicas live", "venue": "Hall", "schedules": [{"starts_at": starts, "price": 50000, "seats": 50}] * dates}
    concert = request("POST", "/v1/admin/concerts", body, bearer(ADMIN), source)
    assert concert.status == 201, concert.body
    return concert.json()


def login(user_id, source):
    answer = request("POST", "/v1/sessions", {"user_id": user_id, "password": "concert-demo"}, source=source)
    assert answer.status == 201, answer.body
    return answer.json()["session_token"]


class BadInput(Contract):
    """Bad input gets the services' 400 through nginx, and nginx's own
    refusals (over-long header or path, unknown route) are problem+json too."""

    SRC = "127.0.0.11"

    def test_malformed_json_is_the_services_400(self):
        answer = request("POST", "/v1/sessions", "{", source=self.SRC)
        self.assert_problem(answer, 400, "INVALID_REQUEST")

    def test_bad_path_parameter_is_400_at_either_service(self):
        self.assert_problem(request("GET", "/v1/concerts/abc/queue", source=self.SRC), 400, "INVALID_REQUEST")
        self.assert_problem(request("GET", "/v1/concerts/abc/schedules", headers=bearer("x.y.z"), source=self.SRC),
                            401, "UNAUTHENTICATED")

    def test_over_long_header_is_problem_json(self):
        answer = request("GET", "/v1/concerts", headers={"x-filler": "a" * 20000}, source=self.SRC)
        self.assert_problem(answer, 400, "INVALID_REQUEST")

    def test_over_long_path_is_problem_json(self):
        answer = request("GET", "/v1/concerts/" + "1" * 20000, source=self.SRC)
        self.assert_problem(answer, 400, "INVALID_REQUEST")

    def test_metrics_are_not_public(self):
        self.assert_problem(request("GET", "/metrics", source=self.SRC), 404, "NOT_FOUND")

    def test_request_id_is_echoed_in_nginx_answers(self):
        answer = request("GET", "/metrics", headers={"x-request-id": "lb-test-1"}, source=self.SRC)
        self.assertEqual(answer.json()["request_id"], "lb-test-1")
        self.assertEqual(answer.headers["x-request-id"], "lb-test-1")


class BodyLimit(Contract):
    """A body over 64 KiB is 413 PAYLOAD_TOO_LARGE problem+json (not nginx's
    HTML), and a body of exactly 64 KiB still reaches the service."""

    SRC = "127.0.0.12"

    def test_over_the_limit_is_413_problem_json(self):
        for size in (64 * 1024 + 1, 1024 * 1024):
            body = '{"user_id": 1, "password": "' + "a" * size + '"}'
            answer = request("POST", "/v1/sessions", body, source=self.SRC)
            self.assert_problem(answer, 413, "PAYLOAD_TOO_LARGE")

    def test_at_the_limit_the_service_answers(self):
        head = '{"user_id": 1, "password": "wrong-password"}'
        body = head + " " * (64 * 1024 - len(head))
        self.assertEqual(len(body), 64 * 1024)
        answer = request("POST", "/v1/sessions", body, source=self.SRC)
        self.assert_problem(answer, 401, "UNAUTHENTICATED")


class RateLimits(Contract):
    """Client addresses behind nginx are budgeted separately, and a client
    cannot escape its budget by sending its own X-Forwarded-For."""

    def test_addresses_are_budgeted_separately_and_cannot_be_forged(self):
        flooder, other = "127.0.0.21", "127.0.0.22"
        # More than the budget of every replica together (bursts of twice
        # the rate each).
        answers = [request("GET", "/v1/concerts", source=flooder) for _ in range(8 * IP_PER_SEC + 20)]
        limited = [a for a in answers if a.status == 429]
        self.assertGreaterEqual(len(limited), 20, [a.status for a in answers])
        for answer in limited:
            self.assert_problem(answer, 429, "RATE_LIMITED")
        self.assertTrue(all(a.status in (200, 429) for a in answers), [a.status for a in answers])
        # Another address has its own budget.
        self.assertEqual(request("GET", "/v1/concerts", source=other).status, 200)
        # The flooder naming other addresses in X-Forwarded-For is still the
        # flooder: a fresh budget per forged address would let all through.
        forged = [request("GET", "/v1/concerts", source=flooder,
                          headers={"x-forwarded-for": f"203.0.113.{i}, 198.51.100.{i}"}).status for i in range(1, 21)]
        self.assertGreaterEqual(forged.count(429), 14, forged)


class Journey(Contract):
    """login → join → admitted → hold → pay through nginx, with requests
    spread over both replicas of each service."""

    SRC = "127.0.0.31"

    def test_login_join_admit_hold_pay_across_replicas(self):
        concert = create_concert(self.SRC)
        cid, schedule = concert["concert_id"], concert["schedules"][0]["schedule_id"]
        before = {s: [served(u) for u in replicas(s)] for s in ("GATEWAY", "BOOKING")}
        for seat in (1, 2, 3, 4):
            user = create_user(self.SRC)
            session = login(user, self.SRC)
            joined = request("POST", f"/v1/concerts/{cid}/queue", headers=bearer(session), source=self.SRC)
            self.assertEqual(joined.status, 201, joined.body)
            ticket = joined.json()["ticket"]

            def admitted():
                status = request("GET", f"/v1/concerts/{cid}/queue/status", headers=bearer(ticket), source=self.SRC)
                self.assertIn(status.status, (200, 429), status.body)
                body = status.json()
                if status.status == 429:
                    time.sleep(int(status.headers["retry-after"]))
                    return None
                return body.get("access_token")

            access = wait_until("admission", admitted)
            seats = request("GET", f"/v1/schedules/{schedule}/seats", headers=bearer(access), source=self.SRC)
            self.assertEqual(seats.status, 200, seats.body)
            hold = request("POST", "/v1/reservations", {"schedule_id": schedule, "seat_number": seat},
                           bearer(access), self.SRC)
            self.assertEqual(hold.status, 201, hold.body)
            reservation = hold.json()
            charge = request("POST", f"/v1/users/{user}/balance/charge", {"amount": reservation["price"]},
                             {**bearer(session), "idempotency-key": f"charge-{reservation['reservation_id']}"},
                             self.SRC)
            self.assertEqual(charge.status, 200, charge.body)
            paid = request("POST", "/v1/payments", {"reservation_id": reservation["reservation_id"]},
                           {**bearer(access), "idempotency-key": f"pay-{reservation['reservation_id']}"}, self.SRC)
            self.assertEqual(paid.status, 201, paid.body)
            self.assertEqual(paid.json()["balance"], 0)
            # The access token ended with the payment, on every replica.
            again = request("GET", f"/v1/schedules/{schedule}/seats", headers=bearer(access), source=self.SRC)
            self.assert_problem(again, 403, "NOT_ADMITTED")
            balance = request("GET", f"/v1/users/{user}/balance", headers=bearer(session), source=self.SRC)
            self.assertEqual(balance.json()["balance"], 0)
        # Every replica served part of the journey.
        for service, urls in (("GATEWAY", replicas("GATEWAY")), ("BOOKING", replicas("BOOKING"))):
            after = [served(u) for u in urls]
            for k, (b, a) in enumerate(zip(before[service], after), start=1):
                self.assertGreater(a, b, f"{service}_{k} served none of the journey")


def served(url):
    """Requests a replica has answered (its /metrics, scraped directly)."""
    text = request("GET", "/metrics", base=url).body.decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("http_requests_total{") and 'route="/metrics"' not in line)


def process_state(pid):
    """The state letter of a process (R, S, T for stopped, …)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


class HungReplicas(Contract):
    """Every replica of a service accepts connections but never answers
    (stopped with SIGSTOP, not killed): nginx waits LB_UPSTREAM_TIMEOUT on
    each, then answers 503 UNAVAILABLE problem+json with Retry-After, not its
    own HTML 504. Once they resume, the service answers normally again.
    Runs before Outages, after the tests that need every replica."""

    SRC = "127.0.0.51"

    def test_every_gateway_hangs_then_resumes(self):
        concert = create_concert(self.SRC)["concert_id"]
        path = f"/v1/concerts/{concert}/queue"
        self.assertEqual(request("GET", path, source=self.SRC).status, 200)
        urls = replicas("GATEWAY")
        pids = []
        for k in range(1, len(urls) + 1):
            with open(f"{LB_DIR}/gateway-{k}.pid") as pidfile:
                pids.append(int(pidfile.read()))
        try:
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            for pid in pids:
                wait_until(f"gateway {pid} stopped", lambda pid=pid: process_state(pid) == "T")
            started = time.monotonic()
            # Long enough for nginx to wait on both replicas in turn.
            answer = request("GET", path, source=self.SRC, timeout=2 * UPSTREAM_TIMEOUT + 20)
            waited = time.monotonic() - started
            body = self.assert_problem(answer, 503, "UNAVAILABLE")
            self.assertEqual(body["detail"], "no replica could answer; retry later")
            self.assertEqual(answer.headers["retry-after"], "1")
            # nginx's timeout answered, not a refused connection: the
            # replicas were reachable, only silent.
            self.assertGreaterEqual(waited, UPSTREAM_TIMEOUT - 0.5, f"503 after {waited:.1f} s")
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        # Back: every replica answers through nginx again (nginx gives a
        # replica it counted as failed another try after fail_timeout), and
        # a run of answers in a row is 200, whichever nginx worker took them.
        for url in urls:
            wait_until(f"{url.netloc} ready", lambda url=url: request("GET", "/readyz", base=url).status == 200)
        baseline = [served(url) for url in urls]
        streak, sources = [0], iter(f"127.0.2.{i % 250 + 1}" for i in range(100000))

        def normal():
            # A fresh address each time: the point is not the rate limits.
            status = request("GET", path, source=next(sources)).status
            streak[0] = streak[0] + 1 if status == 200 else 0
            return streak[0] >= 20 and all(served(u) > b for u, b in zip(urls, baseline))

        wait_until("every gateway answering through nginx again", normal, deadline_s=30)


class Outages(Contract):
    """A replica down: the other answers. Every replica of a service down:
    503 UNAVAILABLE problem+json with Retry-After. Runs last: it stops replicas."""

    SRC = "127.0.0.41"

    def test_one_replica_down_then_all(self):
        user = create_user(self.SRC)
        session = login(user, self.SRC)
        concert = create_concert(self.SRC)["concert_id"]
        replicas_script("stop", "gateway", "1")
        replicas_script("stop", "booking", "1")
        # Reads and writes of both services still succeed on the others,
        # however many times nginx picks the stopped replica first.
        # (Public reads from a fresh address each: the point is not the limits.)
        for i in range(10):
            public = f"127.0.0.{100 + i}"
            self.assertEqual(request("GET", f"/v1/concerts/{concert}/queue", source=public).status, 200)
            self.assertEqual(request("GET", "/", source=public).status, 200)
            self.assertEqual(request("GET", "/v1/concerts", source=public).status, 200)
            joined = request("POST", f"/v1/concerts/{concert}/queue", headers=bearer(session), source=self.SRC)
            self.assertIn(joined.status, (200, 201), joined.body)
            balance = request("GET", f"/v1/users/{user}/balance", headers=bearer(session), source=self.SRC)
            self.assertEqual(balance.status, 200, balance.body)
        replicas_script("stop", "gateway", "2")
        for path in (f"/v1/concerts/{concert}/queue", "/", "/.well-known/jwks.json"):
            self.assert_problem(request("GET", path, source=self.SRC), 503, "UNAVAILABLE")
        answer = request("POST", f"/v1/concerts/{concert}/queue", headers=bearer(session), source=self.SRC)
        self.assert_problem(answer, 503, "UNAVAILABLE")
        replicas_script("stop", "booking", "2")
        answer = request("POST", "/v1/sessions", {"user_id": 1, "password": "concert-demo"}, source=self.SRC)
        self.assert_problem(answer, 503, "UNAVAILABLE")
        # Back: the first replica that returns gets the traffic again.
        replicas_script("start", "gateway", "1")
        wait_until("a gateway back behind nginx",
                   lambda: request("GET", f"/v1/concerts/{concert}/queue", source=self.SRC).status == 200)


if __name__ == "__main__":
    # Hung replicas, then outages, last: they stop replicas.
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for case in (BadInput, BodyLimit, RateLimits, Journey, HungReplicas, Outages):
        suite.addTests(loader.loadTestsFromTestCase(case))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    raise SystemExit(0 if result.wasSuccessful() else 1)
