// Two fans race for the same seat: exactly one reaches checkout; the other
// is told the seat was just taken and sees a refreshed map showing it held.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, launch, fan, join, waitAdmitted, pickFirstDate, seat, shot, sql, checkPolicy, textOf, attributeOf, PHONE,
} from './helpers.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const SEAT = 20;

test('two fans hold the same seat at once: one wins, the other is told', { timeout: 120_000 }, async () => {
  const pages = [await fan(browser), await fan(browser)];
  await Promise.all([join(pages[0], env.gateway, 2, 2), join(pages[1], env.gateway, 2, 3)]);
  await Promise.all(pages.map(waitAdmitted));
  const schedules = await Promise.all(pages.map(pickFirstDate));
  assert.equal(schedules[0], schedules[1]);
  for (const page of pages) {
    await seat(page, SEAT).click();
    await attributeOf(seat(page, SEAT), 'aria-pressed', /^true$/);
  }

  await Promise.all(pages.map((page) => page.getByRole('button', { name: `Hold seat ${SEAT}` }).click()));
  const outcomes = await Promise.all(pages.map(async (page) => {
    await page.waitForFunction(() => !document.querySelector('#view-checkout').hidden
      || /just taken/.test(document.querySelector('#notice-text').textContent));
    return (await page.locator('#view-checkout').isVisible()) ? 'checkout' : 'taken';
  }));
  assert.deepEqual([...outcomes].sort(), ['checkout', 'taken'], `outcomes: ${outcomes}`);

  const loser = pages[outcomes.indexOf('taken')];
  await textOf(loser.locator('#notice-text'),
    new RegExp(`seat ${SEAT} was just taken by someone else\\. The map is refreshed`));
  await attributeOf(seat(loser, SEAT), 'aria-label', new RegExp(`^Seat ${SEAT}, held, `));
  await attributeOf(seat(loser, SEAT), 'aria-pressed', /^false$/);
  await loser.locator('#view-seats').waitFor({ state: 'visible' });
  // The map keeps refreshing from booking and still shows the seat held.
  const updated = await loser.locator('#seats-updated').getAttribute('datetime');
  await loser.waitForFunction(
    (before) => document.querySelector('#seats-updated').getAttribute('datetime') !== before,
    updated, { timeout: 10_000 });
  await attributeOf(seat(loser, SEAT), 'aria-label', new RegExp(`^Seat ${SEAT}, held, `));
  await shot(loser, 'seat-taken');
  await loser.setViewportSize(PHONE);
  await shot(loser, 'seat-map-phone');

  const winner = pages[outcomes.indexOf('checkout')];
  await textOf(winner.locator('#checkout-seat'), new RegExp(`^Seat ${SEAT}$`));
  const holders = sql(env.database, `
    select count(*) from reservations
    where schedule_id = ${schedules[0]} and seat_number = ${SEAT} and status = 'held'`);
  assert.equal(holders, '1');
  pages.forEach(checkPolicy);
});
