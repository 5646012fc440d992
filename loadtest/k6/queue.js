// The waiting room under load: joins of distinct users and status polls, each
// at a fixed arrival rate (open model: the gateway's slowness does not slow
// the arrivals down; iterations k6 could not start in time are counted in
// dropped_iterations, which must stay 0).
//
//   k6 run -e CONCERT=1 -e JOIN_RATE=2000 -e POLL_RATE=8000 -e TICKETS_FILE=tickets \
//     -e JOIN_FIRST_USER=100001 -e SESSIONS_FILE=sessions -e SESSIONS_FIRST_USER=100001 loadtest/k6/queue.js
//
// Join k of the run is user JOIN_FIRST_USER + k, with that user's session
// token (Authorization: Bearer) from SESSIONS_FILE (see lib.js `sessions`),
// which must hold at least JOIN_RATE × DURATION users from JOIN_FIRST_USER on.
// POLL_RATE 0 disables polls, JOIN_RATE 0 disables joins. Without a rate, polls
// follow the cadence the gateway asks for: tickets / (poll_after_ms / 1000).
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { GATEWAY, DURATION, TREND_STATS, summaryTo, sharedLines, sessions, auth } from './lib.js';

const CONCERT = __ENV.CONCERT || '1';
const JOIN_RATE = Number(__ENV.JOIN_RATE || 0);
const FIRST_USER = Number(__ENV.JOIN_FIRST_USER || 100001);
const P99_MS = Number(__ENV.P99_MS || 10);
const tickets = sharedLines('tickets', __ENV.TICKETS_FILE);
const session = JOIN_RATE > 0 ? sessions() : null;
const POLL_RATE = __ENV.POLL_RATE !== undefined ? Number(__ENV.POLL_RATE)
  : Math.round(tickets.length / (Number(__ENV.POLL_AFTER_MS || 2000) / 1000));

const scenarios = {};
const thresholds = { http_req_failed: ['rate<0.001'], dropped_iterations: ['count<1'] };
if (JOIN_RATE > 0) {
  scenarios.joins = { executor: 'constant-arrival-rate', rate: JOIN_RATE, timeUnit: '1s', duration: DURATION,
    preAllocatedVUs: 100, maxVUs: 1000, exec: 'join' };
  thresholds['http_req_duration{scenario:joins}'] = [`p(99)<${P99_MS * 2}`];
}
if (POLL_RATE > 0 && tickets.length > 0) {
  scenarios.polls = { executor: 'constant-arrival-rate', rate: POLL_RATE, timeUnit: '1s', duration: DURATION,
    preAllocatedVUs: 100, maxVUs: 1000, exec: 'poll' };
  thresholds['http_req_duration{scenario:polls}'] = [`p(99)<${P99_MS}`];
}

export const options = { scenarios, thresholds, summaryTrendStats: TREND_STATS, discardResponseBodies: true };

export function join() {
  const user = FIRST_USER + exec.scenario.iterationInTest;
  const res = http.post(`${GATEWAY}/v1/concerts/${CONCERT}/queue`, null,
    { headers: { Authorization: `Bearer ${session(user)}` }, tags: { name: 'join' } });
  check(res, { 'join 201': (r) => r.status === 201 });
}

export function poll() {
  const ticket = tickets[exec.scenario.iterationInTest % tickets.length];
  const res = http.get(`${GATEWAY}/v1/concerts/${CONCERT}/queue/status`,
    Object.assign(auth(ticket), { tags: { name: 'poll' } }));
  check(res, { 'poll 200': (r) => r.status === 200 });
}

export function handleSummary(data) {
  return summaryTo(data);
}
