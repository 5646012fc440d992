// A full purchase by a fan who starts with no money: concert list → log in
// (through the form) → join → admitted → date → seat (chosen with the
// keyboard) → hold → pay refused for the balance → top up → pay →
// confirmation; Postgres shows the seat sold.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, launch, fan, until, waitAdmitted, pickFirstDate, seat, noticeText, textOf, attributeOf, shot, sql, api, checkPolicy,
} from './helpers.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const PASSWORD = 'browser-test-fan-password';

test('a fan buys a ticket from the concert list to the confirmation', { timeout: 120_000 }, async () => {
  const created = await api(env.booking, '/v1/admin/users', {
    method: 'POST',
    body: { name: 'Browser Test Fan', password: PASSWORD },
    token: env.adminToken,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const user = created.body.user_id;

  const page = await fan(browser);
  await page.goto(`${env.gateway}/`);
  const cards = page.locator('#concert-list li');
  // The three demo concerts (other tests may have added their own).
  await until(async () => (await cards.count()) >= 3, { what: () => 'the concert cards' });
  await shot(page, 'concert-list');

  // Picking a concert asks for the login first; the form is used with the keyboard.
  await page.getByRole('link', { name: 'Get tickets: Aurora Live in Seoul' }).click();
  await page.locator('#view-login').waitFor({ state: 'visible' });
  await textOf(page.locator('#login-lead'), /Log in to get tickets for Aurora Live in Seoul/);
  assert.equal(await page.getByLabel('User id').getAttribute('autocomplete'), 'username');
  assert.equal(await page.getByLabel('Password').getAttribute('autocomplete'), 'current-password');
  await page.getByLabel('User id').focus();
  await page.keyboard.type(String(user));
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD);
  await shot(page, 'login');
  await page.keyboard.press('Enter');

  await page.locator('#view-join').waitFor({ state: 'visible' });
  await textOf(page.locator('#join-who'), /^Browser Test Fan$/);
  await textOf(page.locator('#who-name'), /^Browser Test Fan$/);
  await page.getByRole('button', { name: 'Log out' }).waitFor();
  await shot(page, 'join');
  await page.getByRole('button', { name: 'Join the queue' }).click();

  await waitAdmitted(page);
  await textOf(page.locator('#session-left'), /^\d+:\d\d$/);
  await shot(page, 'dates');
  const schedule = await pickFirstDate(page);

  // Keyboard: the first available seat takes focus, arrows move, Enter selects.
  await page.locator('#seat-map button[tabindex="0"]').focus();
  await page.keyboard.press('ArrowDown'); // seat 11
  await page.keyboard.press('ArrowRight'); // seat 12
  await page.keyboard.press('Enter');
  await attributeOf(seat(page, 12), 'aria-pressed', /^true$/);
  await attributeOf(seat(page, 12), 'aria-label', /^Seat 12, available, 99,000 KRW$/);
  await textOf(page.locator('#selection'), /Seat 12 selected/);
  await shot(page, 'seat-map');

  await page.getByRole('button', { name: 'Hold seat 12' }).click();
  await page.locator('#view-checkout').waitFor({ state: 'visible' });
  await textOf(page.locator('#checkout-seat'), /^Seat 12$/);
  await textOf(page.locator('#hold-left'), /^[45]:\d\d$/);
  await page.locator('#view-checkout [data-balance]').filter({ hasText: /^0 KRW$/ }).waitFor();
  await shot(page, 'checkout');

  await page.getByRole('button', { name: 'Pay', exact: true }).click();
  await noticeText(page, /99,000 KRW short of the price/);
  await shot(page, 'insufficient-balance');

  // The first top-up meets an outage; "Try again" repeats it with the same
  // Idempotency-Key, so it can never be charged twice.
  const keys = [];
  const chargeUrl = `${env.booking}/v1/users/${user}/balance/charge`;
  await page.route(chargeUrl, async (route) => {
    const request = route.request();
    if (request.method() !== 'POST') return route.continue();
    keys.push(await request.headerValue('idempotency-key'));
    if (keys.length > 1) return route.continue();
    return route.fulfill({
      status: 503,
      contentType: 'application/problem+json',
      headers: { 'Access-Control-Allow-Origin': env.gateway, 'Retry-After': '1' },
      body: JSON.stringify({ type: 'about:blank', title: 'Unavailable', status: 503, code: 'UNAVAILABLE' }),
    });
  });
  await page.locator('#view-checkout [data-topup] select').selectOption('100000');
  await page.locator('#view-checkout [data-topup] button').click();
  await noticeText(page, /briefly unavailable/);
  await shot(page, 'unavailable');
  await page.getByRole('button', { name: 'Try again' }).click();
  await noticeText(page, /Your balance is now 100,000 KRW/);
  assert.equal(keys.length, 2);
  assert.match(keys[0], /^[0-9a-f-]{36}$/);
  assert.equal(keys[1], keys[0]);
  await page.unroute(chargeUrl);

  await page.getByRole('button', { name: 'Pay', exact: true }).click();
  await page.locator('#view-done').waitFor({ state: 'visible' });
  await textOf(page.locator('#done-seat'), /^Seat 12$/);
  await textOf(page.locator('#done-amount'), /^99,000 KRW$/);
  await textOf(page.locator('#done-balance'), /^1,000 KRW$/);
  await shot(page, 'confirmation');

  const sold = sql(env.database, `
    select r.user_id || '|' || r.status || '|' || pr.amount || '|' || p.user_id
    from reservations r join payment_reservations pr using (reservation_id)
    join payments p using (payment_id)
    where r.schedule_id = ${schedule} and r.seat_number = 12`);
  assert.equal(sold, `${user}|confirmed|99000|${user}`);
  assert.equal(sql(env.database, `select balance from balances where user_id = ${user}`), '1000');
  checkPolicy(page);
});
