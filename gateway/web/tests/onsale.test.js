// The on-sale views: the pre-queue before a scheduled opening (countdown
// and the draw's commitment), the draw receipt after the opening (the
// published seed checks against the commitment, the fan's draw key), the
// "Check a draw" page, and a sold-out concert that offers nothing to wait
// for. Each test creates its own concert, so no other test's queue moves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  env, launch, fan, newFan, joinAs, logInFan, textOf, until, api, apiLogIn, queueSettings, stored, shot, checkPolicy,
} from './helpers.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const sha256 = (text) => createHash('sha256').update(text, 'ascii').digest('hex');

/** A new concert with one date a month ahead: its concert and schedule ids. */
async function newConcert(title, seats) {
  const startsAt = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
  const r = await api(env.booking, '/v1/admin/concerts', {
    method: 'POST',
    token: env.adminToken,
    body: { title, venue: 'Test Hall', schedules: [{ starts_at: startsAt, price: 10_000, seats }] },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { concert: r.body.concert_id, schedule: r.body.schedules[0].schedule_id };
}

const stats = async (concert) => (await api(env.gateway, `/v1/concerts/${concert}/queue`)).body;

test('the pre-queue counts down to the opening, then shows a draw receipt that checks out', { timeout: 120_000 }, async () => {
  const { concert } = await newConcert('Pre-queue Night', 50);
  // Nobody is admitted after the draw (max_active 0), so the fan stays in line to read the receipt.
  const opensAt = new Date(Date.now() + 12_000).toISOString();
  await queueSettings(env.gateway, concert, { opens_at: opensAt, max_active: 0 });
  const before = await stats(concert);
  assert.match(before.draw_commitment, /^[0-9a-f]{64}$/);
  assert.equal(before.draw_seed, null);

  const buyer = await newFan('Pre-queue Fan');
  const page = await fan(browser);
  await joinAs(page, env.gateway, concert, buyer);
  await page.locator('#prequeue-card').waitFor({ state: 'visible' });
  await textOf(page.locator('#opens-in'), /^0:(0\d|1[0-2])$/);
  await textOf(page.locator('#commitment'), new RegExp(`^${before.draw_commitment}$`));
  await textOf(page.locator('#waiting-title-text'), /pre-queue/);
  await shot(page, 'prequeue');

  // The opening: the fan is placed by the draw and sees the receipt.
  await page.locator('#line-card').waitFor({ state: 'visible', timeout: 40_000 });
  await textOf(page.locator('#position'), /^1$/);
  const opened = await stats(concert);
  assert.match(opened.draw_seed, /^[0-9a-f]{64}$/);
  assert.equal(sha256(opened.draw_seed), before.draw_commitment);
  const { ticketId } = await stored(page, buyer.userId, concert);
  await textOf(page.locator('#receipt-ticket'), new RegExp(`^${ticketId}$`));
  await textOf(page.locator('#receipt-commitment'), new RegExp(`^${before.draw_commitment}$`));
  await textOf(page.locator('#receipt-seed'), new RegExp(`^${opened.draw_seed}$`));
  await textOf(page.locator('#receipt-key'), new RegExp(`^${sha256(opened.draw_seed + ticketId)}$`));
  await textOf(page.locator('#receipt-check'), /^Checked: the SHA-256 of the seed equals the commitment/);
  await textOf(page.locator('#receipt-rank'), /^1$/);
  await shot(page, 'draw-receipt');

  // The "Check a draw" page recomputes the order from the seed.
  const other = '00000000-0000-4000-8000-000000000000';
  await page.getByRole('link', { name: 'Check a draw' }).click();
  await page.locator('#view-verify').waitFor({ state: 'visible' });
  await page.getByLabel('Seed (64 hex characters)').fill(opened.draw_seed);
  await page.getByLabel('Commitment (optional)').fill(before.draw_commitment);
  await page.getByLabel('Ticket ids (one per line)').fill(`${ticketId}\n${other}`);
  await page.getByRole('button', { name: 'Compute the order' }).click();
  await textOf(page.locator('#verify-result'), /^The seed matches the commitment/);
  const expected = [ticketId, other].sort((a, b) => (sha256(opened.draw_seed + a) < sha256(opened.draw_seed + b) ? -1 : 1));
  await textOf(page.locator('#verify-order li').nth(0), new RegExp(`^${expected[0]} `));
  await textOf(page.locator('#verify-order li').nth(1), new RegExp(`^${expected[1]} `));
  await shot(page, 'verify-draw');
  checkPolicy(page);
});

test('a sold-out concert says so and offers nothing to wait for', { timeout: 120_000 }, async () => {
  const { concert, schedule } = await newConcert('Sold-out Night', 2);
  // Another fan buys both seats through the API.
  const early = await newFan('Early Bird');
  const session = await apiLogIn(env.booking, early.userId, early.password);
  const joined = await api(env.gateway, `/v1/concerts/${concert}/queue`, { method: 'POST', body: {}, token: session });
  assert.equal(joined.status, 201, JSON.stringify(joined.body));
  let access = joined.body.access_token;
  await until(async () => {
    if (access) return true;
    const s = await api(env.gateway, `/v1/concerts/${concert}/queue/status`, { token: joined.body.ticket });
    access = s.body.access_token;
    return Boolean(access);
  }, { what: () => 'the early fan to be admitted' });
  const ids = [];
  for (const seatNumber of [1, 2]) {
    const held = await api(env.booking, '/v1/reservations', {
      method: 'POST', token: access, body: { schedule_id: schedule, seat_number: seatNumber },
    });
    assert.equal(held.status, 201, JSON.stringify(held.body));
    ids.push(held.body.reservation_id);
  }
  const paid = await api(env.booking, '/v1/payments', { method: 'POST', token: session, body: { reservation_ids: ids } });
  assert.equal(paid.status, 201, JSON.stringify(paid.body));
  await until(async () => (await stats(concert)).seats_available === 0,
    { what: () => 'the gateway to learn that no seat is left' });

  const buyer = await newFan('Too Late Fan');
  const page = await fan(browser);
  // The list says so and offers no way into the queue.
  await page.goto(`${env.gateway}/`);
  const card = page.locator(`#concert-list li[data-concert="${concert}"]`);
  await textOf(card.locator('[data-fact="sold-out"]'), /^Sold out$/);
  assert.equal(await card.locator('a').count(), 0, 'no "Get tickets" on a sold-out card');
  // So does the concert's own page: no join form, ever.
  const joins = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith(`/v1/concerts/${concert}/queue`)) joins.push(r.url()); });
  await page.goto(`${env.gateway}/#/concerts/${concert}`);
  await logInFan(page, buyer);
  await page.locator('#view-soldout').waitFor({ state: 'visible' });
  assert.deepEqual(joins, []);
  await textOf(page.locator('#soldout-title'), /^Sold out: Sold-out Night$/);
  await page.getByRole('button', { name: 'Join the queue' }).waitFor({ state: 'hidden' });
  await page.getByRole('button', { name: 'Leave the queue' }).waitFor({ state: 'hidden' });
  await shot(page, 'sold-out');
  // A refresh keeps saying so.
  await page.reload();
  await page.locator('#view-soldout').waitFor({ state: 'visible' });
  checkPolicy(page);
});

test('fewer seats left than people ahead is said plainly', { timeout: 120_000 }, async () => {
  const { concert } = await newConcert('Small Room', 2);
  await queueSettings(env.gateway, concert, { max_active: 0 });
  await until(async () => (await stats(concert)).seats_available === 2,
    { what: () => 'the gateway to count the two seats' });
  for (const name of ['Ahead One', 'Ahead Two', 'Ahead Three']) {
    const ahead = await newFan(name, { balance: 0 });
    const session = await apiLogIn(env.booking, ahead.userId, ahead.password);
    const r = await api(env.gateway, `/v1/concerts/${concert}/queue`, { method: 'POST', body: {}, token: session });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  const buyer = await newFan('Fourth In Line', { balance: 0 });
  const page = await fan(browser);
  await joinAs(page, env.gateway, concert, buyer);
  await textOf(page.locator('#position'), /^4$/);
  await textOf(page.locator('#scarcity'), /^About 2 seats left, 3 people ahead of you\. You may not get a seat/);
  await shot(page, 'waiting-few-seats');
  checkPolicy(page);
});
