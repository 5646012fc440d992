// A hold that runs out (the expiry pair runs booking with a short
// HOLD_TTL_SECS): the countdown reaches 0:00 (never NaN), Pay is disabled
// with the reason, no payment is sent, and nothing is charged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, launch, fan, join, waitAdmitted, pickFirstDate, seat, textOf, attributeOf, shot, sql, checkPolicy,
} from './helpers.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const USER = 8;
const SEAT = 30;

test('a hold that runs out cannot be paid for: Pay is disabled at 0:00 with the reason', { timeout: 120_000 }, async () => {
  const page = await fan(browser);
  const payments = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/v1/payments')) payments.push(r.url()); });
  await join(page, env.expiryGateway, 1, USER);
  await waitAdmitted(page);
  const schedule = await pickFirstDate(page);
  await seat(page, SEAT).click();
  await attributeOf(seat(page, SEAT), 'aria-pressed', /^true$/);
  await page.getByRole('button', { name: `Hold seat ${SEAT}` }).click();
  await page.locator('#view-checkout').waitFor({ state: 'visible' });
  // A hold of a few seconds shows a countdown under ten seconds.
  await textOf(page.locator('#hold-left'), /^0:0\d$/);

  await page.locator('#hold-left').filter({ hasText: /^0:00$/ })
    .waitFor({ timeout: (env.expiryHoldSecs + 5) * 1000 });
  await textOf(page.locator('#hold-note'), /hold time is up/);
  await page.locator('#pay-button:disabled').waitFor();
  await textOf(page.locator('#pay-reason'), /^Your hold time is up: the seats were released and nothing was charged\./);
  await page.getByRole('button', { name: 'Pick a seat again' }).waitFor({ state: 'visible' });
  assert.doesNotMatch(await page.locator('#view-checkout').innerText(), /NaN/);
  // A click on the disabled button sends nothing (checked below).
  await page.getByRole('button', { name: 'Pay', exact: true }).click({ force: true });
  await shot(page, 'hold-expired');

  const paid = sql(env.expiryDatabase, `
    select count(*) from payment_reservations pr join reservations r using (reservation_id)
    where r.schedule_id = ${schedule} and r.seat_number = ${SEAT}`);
  assert.equal(paid, '0');
  assert.deepEqual(payments, [], 'no payment was sent for an expired hold');
  assert.equal(sql(env.expiryDatabase, `select balance from balances where user_id = ${USER}`), '500000');

  await page.getByRole('button', { name: 'Pick a seat again' }).click();
  await page.locator('#view-seats').waitFor({ state: 'visible' });
  await seat(page, SEAT).filter({ hasText: String(SEAT) }).waitFor();
  checkPolicy(page);
});
