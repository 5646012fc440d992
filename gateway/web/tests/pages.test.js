// Pages that must hold whatever the URL or the screen: an unknown concert
// or route gets a not-found page on load (never a join form or the list),
// and on a phone the seat rows keep 10 seats and the Hold and Pay actions
// stay in view.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, launch, fan, newFan, joinAs, waitAdmitted, pickFirstDate, seat, select, textOf, until, inViewport, shot,
  checkPolicy, logInFan, api, PHONE,
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
    const { etaWords, sentence, clock } = await import('/js/format.js');
    return [
      etaWords(500, false, [360, 840]),
      etaWords(20, false, [10, 30]),
      etaWords(100, false, [20, 200]),
      etaWords(7200, false, [5400, 10800]),
      etaWords(500, false, null),
      etaWords(null, false, null),
      etaWords(500, true, [360, 840]),
      sentence(etaWords(null, false, null)),
      sentence(etaWords(500, false, null)),
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
    'Working it out…',
    'About 8 minutes.',
    '–:––',
    '0:00',
    '3:12',
  ]);
  checkPolicy(page);
});

const uuid = () => crypto.randomUUID();

test('a made-up list of reservation ids shows not-found pages and fetches nothing', { timeout: 60_000 }, async () => {
  const someone = await newFan('Link Clicker', { balance: 0 });
  const page = await fan(browser);
  const fetched = [];
  page.on('request', (r) => { if (r.url().includes('/v1/reservations/')) fetched.push(r.url()); });
  await page.goto(`${env.gateway}/#/concerts/1/checkout/${uuid()}`);
  await logInFan(page, someone);
  const one = uuid();
  const cases = [
    `#/concerts/1/checkout/${Array.from({ length: 5 }, uuid).join(',')}`, // more than the limit of 4
    `#/concerts/1/checkout/${Array.from({ length: 1000 }, uuid).join(',')}`,
    `#/concerts/1/done/${Array.from({ length: 5 }, uuid).join(',')}`,
    `#/concerts/1/checkout/${one},${one}`, // the same id twice
    `#/concerts/1/dates/1/cart/${one},${one.toUpperCase()}`,
  ];
  for (const hash of cases) {
    fetched.length = 0;
    await page.goto(`${env.gateway}/${hash}`);
    await page.reload();
    await page.locator('#view-notfound').waitFor({ state: 'visible' });
    await textOf(page.locator('#notfound-title'), /^Page not found$/);
    assert.deepEqual(fetched, [], `no reservation is read for ${hash.slice(0, 60)}…`);
  }
  // Ids that are nobody's (or not the fan's): "No such booking", no hold-time words.
  for (const hash of [`#/concerts/1/done/${uuid()}`, `#/concerts/1/checkout/${uuid()},${uuid()}`]) {
    await page.goto(`${env.gateway}/${hash}`);
    await page.locator('#view-notfound').waitFor({ state: 'visible' });
    await textOf(page.locator('#notfound-title'), /^No such booking$/);
    assert.doesNotMatch(await page.locator('main').innerText(), /hold time|hold not found/i);
  }
  checkPolicy(page);
});

test('a very long title without spaces never makes a phone scroll sideways', { timeout: 60_000 }, async () => {
  const title = `Night${'Z'.repeat(165)}`;
  const r = await api(env.booking, '/v1/admin/concerts', {
    method: 'POST',
    token: env.adminToken,
    body: {
      title,
      venue: `Hall${'V'.repeat(120)}`,
      schedules: [{ starts_at: new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString(), price: 10_000, seats: 5 }],
    },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const concert = r.body.concert_id;
  const page = await fan(browser, { viewport: PHONE });
  const fits = async (what) => {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `${what}: the page is ${width} px wide on a ${PHONE.width} px screen`);
  };
  await page.goto(`${env.gateway}/`);
  await page.locator(`#concert-list li[data-concert="${concert}"] h2`).waitFor();
  await fits('the concert list');
  await page.goto(`${env.gateway}/#/concerts/${concert}`);
  const someone = await newFan('Long Title Fan', { balance: 0 });
  await logInFan(page, someone);
  await page.locator('#join-button').waitFor({ state: 'visible' });
  await textOf(page.locator('#join-title'), new RegExp(`^${title}$`));
  await fits('the join page');
  await shot(page, 'phone-long-title');
  checkPolicy(page);
});

test('the login page speaks to fans only', { timeout: 30_000 }, async () => {
  const page = await fan(browser);
  await page.goto(`${env.gateway}/#/login`);
  await page.locator('#view-login').waitFor({ state: 'visible' });
  const text = await page.locator('#view-login').innerText();
  assert.doesNotMatch(text, /scripts\/|up\.sh|demo install/i);
  checkPolicy(page);
});
