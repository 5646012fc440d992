// Joining a concert's queue. Who joins comes from the session token; the
// page shows the per-user seat limit before the fan queues.

import { $ } from './dom.js';
import { gateway } from './api.js';
import { showSoldOut } from './waiting.js';
import { describe } from './messages.js';
import { notify, clearNotice } from './notice.js';
import { me, displayName, currentEpoch } from './session.js';
import { load, update } from './store.js';
import {
  show, go, current, stale, gen,
} from './router.js';
import { seatsPerUser, limitWords } from './limits.js';
import { loginEnded } from './login.js';
import { admitted } from './shopping.js';

/**
 * The concert's seats neither held nor sold, from the gateway's public
 * queue stats (`seats_available`, API.md Queue); null when unknown.
 */
export async function seatsAvailable(concert) {
  try {
    const stats = await gateway(`/v1/concerts/${concert}/queue`);
    return Number.isSafeInteger(stats.seats_available) ? stats.seats_available : null;
  } catch {
    return null;
  }
}

export async function showJoin(concert) {
  show('join');
  $('#join-who').textContent = displayName(me());
  const g = gen();
  // The stats and the limit first, the form after: it does not move once shown.
  $('#join-form').hidden = true;
  const [free, max] = await Promise.all([seatsAvailable(concert), seatsPerUser()]);
  if (stale(g)) return;
  // No seat free right now (sold or only held): the fan may still join,
  // held seats come back; "Sold out" is the gateway's answer to a join.
  const full = free === 0;
  $('#join-no-seats').hidden = !full;
  if (full) $('#join-button').setAttribute('aria-describedby', 'join-no-seats');
  else $('#join-button').removeAttribute('aria-describedby');
  $('#join-limit').textContent = limitWords(max);
  $('#join-limit').hidden = !max;
  $('#join-form').hidden = false;
  $('#join-button').focus();
}

/**
 * The sold-out page of a concert the gateway said was sold out (kept per
 * fan and concert): no join is sent again. Only when the public stats show
 * a free seat again is the fan offered the join form.
 */
export async function showKnownSoldOut(concert) {
  showSoldOut();
  const g = gen();
  const free = await seatsAvailable(concert);
  if (stale(g) || !(free > 0)) return;
  update(concert, { soldOut: undefined });
  showJoin(concert);
}

/** Join (or find again) the fan's place in the concert's queue. */
export async function join(concert) {
  const login = me();
  if (!login) {
    loginEnded();
    return;
  }
  const ep = currentEpoch();
  const button = $('#join-button');
  button.disabled = true;
  try {
    const joined = await gateway(`/v1/concerts/${concert}/queue`, { method: 'POST', token: login.token, body: {} });
    if (ep !== currentEpoch()) return;
    const before = load(concert);
    const soldOut = joined.status === 'sold_out';
    const change = {
      // A sold-out answer's ticket holds no place: nothing to poll.
      ticket: soldOut ? undefined : joined.ticket,
      ticketId: soldOut ? undefined : joined.ticket_id,
      accessToken: undefined,
      expiresAt: undefined,
      soldOut: soldOut ? true : undefined,
    };
    if (before.ticketId !== joined.ticket_id) {
      Object.assign(change, { startPosition: undefined, commitment: undefined, opensAt: undefined, drawRank: undefined });
    }
    if (joined.status === 'waiting') change.startPosition = joined.position;
    if (joined.status === 'prequeue') Object.assign(change, { commitment: joined.draw_commitment, opensAt: joined.opens_at });
    update(concert, change);
    if (joined.status === 'active') admitted(concert, joined);
    else go(`#/concerts/${concert}`);
  } catch (err) {
    if (ep !== currentEpoch()) return;
    if (err.code === 'UNAUTHENTICATED') {
      loginEnded();
      return;
    }
    notify(describe(err), err.retryable ? { actions: [{ label: 'Try again', run: () => join(concert) }] } : {});
  } finally {
    button.disabled = false;
  }
}

$('#join-form').addEventListener('submit', (event) => {
  event.preventDefault();
  clearNotice();
  join(current.concert);
});
