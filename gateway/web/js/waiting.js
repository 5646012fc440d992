// The waiting room: the pre-queue before a scheduled opening (countdown and
// the draw's commitment), the line (place, people ahead, the estimated
// wait as a range in words, seats left when they are fewer than the people
// ahead), the draw receipt after the opening, and the sold-out page.
//
// Polls follow the gateway's `poll_after_ms`, with two exceptions that
// make a change show within one poll: at the opening the page polls right
// at `opens_at`, and while the queue is paused it polls at least every
// PAUSED_POLL_MS so that a resume is shown at once.

import { $, setTime } from './dom.js';
import { gateway } from './api.js';
import {
  numberFormat, etaWords, sentence, clock, msUntil, formatDate, formatTime, jitter,
} from './format.js';
import { describe } from './messages.js';
import { notify, clearNotice, infoShown } from './notice.js';
import { load, update } from './store.js';
import {
  show, go, redirect, later, every, stale, gen, current,
} from './router.js';
import { refreshBalance } from './balance.js';
import { admitted } from './shopping.js';
import { seedMatches, drawKey } from './verify.js';

const RETRY_MS = 3000;
const PAUSED_POLL_MS = 1000;
let lastAnnounced = '';

export function showWaiting(concert) {
  show('waiting');
  lastAnnounced = '';
  $('#prequeue-card').hidden = true;
  $('#line-card').hidden = true;
  refreshBalance();
  poll(concert, gen());
}

async function poll(concert, g) {
  if (stale(g)) return;
  const st = load(concert);
  let status;
  try {
    status = await gateway(`/v1/concerts/${concert}/queue/status`, { token: st.ticket });
  } catch (err) {
    if (stale(g)) return;
    if (['TICKET_NOT_FOUND', 'UNAUTHENTICATED', 'FORBIDDEN'].includes(err.code)) {
      update(concert, { ticket: undefined, ticketId: undefined });
      redirect(`#/concerts/${concert}`, { text: describe({ code: 'TICKET_NOT_FOUND' }), kind: 'info' });
      return;
    }
    notify(`${describe(err)} We keep trying; your place is kept meanwhile.`, { kind: 'info' });
    later(() => poll(concert, g), jitter(err.retryAfter ? err.retryAfter * 1000 : RETRY_MS));
    return;
  }
  if (stale(g)) return;
  if (infoShown()) clearNotice();
  switch (status.status) {
    case 'active':
      admitted(concert, status);
      return;
    case 'sold_out':
      update(concert, { soldOut: true, ticket: undefined, ticketId: undefined });
      redirect(`#/concerts/${concert}`);
      return;
    case 'prequeue': {
      renderPrequeue(concert, status, g);
      // Poll again at the opening (spread over a second and a half), or sooner as asked.
      const untilOpening = msUntil(status.opens_at);
      const next = Number.isFinite(untilOpening)
        ? Math.min(status.poll_after_ms || 5000, Math.max(250, untilOpening) + Math.random() * 1500)
        : status.poll_after_ms || 5000;
      later(() => poll(concert, g), next);
      return;
    }
    default: {
      renderWaiting(concert, status);
      const asked = status.poll_after_ms || 2000;
      later(() => poll(concert, g), jitter(status.paused ? Math.min(asked, PAUSED_POLL_MS) : asked));
    }
  }
}

function renderPrequeue(concert, s, g) {
  update(concert, { commitment: s.draw_commitment, opensAt: s.opens_at });
  $('#prequeue-card').hidden = false;
  $('#line-card').hidden = true;
  $('#receipt').hidden = true;
  $('#waiting-title-text').textContent = 'You are in the pre-queue for';
  const opensAt = $('#opens-at');
  opensAt.textContent = formatDate(s.opens_at);
  opensAt.dateTime = s.opens_at;
  $('#commitment').textContent = s.draw_commitment;
  $('#prequeue-ticket').textContent = load(concert).ticketId || '–';
  const tick = () => {
    if (stale(g)) return;
    const left = msUntil(s.opens_at);
    $('#opens-in').textContent = left > 0 ? clock(left) : 'now — drawing places…';
  };
  tick();
  if (!$('#opens-in').dataset.ticking || $('#opens-in').dataset.ticking !== String(g)) {
    $('#opens-in').dataset.ticking = String(g);
    every(tick, 250);
  }
  announce(`The sale opens at ${formatDate(s.opens_at)}. Everyone in the pre-queue gets a place by a fair draw.`);
}

