// What the browser tests share: the services under test (from the
// environment set by scripts/browser-tests.sh), launching Debian's
// chromium, small steps of the fan's journey, and waits for what a test
// asserts (the page changes after an action, never at once: read it only
// once it shows the expected state).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run the tests with scripts/browser-tests.sh`);
  return value;
}

export const env = {
  gateway: required('GATEWAY_URL'),
  booking: required('BOOKING_URL'),
  database: required('DATABASE_URL'),
  expiryGateway: required('EXPIRY_GATEWAY_URL'),
  expiryBooking: required('EXPIRY_BOOKING_URL'),
  expiryDatabase: required('EXPIRY_DATABASE_URL'),
  expiryHoldSecs: Number(process.env.EXPIRY_HOLD_TTL_SECS || 8),
  // nginx in front of two gateways and two bookings: the pages and both
  // APIs on one origin, as in production (scripts/replicas.sh).
  loadBalancer: required('LB_URL'),
  loadBalancerDatabase: required('LB_DATABASE_URL'),
  adminToken: required('ADMIN_TOKEN'),
  chromium: process.env.CHROMIUM || '/usr/bin/chromium',
  screenshots: process.env.SCREENSHOT_DIR || path.resolve('screenshots'),
};

/** The password of the demo users 1..10 (`booking seed`). */
export const DEMO_PASSWORD = 'concert-demo';

/** The demo users' names by user id, as `booking seed` creates them. */
const DEMO_NAMES = ['Minji Kim', 'Jisoo Park', 'Seojun Lee', 'Hana Choi', 'Doyun Jung',
  'Yuna Kang', 'Jiho Yoon', 'Sora Jang', 'Taeyang Lim', 'Eunbi Han'];

/** What the page shows for a logged-in demo user: their name. */
export function shownAs(userId) {
  const name = DEMO_NAMES[userId - 1];
  if (!name) throw new Error(`user ${userId} is not a demo user`);
  return new RegExp(`^${name}$`);
}

export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 390, height: 844 };

/** Headless chromium; playwright gives it a fresh --user-data-dir. */
export function launch() {
  return chromium.launch({
    executablePath: env.chromium,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * A page in its own browser context (its own localStorage: one fan). Any
 * Content-Security-Policy violation fails the test at `checkPolicy`.
 */
export async function fan(browser, { viewport = DESKTOP } = {}) {
  const context = await browser.newContext({
    viewport,
    locale: 'en-US',
    timezoneId: 'Asia/Seoul',
    reducedMotion: 'reduce',
  });
  const page = await context.newPage();
  page.violations = [];
  watch(page);
  return page;
}

export function watch(page) {
  page.violations = page.violations || [];
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) page.violations.push(msg.text());
  });
  page.on('pageerror', (err) => page.violations.push(`uncaught: ${err.message}`));
}

export function checkPolicy(page) {
  assert.deepEqual(page.violations, [], 'the page ran without CSP violations or uncaught errors');
}

export async function shot(page, name) {
  mkdirSync(env.screenshots, { recursive: true });
  await page.screenshot({ path: path.join(env.screenshots, `${name}.png`), fullPage: true });
}

