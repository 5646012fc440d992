// Checkout pays exactly what is on screen: two tabs of one fan, each
// holding a different seat, each pay their own seat and price (checked in
// Postgres); a cart of three seats is paid at once, with one debit; Back
// from checkout shows the fan's own hold and creates no second hold.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, launch, fan, watch, newFan, joinAs, logInFan, waitAdmitted, pickFirstDate, seat, select, seatPrice,
  textOf, attributeOf, paymentsOf, sql, shot, checkPolicy, until, api, apiLogIn, DESKTOP,
} from './helpers.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const CONCERT = 1;
const krw = (n) => `${new Intl.NumberFormat('en-US').format(n)} KRW`;

/** Hold the selected seat(s) and wait for the checkout of exactly `seats`. */
async function holdAndCheckout(page, seats, buttonName) {
  await page.getByRole('button', { name: buttonName }).click();
  await page.locator('#view-checkout').waitFor({ state: 'visible' }).catch(async (err) => {
    const view = await page.locator('[data-view]:visible').getAttribute('id').catch(() => null);
    const notice = await page.locator('#notice-text').textContent().catch(() => null);
    throw new Error(`no checkout after ${buttonName}: at ${page.url()}, view ${view}, notice ${JSON.stringify(notice)}: ${err.message}`);
  });
  const words = seats.length === 1 ? `Seat ${seats[0]}` : `Seats ${seats.slice(0, -1).join(', ')} and ${seats.at(-1)}`;
  await textOf(page.locator('#checkout-seat'), new RegExp(`^${words}$`));
  await textOf(page.locator('#hold-left'), /^[45]:\d\d$/);
  await page.locator('#pay-button:enabled').waitFor();
}

test('two tabs of one fan each pay exactly their own seat and price', { timeout: 120_000 }, async () => {
  const buyer = await newFan('Two Tabs Fan');
  const tabA = await fan(browser);
  await joinAs(tabA, env.gateway, CONCERT, buyer);
  await waitAdmitted(tabA);
  const schedule = await pickFirstDate(tabA);
  const priceA = await seatPrice(tabA, 5);
  await select(tabA, 5);
  await holdAndCheckout(tabA, [5], 'Hold seat 5');
  await textOf(tabA.locator('#checkout-price'), new RegExp(`^${krw(priceA)}$`));

  // A second tab of the same browser: the same fan, already admitted.
  const tabB = await tabA.context().newPage();
  watch(tabB);
  await tabB.goto(`${env.gateway}/#/concerts/${CONCERT}`);
  await logInFan(tabB, buyer);
  await waitAdmitted(tabB);
  await tabB.locator(`#date-list button[data-schedule="${schedule}"]`).click();
  await tabB.locator('#seat-map button').nth(49).waitFor();
  // Tab A's hold shows as the fan's own in tab B.
  await attributeOf(seat(tabB, 5), 'aria-label', /^Seat 5, your hold, /);
  const priceB = await seatPrice(tabB, 33);
  assert.notEqual(priceA, priceB, 'a premium seat and a regular one');
  await select(tabB, 33);
  await holdAndCheckout(tabB, [33], 'Hold seat 33');
  await shot(tabB, 'checkout-second-tab');

  // Tab A pays after tab B held: it still pays seat 5 at its price.
  await tabA.getByRole('button', { name: 'Pay', exact: true }).click();
  await tabA.locator('#view-done').waitFor({ state: 'visible' });
  await textOf(tabA.locator('#done-seat'), /^Seat 5$/);
  await textOf(tabA.locator('#done-amount'), new RegExp(`^${krw(priceA)}$`));
  assert.deepEqual(paymentsOf(env.database, buyer.userId), [`${priceA}|5`]);

  // Tab B still shows seat 33 and pays exactly that, after tab A's payment
  // ended the shopping session (a hold is proof enough of admission).
  await textOf(tabB.locator('#checkout-seat'), /^Seat 33$/);
  await tabB.getByRole('button', { name: 'Pay', exact: true }).click();
  await tabB.locator('#view-done').waitFor({ state: 'visible' });
  await textOf(tabB.locator('#done-seat'), /^Seat 33$/);
  await textOf(tabB.locator('#done-amount'), new RegExp(`^${krw(priceB)}$`));

  assert.deepEqual(paymentsOf(env.database, buyer.userId), [`${priceA}|5`, `${priceB}|33`]);
  assert.equal(sql(env.database, `
    select string_agg(r.seat_number || ':' || r.status || ':' || s.price, ',' order by r.seat_number)
    from reservations r join seats s using (schedule_id, seat_number)
    where r.user_id = ${buyer.userId}`), `5:confirmed:${priceA},33:confirmed:${priceB}`);
  assert.equal(sql(env.database, `select balance from balances where user_id = ${buyer.userId}`),
    String(1_000_000 - priceA - priceB));
  checkPolicy(tabA);
  checkPolicy(tabB);
});

