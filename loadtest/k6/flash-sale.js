// A flash sale, the whole journey of each arriving fan:
//   join → poll at the gateway's cadence until active → dates → seat map →
//   hold a free seat (another one if it was just taken) → top up if needed → pay.
// Some fans give up part-way: GIVE_UP_QUEUE of them leave the queue while
// waiting, GIVE_UP_HOLD of them walk away from their hold (it expires).
// Fans arrive at RATE per second (open model) for DURATION, each a distinct
// user id starting at FIRST_USER, logged in: the fan's session token (from
// SESSIONS_FILE, see lib.js `sessions`) joins the queue and tops up; the
// access token of the queue holds and pays. The runner checks Postgres
// afterwards: every seat sold exactly once, none oversold.
//
//   k6 run -e CONCERT=1 -e RATE=40 -e DURATION=60s -e FIRST_USER=150001 \
//     -e SESSIONS_FILE=sessions -e SESSIONS_FIRST_USER=150001 loadtest/k6/flash-sale.js
import http from 'k6/http';
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { GATEWAY, BOOKING, DURATION, TREND_STATS, summaryTo, auth, sessions, watch, json } from './lib.js';

const CONCERT = Number(__ENV.CONCERT || 1);
const RATE = Number(__ENV.RATE || 40);
const FIRST_USER = Number(__ENV.FIRST_USER || 1);
const GIVE_UP_QUEUE = Number(__ENV.GIVE_UP_QUEUE || 0.05);
const GIVE_UP_HOLD = Number(__ENV.GIVE_UP_HOLD || 0.05);
const MAX_WAIT_S = Number(__ENV.MAX_WAIT_S || 120);
const session = sessions();

const bought = new Counter('tickets_bought');
const soldOut = new Counter('found_sold_out');
const gaveUp = new Counter('gave_up');
const queueWait = new Trend('queue_wait_ms', true);

export const options = {
  scenarios: {
    fans: { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION,
      preAllocatedVUs: 200, maxVUs: 3000, gracefulStop: `${MAX_WAIT_S + 30}s` },
  },
  thresholds: { server_errors: ['count==0'], http_req_failed: ['rate==0'], dropped_iterations: ['count<1'] },
  summaryTrendStats: TREND_STATS,
};

export default function () {
  const user = FIRST_USER + exec.scenario.iterationInTest;
  const me = session(user);
  const joined = json(watch(http.post(`${GATEWAY}/v1/concerts/${CONCERT}/queue`, null,
    Object.assign(auth(me), { tags: { name: 'join' } }))));
  if (!joined || !joined.ticket) return;
  const ticket = joined.ticket;
  const started = Date.now();
  let status = joined;
  while (status.status !== 'active') {
    if (Date.now() - started > MAX_WAIT_S * 1000) { gaveUp.add(1); return; }
    if (Math.random() < GIVE_UP_QUEUE / 10) {
      watch(http.del(`${GATEWAY}/v1/concerts/${CONCERT}/queue/me`, null, Object.assign(auth(ticket), { tags: { name: 'leave' } })));
      gaveUp.add(1);
      return;
    }
    sleep(((status.poll_after_ms || 1000) * (0.8 + Math.random() * 0.4)) / 1000);
    status = json(watch(http.get(`${GATEWAY}/v1/concerts/${CONCERT}/queue/status`,
      Object.assign(auth(ticket), { tags: { name: 'poll' } }))));
    if (!status) return;
  }
  queueWait.add(Date.now() - started);
  const access = status.access_token;

  const dates = json(watch(http.get(`${BOOKING}/v1/concerts/${CONCERT}/schedules`, Object.assign(auth(access), { tags: { name: 'dates' } })))) || [];
  const open = dates.filter((d) => d.available_seats > 0);
  if (open.length === 0) { soldOut.add(1); leave(ticket); return; }
  for (let attempt = 0; attempt < 5; attempt++) {
    const date = open[Math.floor(Math.random() * open.length)];
    const map = json(watch(http.get(`${BOOKING}/v1/schedules/${date.schedule_id}/seats`, Object.assign(auth(access), { tags: { name: 'seats' } }))));
    const free = map ? map.seats.filter((s) => s.status === 'available') : [];
    if (free.length === 0) continue;
    const seat = free[Math.floor(Math.random() * free.length)];
    const hold = watch(http.post(`${BOOKING}/v1/reservations`,
      JSON.stringify({ schedule_id: date.schedule_id, seat_number: seat.seat_number }), Object.assign(auth(access), { tags: { name: 'hold' } })));
    if (hold.status !== 201) continue;
    const reservation = hold.json();
    if (Math.random() < GIVE_UP_HOLD) { gaveUp.add(1); return; }
    const balance = json(watch(http.get(`${BOOKING}/v1/users/${user}/balance`, Object.assign(auth(me), { tags: { name: 'balance' } }))));
    if (balance && balance.balance < reservation.price) {
      watch(http.post(`${BOOKING}/v1/users/${user}/balance/charge`, JSON.stringify({ amount: reservation.price }),
        Object.assign(auth(me, { 'Idempotency-Key': `charge-${user}-${reservation.reservation_id}` }), { tags: { name: 'charge' } })));
    }
    const paid = watch(http.post(`${BOOKING}/v1/payments`, JSON.stringify({ reservation_id: reservation.reservation_id }),
      Object.assign(auth(access, { 'Idempotency-Key': `pay-${reservation.reservation_id}` }), { tags: { name: 'pay' } })));
    if (paid.status === 201) bought.add(1);
    return;
  }
  soldOut.add(1);
  leave(ticket);
}

function leave(ticket) {
  watch(http.del(`${GATEWAY}/v1/concerts/${CONCERT}/queue/me`, null, Object.assign(auth(ticket), { tags: { name: 'leave' } })));
}

export function handleSummary(data) {
  return summaryTo(data);
}
