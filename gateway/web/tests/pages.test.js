// Pages that must hold whatever the URL or the screen: an unknown concert
// or route gets a not-found page on load (never a join form or the list),
// and on a phone the seat rows keep 10 seats and the Hold and Pay actions
// stay in view.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, launch, fan, newFan, joinAs, waitAdmitted, pickFirstDate, seat, select, textOf, until, inViewport, shot,
  checkPolicy, PHONE,
} from './helpers.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('an unknown concert or route shows a not-found page on load', { timeout: 60_000 }, async () => {
  const page = await fan(browser);
  const cases = [
    ['#/concerts/999', /^There is no concert 999 on sale\./],
    ['#/concerts/abc', /^There is no page at this address\.$/],
    ['#/concerts/1/nowhere', /^There is no page at this address\.$/],
    ['#/somewhere/else', /^There is no page at this address\.$/],
  ];
  for (const [hash, text] of cases) {
    await page.goto(`${env.gateway}/${hash}`);
    await page.reload(); // checked on load, not only on navigation
    await page.locator('#view-notfound').waitFor({ state: 'visible' });
    await textOf(page.locator('#notfound-text'), text);
    await page.locator('#view-join').waitFor({ state: 'hidden' });
    await page.locator('#view-login').waitFor({ state: 'hidden' });
    await page.locator('#view-concerts').waitFor({ state: 'hidden' });
    if (hash === '#/concerts/999') await shot(page, 'not-found');
  }
  await page.getByRole('link', { name: 'See the concerts on sale' }).click();
  await page.locator('#concert-list li').first().waitFor();
  checkPolicy(page);
});

test('on a phone the seat rows keep 10 seats and Hold and Pay stay in view', { timeout: 120_000 }, async () => {
  const buyer = await newFan('Phone Fan');
  const page = await fan(browser, { viewport: PHONE });
  await joinAs(page, env.gateway, 2, buyer);
  await waitAdmitted(page);
  await pickFirstDate(page);
  const top = async (n) => (await seat(page, n).boundingBox()).y;
  assert.equal(await top(10), await top(1), 'seats 1 to 10 are one row');
  assert.ok(await top(11) > await top(10), 'seat 11 starts the next row');

  await select(page, 47);
  const hold = page.getByRole('button', { name: 'Hold seat 47' });
  await until(() => inViewport(page, hold), { what: () => 'the Hold button inside the phone screen' });
  await shot(page, 'seat-map-phone-action');
  await hold.click();
  await page.locator('#view-checkout').waitFor({ state: 'visible' });
  await textOf(page.locator('#checkout-seat'), /^Seat 47$/);
  const pay = page.getByRole('button', { name: 'Pay', exact: true });
  await page.locator('#pay-button:enabled').waitFor();
  await until(() => inViewport(page, pay), { what: () => 'the Pay button inside the phone screen' });
  await shot(page, 'checkout-phone');
  checkPolicy(page);
});

test('the estimated wait is said in words, as a range when the queue gives one', { timeout: 30_000 }, async () => {
  const page = await fan(browser);
  await page.goto(`${env.gateway}/`);
  await page.locator('#concert-list li').first().waitFor();
  const words = await page.evaluate(async () => {
    const { etaWords, clock } = await import('/js/format.js');
    return [
      etaWords(500, false, [360, 840]),
      etaWords(20, false, [10, 30]),
      etaWords(100, false, [20, 200]),
      etaWords(7200, false, [5400, 10800]),
      etaWords(500, false, null),
      etaWords(null, false, null),
      etaWords(500, true, [360, 840]),
      clock(Number.NaN),
      clock(-5000),
      clock(192_000),
    ];
  });
  assert.deepEqual(words, [
    'About 6–14 minutes',
    'Less than a minute',
    'Up to 3 minutes',
    'About 1.5–3 hours',
    'About 8 minutes',
    'Working it out…',
    'Paused',
    '–:––',
    '0:00',
    '3:12',
  ]);
  checkPolicy(page);
});
