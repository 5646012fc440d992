// The concert list (booking's public `GET /v1/concerts`): title, venue,
// first date, price range and the per-user seat limit, before anyone
// queues; and the lookup that tells a real concert from a made-up URL.

import { $, element } from './dom.js';
import { booking } from './api.js';
import { krw, formatShortDate } from './format.js';
import { describe } from './messages.js';
import { notify } from './notice.js';
import { load } from './store.js';
import {
  show, route, gen, stale,
} from './router.js';
import { seatsPerUser } from './limits.js';
import { seatsAvailable } from './join.js';

const concerts = new Map();

async function fetchConcerts() {
  const all = await booking('/v1/concerts');
  concerts.clear();
  all.forEach((c) => concerts.set(c.concert_id, c));
  return all;
}

/**
 * The concert of that id, or null when booking lists none (a not-found
 * page, not a join form). Throws an ApiError when booking cannot answer.
 */
export async function lookupConcert(id) {
  if (!concerts.has(id)) await fetchConcerts();
  return concerts.get(id) || null;
}

/** "50,000–120,000 KRW", "99,000 KRW", or null. */
export function priceRange(c) {
  if (c.min_price === null || c.min_price === undefined) return null;
  return c.min_price === c.max_price ? krw(c.min_price) : `${krw(c.min_price)}–${krw(c.max_price)}`;
}

export async function showConcerts() {
  document.title = 'Concerts · Tickets';
  show('concerts');
  const list = $('#concert-list');
  const loading = $('#concerts-loading');
  loading.hidden = false;
  loading.textContent = 'Loading concerts…';
  try {
    const g = gen();
    const [all, max] = await Promise.all([fetchConcerts(), seatsPerUser()]);
    if (stale(g)) return;
    list.replaceChildren(...all.map((c) => concertCard(c, max)));
    // One public stats request per card (the list is short). No free seat
    // is not "sold out": held seats come back, so the card says so and
    // still leads to the queue. Only a fan the gateway told (a join or a
    // poll answered `sold_out`) reads "Sold out", with no way in.
    all.forEach(async (c) => {
      if ((await seatsAvailable(c.concert_id)) !== 0 || stale(g)) return;
      const link = list.querySelector(`[data-concert="${c.concert_id}"] a.button`);
      if (!link || link.textContent === 'Continue shopping') return;
      const soldOut = Boolean(load(c.concert_id).soldOut);
      const note = element('p', { className: 'no-seats', text: soldOut ? 'Sold out' : 'No seats free right now' });
      note.dataset.fact = soldOut ? 'sold-out' : 'no-seats';
      if (soldOut) link.replaceWith(note);
      else link.before(note);
    });
    loading.hidden = all.length > 0;
    loading.textContent = 'No concerts are on sale right now.';
  } catch (err) {
    loading.hidden = true;
    notify(describe(err), { actions: [{ label: 'Try again', run: route }] });
  }
}

function concertCard(c, max) {
  const li = element('li', { className: 'card' });
  li.dataset.concert = String(c.concert_id);
  const facts = element('dl', { className: 'card-facts' });
  const fact = (term, value, name) => {
    const row = element('div');
    const dd = element('dd', { text: value });
    dd.dataset.fact = name;
    row.append(element('dt', { text: term }), dd);
    facts.append(row);
  };
  fact('First date', formatShortDate(c.first_starts_at) || 'No upcoming dates', 'date');
  const prices = priceRange(c);
  if (prices) fact('Prices', prices, 'prices');
  if (max) fact('Per person', `Up to ${max} seats per date`, 'limit');
  const link = element('a', { className: 'button primary' });
  link.href = `#/concerts/${c.concert_id}`;
  const st = load(c.concert_id);
  const shopping = Boolean(st.accessToken) && Date.parse(st.expiresAt) > Date.now();
  link.textContent = shopping ? 'Continue shopping' : st.ticket ? 'Back to my place in line' : 'Get tickets';
  link.setAttribute('aria-label', `${link.textContent}: ${c.title}`);
  li.append(element('h2', { text: c.title }), element('p', { className: 'muted', text: c.venue }), facts, link);
  return li;
}
