// The waiting room keeps a fan's place across a refresh and a closed tab
// (a new tab logs in again and finds the same place), announces the
// position to screen readers, shows the organiser's pause, and lets the fan
// in once the queue moves again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, launch, fan, join, logInAt, waitAdmitted, shot, api, apiLogIn, noticeText, textOf,
  queueSettings, stored, until, watch, checkPolicy, DESKTOP, PHONE,
} from './helpers.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const CONCERT = 3;
const USER = 7;

const ticketId = async (page) => (await stored(page, USER, CONCERT)).ticketId;

test('a refresh or a closed tab in the waiting room keeps the same place', { timeout: 120_000 }, async () => {
  // Two fans fill the two active slots (so the admission rate is measured),
  // three more wait; our fan joins fourth, moves up to third when one of
  // them leaves, and stays there.
  await queueSettings(env.gateway, CONCERT, { max_active: 2 });
  const joinApi = async (user) => {
    const session = await apiLogIn(env.booking, user);
    const r = await api(env.gateway, `/v1/concerts/${CONCERT}/queue`, { method: 'POST', body: {}, token: session });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.ticket;
  };
  await joinApi(5);
  await joinApi(6);
  await until(async () => (await api(env.gateway, `/v1/concerts/${CONCERT}/queue`)).body.active === 2,
    { what: () => 'both fans to be admitted' });
  const leaving = await joinApi(8);
  await joinApi(9);
  await joinApi(10);

  let page = await fan(browser);
  await join(page, env.gateway, CONCERT, USER);
  const position = page.locator('#position');
  await position.filter({ hasText: /^4$/ }).waitFor();
  const left = await api(env.gateway, `/v1/concerts/${CONCERT}/queue/me`, { method: 'DELETE', token: leaving });
  assert.equal(left.status, 204);
  await position.filter({ hasText: /^3$/ }).waitFor();
  await until(async () => (await page.locator('#progress').evaluate((p) => p.value.toFixed(2))) === '0.33',
    { what: () => 'the progress bar to show a third of the way' });
  await textOf(page.locator('#ahead'), /^2$/);
  await textOf(page.locator('#eta'), /minute|hour/);
  await textOf(page.locator('#announce'), /You are number 3 in line/);
  assert.equal(await page.locator('#announce').getAttribute('aria-live'), 'polite');
  const ticket = await ticketId(page);
  await shot(page, 'waiting-room');
  await page.setViewportSize(PHONE);
  await shot(page, 'waiting-room-phone');
  await page.setViewportSize(DESKTOP);

  await page.reload();
  await page.locator('#view-waiting').waitFor({ state: 'visible' });
  await position.filter({ hasText: /^3$/ }).waitFor();
  assert.equal(await ticketId(page), ticket);

  // Close the tab and open the site again in the same browser profile: the
  // login was this tab's, so the fan logs in again and finds the same place.
  const context = page.context();
  await page.close();
  page = await context.newPage();
  watch(page);
  await logInAt(page, env.gateway, USER);
  await page.getByRole('link', { name: /Back to my place in line/ }).click();
  await page.locator('#position').filter({ hasText: /^3$/ }).waitFor();
  assert.equal(await ticketId(page), ticket);

  await queueSettings(env.gateway, CONCERT, { paused: true });
  await page.locator('#paused-note').waitFor({ state: 'visible', timeout: 15_000 });
  await textOf(page.locator('#eta'), /^Paused$/);
  await textOf(page.locator('#announce'), /paused by the organiser/);
  await shot(page, 'paused');

  await queueSettings(env.gateway, CONCERT, { paused: false, max_active: 1000 });
  await waitAdmitted(page);

  // The session ends behind the page's back: the next booking call sends
  // the fan back to the queue with a way to rejoin.
  const access = (await stored(page, USER, CONCERT)).accessToken;
  const ended = await api(env.gateway, `/v1/concerts/${CONCERT}/queue/me`, { method: 'DELETE', token: access });
  assert.equal(ended.status, 204);
  await until(async () => (await api(env.booking, `/v1/concerts/${CONCERT}/schedules`, { token: access })).status === 403,
    { what: () => 'booking to refuse the ended access token' });
  await page.locator('#date-list button:enabled').first().click();
  await noticeText(page, /Your shopping time has ended/);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await shot(page, 'session-ended');
  await page.getByRole('button', { name: 'Join the queue again' }).click();
  await waitAdmitted(page);
  checkPolicy(page);
});
