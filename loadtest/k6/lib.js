// Shared by the k6 scenarios: settings from the environment, the summary
// file the runner reads, and the rule that only 5xx / transport errors are
// failures (a 409 for a seat someone else took is a correct answer).
import http from 'k6/http';
import { SharedArray } from 'k6/data';
import { Counter } from 'k6/metrics';

export const GATEWAY = __ENV.GATEWAY || 'http://127.0.0.1:8080';
export const BOOKING = __ENV.BOOKING || 'http://127.0.0.1:8081';
export const DURATION = __ENV.DURATION || '10s';

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }));

export const JSON_HEADERS = { 'Content-Type': 'application/json' };

export function auth(token, extra) {
  return { headers: Object.assign({ Authorization: `Bearer ${token}` }, JSON_HEADERS, extra || {}) };
}

/** 5xx answers and transport errors (status 0): the scenarios' failures. */
export const serverErrors = new Counter('server_errors');

/** Count `res` in `server_errors` when it failed; returns it. */
export function watch(res) {
  if (res.status >= 500 || res.status === 0) serverErrors.add(1);
  return res;
}

/** The body of `res` as JSON, or null when it is not JSON. */
export function json(res) {
  try { return res.json(); } catch (_) { return null; }
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

/**
 * The non-empty lines of a file, read once and shared by every VU (k6
 * `SharedArray`): for files of many session tokens. Call in the init context;
 * an empty path gives an empty array.
 */
export function sharedLines(name, path) {
  if (!path) return [];
  return new SharedArray(name, () => lines(open(path)));
}

/**
 * Session tokens: line k (from 0) of $SESSIONS_FILE is the session token of
 * user $SESSIONS_FIRST_USER + k (the runner mints them with
 * `booking mint-sessions`). `session(user)` throws for a user not in the file.
 */
export const SESSIONS_FIRST_USER = Number(__ENV.SESSIONS_FIRST_USER || 1);
export function sessions() {
  const all = sharedLines('sessions', __ENV.SESSIONS_FILE);
  return (user) => {
    const token = all[user - SESSIONS_FIRST_USER];
    if (token === undefined) throw new Error(`no session token for user ${user} in SESSIONS_FILE`);
    return token;
  };
}
