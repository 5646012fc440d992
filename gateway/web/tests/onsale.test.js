// The on-sale views: the pre-queue before a scheduled opening (countdown
// and the draw's commitment), the draw receipt after the opening (the
// published seed checks against the commitment, the fan's draw key), the
// "Check a draw" page; a concert with no free seat still lets fans join
// (held seats come back), and only the queue's answer makes it "Sold out".
// Each test creates its own concert, so no other test's queue moves.
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

/** A fan of its own, joined through the API and admitted: {session, access}. */
async function admittedFan(concert, name) {
  const early = await newFan(name);
  const session = await apiLogIn(env.booking, early.userId, early.password);
  const joined = await api(env.gateway, `/v1/concerts/${concert}/queue`, { method: 'POST', body: {}, token: session });
  assert.equal(joined.status, 201, JSON.stringify(joined.body));
  let access = joined.body.access_token;
  await until(async () => {
    if (access) return true;
    const s = await api(env.gateway, `/v1/concerts/${concert}/queue/status`, { token: joined.body.ticket });
    access = s.body.access_token;
    return Boolean(access);
  }, { what: () => `${name} to be admitted` });
  return { session, access };
}

/** Hold seats `seats` of `schedule` with an access token: the reservation ids. */
async function hold(access, schedule, seats) {
  const ids = [];
  for (const seatNumber of seats) {
    const held = await api(env.booking, '/v1/reservations', {
      method: 'POST', token: access, body: { schedule_id: schedule, seat_number: seatNumber },
    });
    assert.equal(held.status, 201, JSON.stringify(held.body));
    ids.push(held.body.reservation_id);
  }
  return ids;
}

/** The join requests (POST) a page sends for `concert`. */
function joinsOf(page, concert) {
  const joins = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith(`/v1/concerts/${concert}/queue`)) joins.push(r.url()); });
  return joins;
}

/** The card of `concert` on the list says no seat is free and still leads to the concert. */
async function noSeatsCard(page, concert) {
  await page.goto(`${env.gateway}/`);
  const card = page.locator(`#concert-list li[data-concert="${concert}"]`);
  await textOf(card.locator('[data-fact="no-seats"]'), /^No seats free right now$/);
  const link = card.getByRole('link', { name: /^Get tickets: / });
  assert.equal(await link.getAttribute('href'), `#/concerts/${concert}`);
  return link;
}

const NO_SEATS_NOTE = /^Every seat is sold or held right now\. Held seats that are not paid in time come back, so you can still join the queue; if every seat gets sold, you will be told at once\.$/;

/**
 * A new fan named `name` finds `concert` with no seat free on the list,
 * follows its card, logs in and sees the join page say so. Returns the fan,
 * the page and the join requests it has sent (none yet).
 */
async function joinPageWithNoSeatFree(concert, name) {
  const buyer = await newFan(name);
  const page = await fan(browser);
  const joins = joinsOf(page, concert);
  const link = await noSeatsCard(page, concert);
  await link.click();
  await logInFan(page, buyer);
  await page.locator('#view-join').waitFor({ state: 'visible' });
  await textOf(page.locator('#join-no-seats'), NO_SEATS_NOTE);
  return { buyer, page, joins };
}

test('a sold-out concert is said so by the queue, and the page remembers it', { timeout: 120_000 }, async () => {
  const { concert, schedule } = await newConcert('Sold-out Night', 2);
  // Another fan buys both seats through the API.
  const early = await admittedFan(concert, 'Early Bird');
  const ids = await hold(early.access, schedule, [1, 2]);
  const paid = await api(env.booking, '/v1/payments', { method: 'POST', token: early.session, body: { reservation_ids: ids } });
  assert.equal(paid.status, 201, JSON.stringify(paid.body));
  await until(async () => (await stats(concert)).seats_available === 0,
    { what: () => 'the gateway to learn that no seat is left' });

  // The list cannot tell sold from held: no seat free, and still a way in.
  const { buyer, page, joins } = await joinPageWithNoSeatFree(concert, 'Too Late Fan');
  await page.locator('#join-no-seats').waitFor({ state: 'visible' });
  assert.deepEqual(joins, [], 'nothing is joined before the fan asks');
  // The queue answers the join: sold out.
  await page.getByRole('button', { name: 'Join the queue' }).click();
  await page.locator('#view-soldout').waitFor({ state: 'visible' });
  await textOf(page.locator('#soldout-title'), /^Sold out: Sold-out Night$/);
  await textOf(page.locator('#soldout-text'), /^Every seat of every upcoming date is sold/);
  assert.equal(joins.length, 1);
  assert.equal((await stored(page, buyer.userId, concert)).soldOut, true);
  await page.getByRole('button', { name: 'Join the queue' }).waitFor({ state: 'hidden' });
  await page.getByRole('button', { name: 'Leave the queue' }).waitFor({ state: 'hidden' });
  await shot(page, 'sold-out');

  // A refresh keeps the sold-out view and sends no second join, even once
  // the page has read the concert's stats again.
  const checked = page.waitForResponse((r) => r.request().method() === 'GET' && r.url().endsWith(`/v1/concerts/${concert}/queue`));
  await page.reload();
  await checked;
  await page.locator('#view-soldout').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#view-join').isHidden(), true);
  // Back on the list, the card says "Sold out" to this fan, with no way in.
  await page.getByRole('link', { name: 'Back to concerts' }).click();
  const card = page.locator(`#concert-list li[data-concert="${concert}"]`);
  await textOf(card.locator('[data-fact="sold-out"]'), /^Sold out$/);
  assert.equal(await card.getByRole('link').count(), 0, 'no "Get tickets" once the queue said sold out');
  // Opening the concert again shows the sold-out view, with no join.
  await page.goto(`${env.gateway}/#/concerts/${concert}`);
  await page.locator('#view-soldout').waitFor({ state: 'visible' });
  assert.equal(joins.length, 1, 'one join in all');
  checkPolicy(page);
});

test('every seat held but not paid is not sold out: the fan still joins the queue', { timeout: 120_000 }, async () => {
  const { concert, schedule } = await newConcert('Held Night', 2);
  // Another fan holds both seats and does not pay (yet).
  const holder = await admittedFan(concert, 'Seat Holder');
  await hold(holder.access, schedule, [1, 2]);
  await until(async () => (await stats(concert)).seats_available === 0,
    { what: () => 'the gateway to learn that no seat is free' });

  const { buyer, page, joins } = await joinPageWithNoSeatFree(concert, 'Hopeful Fan');
  const button = page.getByRole('button', { name: 'Join the queue' });
  await button.waitFor({ state: 'visible' });
  assert.equal(await button.getAttribute('aria-describedby'), 'join-no-seats');
  await shot(page, 'join-no-seats');
  await button.click();
  // In the queue (waiting, or admitted at once), never sold out.
  await page.locator('#view-waiting:visible, #view-dates:visible').waitFor();
  assert.equal(joins.length, 1);
  assert.equal(await page.locator('#view-soldout').isHidden(), true);
  const kept = await stored(page, buyer.userId, concert);
  assert.equal(kept.soldOut, undefined);
  assert.ok(kept.ticket || kept.accessToken, JSON.stringify(kept));
  if (await page.locator('#view-dates').isVisible()) {
    // Admitted: the date says no seat is free, not "Sold out".
    await textOf(page.locator('#date-list button .count'), /^No seats free right now$/);
  }
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