/** Fill the login form that is on screen and submit it. */
export async function logIn(page, userId, password = DEMO_PASSWORD) {
  await page.locator('#view-login').waitFor({ state: 'visible' });
  await page.getByLabel('User id').fill(String(userId));
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/** Log in from the login page; lands on the concert list. */
export async function logInAt(page, gateway, userId, password = DEMO_PASSWORD) {
  await page.goto(`${gateway}/#/login`);
  await logIn(page, userId, password);
  await page.locator('#view-concerts').waitFor({ state: 'visible' });
  await textOf(page.locator('#who-name'), shownAs(userId));
}

/** Open a concert's page, log in through the form, and join its queue as `userId`. */
export async function join(page, gateway, concert, userId) {
  await page.goto(`${gateway}/#/concerts/${concert}`);
  await logIn(page, userId);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await textOf(page.locator('#join-who'), shownAs(userId));
  await page.getByRole('button', { name: 'Join the queue' }).click();
}

export async function waitAdmitted(page) {
  await page.locator('#view-dates').waitFor({ state: 'visible', timeout: 45_000 });
  await page.locator('#date-list button').first().waitFor();
}

/** Pick the first date that has seats; returns its schedule id. */
export async function pickFirstDate(page) {
  const date = page.locator('#date-list button:enabled').first();
  const schedule = Number(await date.getAttribute('data-schedule'));
  await date.click();
  await page.locator('#seat-map button').nth(49).waitFor();
  return schedule;
}

export const seat = (page, n) => page.locator(`#seat-map button[data-seat="${n}"]`);

/** Wait until the visible notice says `pattern`; returns its text. */
export async function noticeText(page, pattern, { timeout = 15_000 } = {}) {
  await page.locator('#notice').waitFor({ state: 'visible', timeout });
  return textOf(page.locator('#notice-text'), pattern, { timeout });
}

/** Wait until the first element of `locator` has a text matching `pattern`; returns the text. */
export async function textOf(locator, pattern, { timeout = 15_000 } = {}) {
  const first = locator.first();
  await first.waitFor({ state: 'attached', timeout });
  let seen = '';
  await until(async () => pattern.test(seen = (await first.textContent()) ?? ''), {
    timeout,
    what: () => `text of ${first} to match ${pattern} (it reads ${JSON.stringify(seen)})`,
  });
  return seen;
}

/** Wait until an attribute of the first element of `locator` matches `pattern`; returns it. */
export async function attributeOf(locator, name, pattern, { timeout = 15_000 } = {}) {
  const first = locator.first();
  await first.waitFor({ state: 'attached', timeout });
  let seen = '';
  await until(async () => pattern.test(seen = (await first.getAttribute(name)) ?? ''), {
    timeout,
    what: () => `${name} of ${first} to match ${pattern} (it reads ${JSON.stringify(seen)})`,
  });
  return seen;
}

/**
 * Wait for a condition outside the page's own events (a service's answer, a
 * DOM read): check it every 50 ms until it holds, fail after `timeout`.
 */
export async function until(check, { timeout = 15_000, what = () => 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what()}`);
    await new Promise((resolve) => { setTimeout(resolve, 50); });
  }
}

export function sql(database, query) {
  return execFileSync('psql', [database, '-Atqc', query], { encoding: 'utf8' }).trim();
}

export async function api(base, pathname, { method = 'GET', body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(base + pathname, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** A session token of `userId` from booking's login endpoint. */
export async function apiLogIn(booking, userId, password = DEMO_PASSWORD) {
  const r = await api(booking, '/v1/sessions', { method: 'POST', body: { user_id: userId, password } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.session_token;
}

/** The stored state of the fan's concert in the page (its queue ticket, access token, hold). */
export function stored(page, userId, concert) {
  return page.evaluate(([u, c]) => JSON.parse(localStorage.getItem(`tickets.user.${u}.concert.${c}`)), [userId, concert]);
}

/** Change a concert's queue settings with the admin endpoint. */
export async function queueSettings(gateway, concert, change) {
  const r = await api(gateway, `/v1/admin/concerts/${concert}/queue`, {
    method: 'PATCH',
    body: change,
    token: env.adminToken,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/**
 * A new fan of the main pair, created with the admin API and topped up
 * through booking: {userId, name, password}. Each test that buys has its
 * own fan, so per-user seat limits and balances never mix between tests.
 */
export async function newFan(name, { balance = 1_000_000, booking = env.booking } = {}) {
  const password = 'browser-test-fan-password';
  const created = await api(booking, '/v1/admin/users', {
    method: 'POST', body: { name, password }, token: env.adminToken,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const userId = created.body.user_id;
  if (balance > 0) {
    const session = await apiLogIn(booking, userId, password);
    const charged = await api(booking, `/v1/users/${userId}/balance/charge`, {
      method: 'POST', body: { amount: balance }, token: session,
    });
    assert.equal(charged.status, 200, JSON.stringify(charged.body));
  }
  return { userId, name, password };
}

/** Log `fan` in through the form on screen; waits for the header to name them. */
export async function logInFan(page, fan) {
  await logIn(page, fan.userId, fan.password);
  await textOf(page.locator('#who-name'), new RegExp(`^${fan.name}$`));
}

/** Open a concert, log in as `fan` and join its queue. */
export async function joinAs(page, gateway, concert, fan) {
  await page.goto(`${gateway}/#/concerts/${concert}`);
  await logInFan(page, fan);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await page.getByRole('button', { name: 'Join the queue' }).click();
}

/** A seat's price as the map shows it (its aria-label "Seat 5, available, 120,000 KRW"). */
export async function seatPrice(page, n) {
  const label = await attributeOf(seat(page, n), 'aria-label', / KRW$/);
  return Number(label.replace(/^.*, ([\d,]+) KRW$/, '$1').replace(/,/g, ''));
}

/** Select seat `n` on the map and wait until it shows as selected. */
export async function select(page, n) {
  await seat(page, n).click();
  await attributeOf(seat(page, n), 'aria-pressed', /^true$/);
}

/** The payments of a user in Postgres: ["amount|seat,seat", …] by seat. */
export function paymentsOf(database, userId) {
  const rows = sql(database, `
    select p.amount || '|' || string_agg(r.seat_number::text, ',' order by r.seat_number)
    from payments p join payment_reservations pr on pr.payment_id = p.payment_id
    join reservations r on r.reservation_id = pr.reservation_id
    where p.user_id = ${userId}
    group by p.payment_id, p.amount order by min(r.seat_number)`);
  return rows ? rows.split('\n') : [];
}

/** The element's box lies wholly inside the page's viewport (no scrolling needed). */
export async function inViewport(page, locator) {
  const box = await locator.boundingBox();
  const { width, height } = page.viewportSize();
  return box !== null && box.x >= 0 && box.y >= 0 && box.x + box.width <= width && box.y + box.height <= height;
}
