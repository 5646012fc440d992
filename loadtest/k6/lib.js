// Shared by the k6 scenarios: settings from the environment, the summary
// file the runner reads, and the rule that only 5xx / transport errors are
// failures (a 409 for a seat someone else took is a correct answer).
import http from 'k6/http';

export const GATEWAY = __ENV.GATEWAY || 'http://127.0.0.1:8080';
export const BOOKING = __ENV.BOOKING || 'http://127.0.0.1:8081';
export const DURATION = __ENV.DURATION || '10s';

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }));

export const JSON_HEADERS = { 'Content-Type': 'application/json' };

export function auth(token, extra) {
  return { headers: Object.assign({ Authorization: `Bearer ${token}` }, JSON_HEADERS, extra || {}) };
}

export const TREND_STATS = ['avg', 'med', 'p(95)', 'p(99)', 'max', 'count'];

/** Write the end-of-test summary where the runner expects it. */
export function summaryTo(data) {
  const out = { stdout: `${__ENV.SCENARIO_NAME || 'k6'}: done\n` };
  if (__ENV.SUMMARY) out[__ENV.SUMMARY] = JSON.stringify(data);
  return out;
}

/** Lines of a text file (opened in the init context). */
export function lines(text) {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}
