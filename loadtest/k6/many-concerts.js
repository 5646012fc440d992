// Many concerts on sale at once, every fan through one origin (the load
// balancer in front of the gateway and booking replicas).
//
// Fans arrive at RATE per second (open model) for DURATION, each a distinct
// logged-in user from FIRST_USER on (session token from SESSIONS_FILE, see
// lib.js `sessions`), and fan k joins concert CONCERTS[k mod n]
// (CONCERTS: comma-separated ids), so every concert gets the same share.
// A fan polls its ticket at the poll_after_ms the gateway answers until it
// is active, at most MAX_POLLS times (then it leaves the queue and counts in
// `fans_gave_up`). Once admitted it reads the concert's dates and the seat
// map of one of them with its access token, and leaves the queue (its
// active slot goes to the next fan). GATEWAY and BOOKING are the same URL
// when run through the load balancer.
//
// Failures: any 5xx or transport error (`server_errors`), a dropped
// iteration (k6 could not start a fan on time), any 4xx on the fan's path
// (`unexpected_answers`: a refused session token or access token, a lost
// ticket), and a p99 over P99_MS (default 2,000 ms: loose on purpose, a
// shared machine's hiccups should not fail the run, a stuck path should).
// `failed_steps` counts the failures by step (join, poll, dates, seats,
// leave), and each VU logs its first one.
//
//   k6 run -e GATEWAY=http://127.0.0.1:8080 -e BOOKING=http://127.0.0.1:8080 \
//     -e CONCERTS=1,2,3 -e RATE=100 -e DURATION=30s -e FIRST_USER=1 \
//     -e SESSIONS_FILE=sessions -e SESSIONS_FIRST_USER=1 loadtest/k6/many-concerts.js
import http from 'k6/http';
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { GATEWAY, BOOKING, DURATION, TREND_STATS, summaryTo, auth, sessions, watch, json } from './lib.js';

const CONCERTS = (__ENV.CONCERTS || '1').split(',').map((id) => Number(id.trim())).filter((id) => id > 0);
const RATE = Number(__ENV.RATE || 100);
const FIRST_USER = Number(__ENV.FIRST_USER || 1);
const MAX_POLLS = Number(__ENV.MAX_POLLS || 60);
const P99_MS = Number(__ENV.P99_MS || 2000);
const session = sessions();

const admitted = new Counter('fans_admitted');
const gaveUp = new Counter('fans_gave_up');
const unexpected = new Counter('unexpected_answers');
// Failures (5xx, transport errors, unexpected 4xx) by step of the path.
const failedSteps = new Counter('failed_steps');
const STEPS = ['join', 'poll', 'dates', 'seats', 'leave'];
const polls = new Trend('polls_per_fan');
const queueWait = new Trend('queue_wait_ms', true);
let logged = 0;

export const options = {
  scenarios: {
    // A fan lives for its wait in line (up to 8 s at the end of a 30 s
    // run) and a few requests: RATE × 15 VUs ready from the start, so that
    // k6 need not start VUs during the run (it drops arrivals meanwhile).
    fans: { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION,
      preAllocatedVUs: RATE * 15, maxVUs: RATE * 40, gracefulStop: '60s' },
  },
  thresholds: {
    server_errors: ['count==0'],
    http_req_failed: ['rate==0'],
    dropped_iterations: ['count==0'],
    unexpected_answers: ['count==0'],
    http_req_duration: [`p(99)<${P99_MS}`],
    // One per step, so that the summary counts failures by step.
    ...Object.fromEntries(STEPS.map((step) => [`failed_steps{step:${step}}`, ['count==0']])),
  },
  summaryTrendStats: TREND_STATS,
};

/** `res` of `step`, counted as a failure when it is not one of the `ok` statuses. */
function expect(step, res, ok) {
  watch(res);
  if (ok.includes(res.status)) return res;
  if (res.status < 500 && res.status !== 0) unexpected.add(1);
  failedSteps.add(1, { step });
  // The first failure of each VU, for the runner's log.
  if (logged < 1) {
    logged += 1;
    console.warn(`${step}: ${res.status} ${res.error_code || ''} ${res.error || ''} ${String(res.body || '').slice(0, 200)}`);
  }
  return res;
}

function tagged(token, name) {
  return Object.assign(auth(token), { tags: { name } });
}

export default function () {
  const k = exec.scenario.iterationInTest;
  const user = FIRST_USER + k;
  const concert = CONCERTS[k % CONCERTS.length];
  const joined = json(expect('join', http.post(`${GATEWAY}/v1/concerts/${concert}/queue`, null, tagged(session(user), 'join')), [200, 201]));
  if (!joined || !joined.ticket) return;
  const ticket = joined.ticket;
  const started = Date.now();
  let status = joined;
  let n = 0;
  while (status.status !== 'active') {
    if (status.status !== 'waiting' || n >= MAX_POLLS) {
      expect('leave', http.del(`${GATEWAY}/v1/concerts/${concert}/queue/me`, null, tagged(ticket, 'leave')), [204]);
      gaveUp.add(1);
      polls.add(n);
      return;
    }
    sleep((status.poll_after_ms || 1000) / 1000);
    n += 1;
    status = json(expect('poll', http.get(`${GATEWAY}/v1/concerts/${concert}/queue/status`, tagged(ticket, 'poll')), [200]));
    if (!status) { polls.add(n); return; }
  }
  polls.add(n);
  queueWait.add(Date.now() - started);
  admitted.add(1);
  const access = status.access_token;

  const dates = json(expect('dates', http.get(`${BOOKING}/v1/concerts/${concert}/schedules`, tagged(access, 'dates')), [200])) || [];
  if (dates.length > 0) {
    // The concert's fans take its dates in turn.
    const date = dates[Math.floor(k / CONCERTS.length) % dates.length];
    expect('seats', http.get(`${BOOKING}/v1/schedules/${date.schedule_id}/seats`, tagged(access, 'seats')), [200]);
  }
  expect('leave', http.del(`${GATEWAY}/v1/concerts/${concert}/queue/me`, null, tagged(access, 'leave')), [204]);
}

export function handleSummary(data) {
  return summaryTo(data);
}