test('a cart of three seats is paid at once, with one debit', { timeout: 120_000 }, async () => {
  const buyer = await newFan('Cart Fan');
  const page = await fan(browser);
  // The list shows dates, prices and the per-user limit before queueing.
  await page.goto(`${env.gateway}/`);
  const card = page.locator(`#concert-list li[data-concert="${CONCERT}"]`);
  await textOf(card.locator('[data-fact="date"]'), /\d{4}/);
  await textOf(card.locator('[data-fact="prices"]'), /^[\d,]+ KRW–[\d,]+ KRW$/);
  await textOf(card.locator('[data-fact="limit"]'), /^Up to 4 seats per date$/);
  await shot(page, 'concert-list-dates-prices');

  await joinAs(page, env.gateway, CONCERT, buyer);
  await waitAdmitted(page);
  await pickFirstDate(page);
  await textOf(page.locator('#seat-limit'), /Up to 4 seats per person for this date; you can add 4\./);
  const seats = [41, 42, 43];
  let total = 0;
  for (const n of seats) {
    total += await seatPrice(page, n);
    await select(page, n);
  }
  await textOf(page.locator('#selection'), new RegExp(`^Seats 41, 42 and 43 selected · ${krw(total)}$`));
  await shot(page, 'seat-map-cart');
  await holdAndCheckout(page, seats, 'Hold 3 seats');
  await textOf(page.locator('#checkout-price'), new RegExp(`^${krw(total)}$`));
  await textOf(page.locator('#checkout-date'), /\d{4}/);
  await page.locator('#checkout-lines li').nth(2).waitFor();
  await shot(page, 'checkout-cart');

  const paid = page.waitForRequest((r) => r.url() === `${env.booking}/v1/payments` && r.method() === 'POST');
  await page.getByRole('button', { name: 'Pay', exact: true }).click();
  const request = await paid;
  const ids = page.url().replace(/^.*\/checkout\//, '').split(',');
  assert.deepEqual(JSON.parse(request.postData()), { reservation_ids: ids });
  assert.match(await request.headerValue('idempotency-key'), /^[0-9a-f-]{36}$/);
  await page.locator('#view-done').waitFor({ state: 'visible' });
  await textOf(page.locator('#done-title'), /^You have 3 tickets!$/);
  await textOf(page.locator('#done-seat'), /^Seats 41, 42 and 43$/);
  await textOf(page.locator('#done-amount'), new RegExp(`^${krw(total)}$`));
  await textOf(page.locator('#done-date'), /\d{4}/);
  await shot(page, 'confirmation-cart');

  // Back leaves the confirmation: the paid checkout is not in the history
  // any more, and no redirect pushes the confirmation again.
  const doneUrl = page.url();
  await page.goBack();
  await until(async () => !page.url().includes('/done/') && !page.url().includes('/checkout/')
    && await page.locator('#view-done').isHidden(), { what: () => `Back to leave the confirmation (at ${page.url()})` });
  // An old checkout address of paid seats shows the confirmation in its place.
  await page.goto(`${env.gateway}/#/`);
  await page.locator('#view-concerts').waitFor({ state: 'visible' });
  await page.goto(doneUrl.replace('/done/', '/checkout/'));
  await page.locator('#view-done').waitFor({ state: 'visible' });
  assert.equal(page.url(), doneUrl);
  await page.goBack();
  await page.locator('#view-concerts').waitFor({ state: 'visible' });

  assert.deepEqual(paymentsOf(env.database, buyer.userId), [`${total}|41,42,43`]);
  assert.equal(sql(env.database, `select count(*) from balance_ledger where user_id = ${buyer.userId} and kind = 'payment'`), '1');
  assert.equal(sql(env.database, `select balance from balances where user_id = ${buyer.userId}`), String(1_000_000 - total));
  checkPolicy(page);
});

test('Back from checkout shows the fan\'s own hold and creates no second hold', { timeout: 120_000 }, async () => {
  const buyer = await newFan('Back Button Fan');
  const page = await fan(browser, { viewport: DESKTOP });
  const holds = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/v1/reservations')) holds.push(r.url()); });
  await joinAs(page, env.gateway, CONCERT, buyer);
  await waitAdmitted(page);
  await pickFirstDate(page);
  await select(page, 25);
  await holdAndCheckout(page, [25], 'Hold seat 25');
  const checkoutUrl = page.url();

  await page.goBack();
  await page.locator('#view-seats').waitFor({ state: 'visible' });
  await attributeOf(seat(page, 25), 'aria-label', /^Seat 25, your hold, /);
  await textOf(page.locator('#cart-text'), /^Your hold: seat 25 · /);
  await textOf(page.locator('#continue-button'), /^Continue to checkout, [45]:\d\d left$/);
  await page.locator('#notice').waitFor({ state: 'hidden' });
  await shot(page, 'seat-map-your-hold');

  // A refresh keeps it; the seat cannot be picked a second time.
  await page.reload();
  await page.locator('#view-seats').waitFor({ state: 'visible' });
  await attributeOf(seat(page, 25), 'aria-label', /^Seat 25, your hold, /);
  await seat(page, 25).click({ force: true }); // aria-disabled: a click is not a selection
  await textOf(page.locator('#selection'), /^Seat 25 is already yours\.$/);
  await attributeOf(page.locator('#hold-button'), 'disabled', /^$/);

  await page.getByRole('button', { name: /^Continue to checkout/ }).click();
  await page.locator('#view-checkout').waitFor({ state: 'visible' });
  await textOf(page.locator('#checkout-seat'), /^Seat 25$/);
  assert.equal(page.url(), checkoutUrl);
  assert.equal(holds.length, 1, 'one hold request');
  assert.equal(sql(env.database, `select count(*) from reservations where user_id = ${buyer.userId}`), '1');
  checkPolicy(page);
});

test('a checkout address opened by another user cannot be paid', { timeout: 60_000 }, async () => {
  // A checkout is named by its reservation ids, but booking answers only
  // their owner: another user finds no such hold and no Pay.
  const owner = await newFan('Cart Owner');
  const other = await newFan('Other Fan');
  const page = await fan(browser);
  await joinAs(page, env.gateway, 2, owner);
  await waitAdmitted(page);
  await pickFirstDate(page);
  await select(page, 44);
  await holdAndCheckout(page, [44], 'Hold seat 44');
  const url = page.url();
  const stranger = await fan(browser);
  await stranger.goto(url);
  await logInFan(stranger, other);
  // None of the ids is theirs: a plain "No such booking", no hold-time words.
  await stranger.locator('#view-notfound').waitFor({ state: 'visible' });
  await textOf(stranger.locator('#notfound-title'), /^No such booking$/);
  await stranger.locator('#view-checkout').waitFor({ state: 'hidden' });
  assert.doesNotMatch(await stranger.locator('main').innerText(), /hold time|hold not found/i);
  await shot(stranger, 'no-such-booking');
  checkPolicy(stranger);
});

test('a checkout address under the wrong concert never pays there', { timeout: 120_000 }, async () => {
  // The fan holds a seat of concert 2 and opens its checkout under concert
  // 1: the page goes (in place) to concert 2's checkout and nothing is
  // paid under concert 1's name.
  const buyer = await newFan('Wrong Concert Fan', { balance: 100_000 });
  const page = await fan(browser);
  const payments = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/v1/payments')) payments.push(r.url()); });
  await joinAs(page, env.gateway, 2, buyer);
  await waitAdmitted(page);
  await pickFirstDate(page);
  await select(page, 45);
  await holdAndCheckout(page, [45], 'Hold seat 45');
  const ids = page.url().replace(/^.*\/checkout\//, '');
  const concert2Title = await page.locator('#checkout-title ~ .card [data-concert-title]').textContent();
  await page.goto(`${env.gateway}/#/concerts/1`);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await page.goto(`${env.gateway}/#/concerts/1/checkout/${ids}`);
  await until(async () => page.url().endsWith(`#/concerts/2/checkout/${ids}`), { what: () => `concert 2's checkout (at ${page.url()})` });
  await page.locator('#view-checkout').waitFor({ state: 'visible' });
  await textOf(page.locator('#view-checkout [data-concert-title]'), new RegExp(`^${concert2Title}$`));
  // The redirect took the wrong address's place: Back returns to concert 1's page.
  await page.goBack();
  await page.locator('#view-join').waitFor({ state: 'visible' });
  assert.deepEqual(payments, []);

  // Another tab comes back into view after a top-up elsewhere: the balance is read again.
  await page.goForward();
  await page.locator('#view-checkout').waitFor({ state: 'visible' });
  await textOf(page.locator('#view-checkout [data-balance]'), /^100,000 KRW$/);
  const session = await apiLogIn(env.booking, buyer.userId, buyer.password);
  const charged = await api(env.booking, `/v1/users/${buyer.userId}/balance/charge`, {
    method: 'POST', body: { amount: 50_000 }, token: session,
  });
  assert.equal(charged.status, 200, JSON.stringify(charged.body));
  await page.evaluate(() => window.dispatchEvent(new Event('focus')));
  await textOf(page.locator('#view-checkout [data-balance]'), /^150,000 KRW$/);

  // A fresh browser of the same fan knows no date for the hold: the date
  // line is left out, never pointing to a page that does not exist.
  const elsewhere = await fan(browser);
  await elsewhere.goto(`${env.gateway}/#/concerts/2/checkout/${ids}`);
  await logInFan(elsewhere, buyer);
  await elsewhere.locator('#view-checkout').waitFor({ state: 'visible' });
  await textOf(elsewhere.locator('#checkout-seat'), /^Seat 45$/);
  await elsewhere.locator('#checkout-date-row').waitFor({ state: 'hidden' });
  assert.doesNotMatch(await elsewhere.locator('#view-checkout').innerText(), /booking history/i);
  checkPolicy(page);
  checkPolicy(elsewhere);
});
