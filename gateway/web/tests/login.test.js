// The login step: a wrong password and an unknown user get one message and
// no way into the queue; too many failures say when to retry; an outage
// offers to try again; "Log out" ends the session at booking and returns to
// the login step; a session revoked behind the page's back sends the fan
// back to the login step.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, launch, fan, join, logIn, waitAdmitted, noticeText, textOf, attributeOf, until, shot, api, checkPolicy, DEMO_PASSWORD,
  shownAs,
} from './helpers.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const USER = 4;

const sessionToken = (page) => page.evaluate(
  () => (JSON.parse(sessionStorage.getItem('tickets.session')) || {}).token || null);

/** Submit the login form and wait for booking's answer to it. */
async function refusedLogIn(page, userId, password) {
  const answer = page.waitForResponse((r) => r.url() === `${env.booking}/v1/sessions`
    && r.request().method() === 'POST');
  await logIn(page, userId, password);
  return (await answer).status();
}

test('a wrong password or an unknown user gets one message and cannot join', { timeout: 60_000 }, async () => {
  const page = await fan(browser);
  const joins = [];
  page.on('request', (r) => { if (r.method() === 'POST' && /\/queue$/.test(r.url())) joins.push(r.url()); });
  await page.goto(`${env.gateway}/#/concerts/1`);
  await page.locator('#view-login').waitFor({ state: 'visible' });
  await page.locator('#view-join').waitFor({ state: 'hidden' });

  assert.equal(await refusedLogIn(page, USER, 'not-the-password'), 401);
  const wrong = await noticeText(page, /do not match/);
  assert.match(wrong, /^That user id and password do not match\. Check both and try again\.$/);
  await attributeOf(page.getByLabel('Password'), 'aria-invalid', /^true$/);
  await shot(page, 'login-refused');

  assert.equal(await refusedLogIn(page, 987654, DEMO_PASSWORD), 401);
  assert.equal(await noticeText(page, /do not match/), wrong, 'an unknown user reads the same message');

  // Still the login step, nobody logged in, and no join was ever sent.
  await page.goto(`${env.gateway}/#/concerts/1/dates`);
  await page.locator('#view-login').waitFor({ state: 'visible' });
  await page.getByRole('button', { name: 'Join the queue' }).waitFor({ state: 'hidden' });
  await page.locator('#who').waitFor({ state: 'hidden' });
  assert.equal(await sessionToken(page), null);
  assert.deepEqual(joins, []);
  checkPolicy(page);
});

test('too many failed logins say when to retry; an outage offers to try again', { timeout: 60_000 }, async () => {
  const locked = 4242; // no such user: failures count per user id all the same
  for (let i = 0; i < 10; i += 1) {
    const r = await api(env.booking, '/v1/sessions', {
      method: 'POST', body: { user_id: locked, password: `guess-${i}` },
    });
    assert.equal(r.status, 401, JSON.stringify(r.body));
  }
  const page = await fan(browser);
  await page.goto(`${env.gateway}/#/login`);
  assert.equal(await refusedLogIn(page, locked, 'one-more-guess'), 429);
  await noticeText(page, /^Too many failed logins for this user id\..*try again in about 1[45] minutes \(at .+\)\.$/);
  await shot(page, 'login-rate-limited');

  // Booking answers 503 once; "Try again" logs in.
  const url = `${env.booking}/v1/sessions`;
  await page.route(url, (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    return route.fulfill({
      status: 503,
      contentType: 'application/problem+json',
      headers: {
        'Access-Control-Allow-Origin': env.gateway,
        'Access-Control-Expose-Headers': 'Retry-After',
        'Retry-After': '5',
      },
      body: JSON.stringify({ type: 'about:blank', title: 'Unavailable', status: 503, code: 'UNAVAILABLE' }),
    });
  });
  assert.equal(await refusedLogIn(page, USER, DEMO_PASSWORD), 503);
  await noticeText(page, /^Logging in is unavailable right now.*try again in 5 seconds\.$/);
  await page.unroute(url);
  await page.getByRole('button', { name: 'Try again' }).click();
  await page.locator('#view-concerts').waitFor({ state: 'visible' });
  await textOf(page.locator('#who-name'), shownAs(USER));
  checkPolicy(page);
});

test('"Log out" ends the session and returns to the login step', { timeout: 60_000 }, async () => {
  const page = await fan(browser);
  await join(page, env.gateway, 1, USER);
  await waitAdmitted(page);
  const token = await sessionToken(page);
  assert.ok(token);
  const kept = () => page.evaluate((u) => Object.keys(localStorage).filter((k) => k.startsWith(`tickets.user.${u}.`)), USER);
  assert.notDeepEqual(await kept(), []);

  await page.getByRole('button', { name: 'Log out' }).click();
  await page.locator('#view-login').waitFor({ state: 'visible' });
  await noticeText(page, /^You are logged out\./);
  await page.locator('#who').waitFor({ state: 'hidden' });
  assert.equal(await sessionToken(page), null);
  assert.deepEqual(await kept(), [], 'the stored queue tickets of that user are gone');
  const refused = await api(env.booking, `/v1/users/${USER}/balance`, { token });
  assert.equal(refused.status, 401, 'booking refuses the logged-out session');
  await shot(page, 'logged-out');

  // The concert's pages need a login again.
  await page.goto(`${env.gateway}/#/concerts/1/dates`);
  await page.locator('#view-login').waitFor({ state: 'visible' });
  checkPolicy(page);
});

test('a session revoked behind the page\'s back sends the fan back to the login step', { timeout: 60_000 }, async () => {
  const page = await fan(browser);
  await page.goto(`${env.gateway}/#/concerts/2`);
  await logIn(page, USER);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  const token = await sessionToken(page);
  const revoked = await api(env.booking, '/v1/sessions/current', { method: 'DELETE', token });
  assert.equal(revoked.status, 204);

  await page.getByRole('button', { name: 'Join the queue' }).click();
  await page.locator('#view-login').waitFor({ state: 'visible' });
  await noticeText(page, /^Your login has ended .*Please log in again to continue\.$/);
  await until(async () => (await page.getByLabel('User id').inputValue()) === String(USER),
    { what: () => 'the user id to be filled in again' });

  // Logging in again continues to the concert the fan was on.
  await page.getByLabel('Password').fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await textOf(page.locator('#join-who'), shownAs(USER));
  checkPolicy(page);
});
