// ETA calibration: a real line and what its fans were told.
//
// Fans arrive at RATE per second (open model) for DURATION, each a distinct
// logged-in user from FIRST_USER on. Admissions are limited by the queue's
// max_active (set by the runner), so the line moves only as sessions end:
// every admitted fan keeps the slot for a random SESSION_MIN_S..SESSION_MAX_S
// seconds and then ends it, by paying for a seat (PAY_SHARE of them: top up,
// hold a free seat of a random date, pay) or by leaving the queue.
//
// Each fan notes the eta_seconds and eta_range_seconds the join answered
// and when, polls at the gateway's cadence (at most every POLL_CAP_MS, so
// the moment of admission is seen within that) and, once active, compares:
//   eta_inside_range    share of fans whose real wait fell inside the range
//   eta_relative_error  |eta_seconds - real wait| / real wait, in % (a Trend)
// Fans whose join carried no estimate (the first ones, before anything was
// admitted) are not counted. The gateway measures the same per admitted user
// from the estimate its ticket carries (queue_eta_range_total,
// queue_eta_relative_error); the runner reads those from /metrics.
//
//   k6 run -e GATEWAY=… -e BOOKING=… -e CONCERT=6 -e RATE=5 -e DURATION=120s \
//     -e FIRST_USER=160001 -e SESSIONS_FILE=… -e SESSIONS_FIRST_USER=160001 loadtest/k6/eta.js
import http from 'k6/http';
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { GATEWAY, BOOKING, DURATION, TREND_STATS, summaryTo, auth, sessions, watch, json } from './lib.js';

const CONCERT = Number(__ENV.CONCERT || 6);
const RATE = Number(__ENV.RATE || 5);
const FIRST_USER = Number(__ENV.FIRST_USER || 1);
const SESSION_MIN_S = Number(__ENV.SESSION_MIN_S || 4);
const SESSION_MAX_S = Number(__ENV.SESSION_MAX_S || 20);
const PAY_SHARE = Number(__ENV.PAY_SHARE || 0.3);
const POLL_CAP_MS = Number(__ENV.POLL_CAP_MS || 1000);
const MAX_WAIT_S = Number(__ENV.MAX_WAIT_S || 300);
const session = sessions();

const inside = new Rate('eta_inside_range');
const relError = new Trend('eta_relative_error');
const realWait = new Trend('eta_real_wait_s');
const noEstimate = new Counter('eta_no_estimate');
const paid = new Counter('sessions_paid');
const left = new Counter('sessions_left');

export const options = {
  scenarios: {
    fans: { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION,
      preAllocatedVUs: 200, maxVUs: 2000, gracefulStop: `${MAX_WAIT_S + SESSION_MAX_S + 30}s` },
  },
  thresholds: { server_errors: ['count==0'] },
  summaryTrendStats: TREND_STATS,
};

export default function () {
  const user = FIRST_USER + exec.scenario.iterationInTest;
  const me = session(user);
  const joined = json(watch(http.post(`${GATEWAY}/v1/concerts/${CONCERT}/queue`, null,
    Object.assign(auth(me), { tags: { name: 'join' } }))));
  if (!joined || !joined.ticket) return;
  const joinedAt = Date.now();
  const ticket = joined.ticket;
  const shown = joined.status === 'waiting' && joined.eta_seconds !== null && joined.eta_range_seconds
    ? { eta: joined.eta_seconds, low: joined.eta_range_seconds[0], high: joined.eta_range_seconds[1] } : null;
  let status = joined;
  while (status.status !== 'active') {
    if (status.status !== 'waiting' || Date.now() - joinedAt > MAX_WAIT_S * 1000) return;
    sleep(Math.min(status.poll_after_ms || 1000, POLL_CAP_MS) / 1000);
    status = json(watch(http.get(`${GATEWAY}/v1/concerts/${CONCERT}/queue/status`,
      Object.assign(auth(ticket), { tags: { name: 'poll' } }))));
    if (!status) return;
  }
  const waited = (Date.now() - joinedAt) / 1000;
  if (joined.status === 'waiting') {
    if (shown) {
      realWait.add(waited);
      inside.add(waited >= shown.low && waited <= shown.high);
      relError.add((100 * Math.abs(shown.eta - Math.max(waited, 1))) / Math.max(waited, 1));
    } else {
      noEstimate.add(1);
    }
  }
  sleep(SESSION_MIN_S + Math.random() * (SESSION_MAX_S - SESSION_MIN_S));
  if (Math.random() < PAY_SHARE && pay(user, me, status.access_token)) {
    paid.add(1);
    return;
  }
  watch(http.del(`${GATEWAY}/v1/concerts/${CONCERT}/queue/me`, null, Object.assign(auth(ticket), { tags: { name: 'leave' } })));
  left.add(1);
}

// Hold a free seat of a random date and pay for it (the payment ends the
// session). False when no seat could be had.
function pay(user, me, access) {
  const dates = json(watch(http.get(`${BOOKING}/v1/concerts/${CONCERT}/schedules`, Object.assign(auth(access), { tags: { name: 'dates' } })))) || [];
  const open = dates.filter((d) => d.available_seats > 0);
  if (open.length === 0) return false;
  const date = open[Math.floor(Math.random() * open.length)];
  const map = json(watch(http.get(`${BOOKING}/v1/schedules/${date.schedule_id}/seats`, Object.assign(auth(access), { tags: { name: 'seats' } }))));
  const free = map ? map.seats.filter((s) => s.status === 'available') : [];
  if (free.length === 0) return false;
  const seat = free[Math.floor(Math.random() * free.length)];
  const hold = watch(http.post(`${BOOKING}/v1/reservations`,
    JSON.stringify({ schedule_id: date.schedule_id, seat_number: seat.seat_number }), Object.assign(auth(access), { tags: { name: 'hold' } })));
  if (hold.status !== 201) return false;
  const reservation = hold.json();
  watch(http.post(`${BOOKING}/v1/users/${user}/balance/charge`, JSON.stringify({ amount: reservation.price }),
    Object.assign(auth(me, { 'Idempotency-Key': `charge-${user}-${reservation.reservation_id}` }), { tags: { name: 'charge' } })));
  const payment = watch(http.post(`${BOOKING}/v1/payments`, JSON.stringify({ reservation_id: reservation.reservation_id }),
    Object.assign(auth(access, { 'Idempotency-Key': `pay-${reservation.reservation_id}` }), { tags: { name: 'pay' } })));
  return payment.status === 201;
}

export function handleSummary(data) {
  return summaryTo(data);
}
