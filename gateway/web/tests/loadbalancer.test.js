// The fan pages as production serves them: through nginx in front of two
// gateways and two bookings (scripts/replicas.sh), one origin for the pages
// and both APIs. A fan logs in, joins, is admitted, holds a seat and pays;
// every request of the page goes to that one origin and none is answered
// with a 5xx, and Postgres shows the seat paid by that fan.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, launch, fan, newFan, joinAs, waitAdmitted, pickFirstDate, select, seatPrice, textOf, paymentsOf, sql,
  checkPolicy,
} from './helpers.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** A demo concert of the database behind the load balancer (`booking seed`). */
const CONCERT = 1;
const SEAT = 7;
const krw = (n) => `${new Intl.NumberFormat('en-US').format(n)} KRW`;

test('a fan buys a ticket through the load balancer, on one origin', { timeout: 120_000 }, async () => {
  const lb = env.loadBalancer;
  const buyer = await newFan('Load Balanced Fan', { booking: lb });
  const page = await fan(browser);
  const origin = new URL(lb).origin;
  const elsewhere = [];
  const failed = [];
  const calls = new Set();
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (!/^https?:$/.test(url.protocol)) return;
    if (url.origin !== origin) elsewhere.push(`${request.method()} ${url}`);
    else if (request.method() === 'POST') calls.add(`POST ${url.pathname}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 500) failed.push(`${response.status()} ${response.request().method()} ${response.url()}`);
  });

  await joinAs(page, lb, CONCERT, buyer);
  await waitAdmitted(page);
  const schedule = await pickFirstDate(page);
  const price = await seatPrice(page, SEAT);
  await select(page, SEAT);
  await page.getByRole('button', { name: `Hold seat ${SEAT}` }).click();
  await page.locator('#view-checkout').waitFor({ state: 'visible' });
  await textOf(page.locator('#checkout-seat'), new RegExp(`^Seat ${SEAT}$`));
  await textOf(page.locator('#checkout-price'), new RegExp(`^${krw(price)}$`));
  await page.locator('#pay-button:enabled').waitFor();
  await page.getByRole('button', { name: 'Pay', exact: true }).click();
  await page.locator('#view-done').waitFor({ state: 'visible' });
  await textOf(page.locator('#done-seat'), new RegExp(`^Seat ${SEAT}$`));
  await textOf(page.locator('#done-amount'), new RegExp(`^${krw(price)}$`));

  // Postgres behind the load balancer: the seat is sold, and paid, by this fan.
  const sold = sql(env.loadBalancerDatabase, `
    select r.user_id || '|' || r.status || '|' || pr.amount || '|' || p.user_id
    from reservations r join payment_reservations pr using (reservation_id)
    join payments p using (payment_id)
    where r.schedule_id = ${schedule} and r.seat_number = ${SEAT}`);
  assert.equal(sold, `${buyer.userId}|confirmed|${price}|${buyer.userId}`);
  assert.deepEqual(paymentsOf(env.loadBalancerDatabase, buyer.userId), [`${price}|${SEAT}`]);
  // The page called both services, and only on the load balancer's origin.
  for (const call of ['POST /v1/sessions', `POST /v1/concerts/${CONCERT}/queue`, 'POST /v1/reservations',
    'POST /v1/payments']) {
    assert.ok(calls.has(call), `${call} through the load balancer (seen: ${[...calls].join(', ')})`);
  }
  assert.deepEqual(elsewhere, [], 'every request of the page went to the load balancer');
  assert.deepEqual(failed, [], 'no answer through the load balancer was a 5xx');
  checkPolicy(page);
});