function renderWaiting(concert, s) {
  let st = load(concert);
  if (!st.startPosition || s.position > st.startPosition) st = update(concert, { startPosition: s.position });
  if (st.commitment && !st.drawRank) st = update(concert, { drawRank: s.position });
  $('#prequeue-card').hidden = true;
  $('#line-card').hidden = false;
  $('#waiting-title-text').textContent = 'You are in line for';
  const start = st.startPosition;
  const ahead = s.position - 1;
  $('#position').textContent = numberFormat.format(s.position);
  $('#ahead').textContent = numberFormat.format(ahead);
  $('#waiting-total').textContent = numberFormat.format(s.waiting);
  const eta = etaWords(s.eta_seconds, s.paused, s.eta_range_seconds);
  $('#eta').textContent = eta;
  $('#paused-note').hidden = !s.paused;
  const scarce = Number.isSafeInteger(s.seats_available) && s.seats_available < ahead;
  $('#scarcity').hidden = !scarce;
  if (scarce) {
    $('#scarcity').textContent = `About ${numberFormat.format(s.seats_available)} seats left, `
      + `${numberFormat.format(ahead)} people ahead of you. You may not get a seat: keep your place if you like, or leave the queue.`;
  }
  const progress = $('#progress');
  progress.value = start > 1 ? (start - s.position) / (start - 1) : 1;
  progress.setAttribute('aria-valuetext', `${ahead} ${ahead === 1 ? 'person' : 'people'} ahead of you`);
  setTime($('#updated'), new Date(), formatTime);
  announce(s.paused
    ? `The queue is paused by the organiser. You are number ${s.position} in line.`
    : `You are number ${s.position} in line. ${sentence(etaWords(s.eta_seconds, false, s.eta_range_seconds))}`);
  if (st.commitment) renderReceipt(concert, st);
}

function announce(words) {
  if (words === lastAnnounced) return;
  $('#announce').textContent = words;
  lastAnnounced = words;
}

let receiptFor = null; // the ticket whose receipt is complete on screen

/** The draw receipt: ticket id, commitment, then the published seed, the check and the fan's place. */
async function renderReceipt(concert, st) {
  const box = $('#receipt');
  box.hidden = false;
  $('#receipt-ticket').textContent = st.ticketId || '–';
  $('#receipt-commitment').textContent = st.commitment;
  $('#receipt-rank').textContent = st.drawRank ? numberFormat.format(st.drawRank) : '–';
  if (receiptFor === st.ticketId) return;
  const g = gen();
  let stats;
  try {
    stats = await gateway(`/v1/concerts/${concert}/queue`);
  } catch {
    return; // tried again at the next poll
  }
  if (stale(g) || !stats.draw_seed || current.view !== 'waiting') return;
  receiptFor = st.ticketId;
  $('#receipt-seed').textContent = stats.draw_seed;
  const [matches, key] = await Promise.all([
    seedMatches(stats.draw_seed, st.commitment),
    st.ticketId ? drawKey(stats.draw_seed, st.ticketId) : null,
  ]);
  if (stale(g)) return;
  $('#receipt-key').textContent = key || '–';
  $('#receipt-check').textContent = matches === null
    ? 'This browser cannot compute SHA-256 on this page; check it with the steps below.'
    : matches
      ? 'Checked: the SHA-256 of the seed equals the commitment published before the opening.'
      : 'Warning: the SHA-256 of the seed does NOT equal the commitment published before the opening.';
}

/**
 * The sold-out page: the gateway answered a join or a poll with `sold_out`
 * (every seat sold; held seats never make a concert sold out).
 */
export function showSoldOut() {
  document.title = `Sold out · ${document.title.replace(/^Sold out · /, '')}`;
  show('soldout');
}

$('#leave-button').addEventListener('click', async () => {
  const concert = current.concert;
  const st = load(concert);
  try {
    await gateway(`/v1/concerts/${concert}/queue/me`, { method: 'DELETE', token: st.ticket });
  } catch (err) {
    if (err.retryable) {
      notify(describe(err));
      return;
    }
  }
  update(concert, {
    ticket: undefined, ticketId: undefined, startPosition: undefined, commitment: undefined, opensAt: undefined, drawRank: undefined,
  });
  go('#/', { text: 'You left the queue.', kind: 'info' });
});
