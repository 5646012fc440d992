// Admitted users racing for seats. Two variants:
//   MODE=seats    every request takes seat (i mod 50)+1 of SCHEDULE, with a
//                 different user's token: exactly 50 must win.
//   MODE=one-seat every request wants seat SEAT of SCHEDULE: exactly 1 wins.
// Open model (constant-arrival-rate); 5xx must be 0, dropped_iterations 0.
//
//   k6 run -e MODE=one-seat -e SCHEDULE=7 -e REQUESTS=10000 -e RATE=2000 -e TOKENS_FILE=tokens loadtest/k6/hold-storm.js
import http from 'k6/http';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import { BOOKING, TREND_STATS, summaryTo, lines, auth } from './lib.js';

const MODE = __ENV.MODE || 'seats';
const SCHEDULE = Number(__ENV.SCHEDULE);
const SEAT = Number(__ENV.SEAT || 1);
const REQUESTS = Number(__ENV.REQUESTS || 2000);
const RATE = Number(__ENV.RATE || 1000);
const tokens = lines(open(__ENV.TOKENS_FILE));
const expectedWins = MODE === 'one-seat' ? 1 : Math.min(50, REQUESTS);

const won = new Counter('holds_won');
const refused = new Counter('holds_refused');
const serverErrors = new Counter('server_errors');

export const options = {
  scenarios: {
    storm: { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s',
      duration: `${Math.max(1, Math.ceil(REQUESTS / RATE))}s`, preAllocatedVUs: 200, maxVUs: 2000 },
  },
  thresholds: {
    holds_won: [`count==${expectedWins}`],
    server_errors: ['count==0'],
    http_req_failed: ['rate==0'],
    dropped_iterations: ['count<1'],
  },
  summaryTrendStats: TREND_STATS,
};

export default function () {
  const i = exec.scenario.iterationInTest;
  if (i >= REQUESTS) return;
  const seat = MODE === 'one-seat' ? SEAT : (i % 50) + 1;
  const res = http.post(`${BOOKING}/v1/reservations`, JSON.stringify({ schedule_id: SCHEDULE, seat_number: seat }),
    auth(tokens[i % tokens.length]));
  if (res.status === 201) won.add(1);
  else if (res.status === 409) refused.add(1);
  else if (res.status >= 500) serverErrors.add(1);
}

export function handleSummary(data) {
  return summaryTo(data);
}
