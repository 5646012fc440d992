// What the browser tests share: the services under test (from the
// environment set by scripts/browser-tests.sh), launching Debian's
// chromium, and small steps of the fan's journey.
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
  adminToken: required('ADMIN_TOKEN'),
  chromium: process.env.CHROMIUM || '/usr/bin/chromium',
  screenshots: process.env.SCREENSHOT_DIR || path.resolve('screenshots'),
};

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

/** Open a concert's page and join its queue as `userId`. */
export async function join(page, gateway, concert, userId) {
  await page.goto(`${gateway}/#/concerts/${concert}`);
  await page.getByLabel('Your user id').fill(String(userId));
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

export async function noticeText(page) {
  await page.locator('#notice').waitFor({ state: 'visible' });
  return page.locator('#notice-text').textContent();
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
