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

/** Words for a concert none of whose seats is free (public queue stats). */
export const NO_SEATS = 'Every seat of every upcoming date is sold or held right now, so there is nothing to queue for. Seats held but not paid in time come back: look again in a few minutes.';

/**
 * Whether the concert has no free seat left, from the gateway's public
 * queue stats (`seats_available: 0`, API.md Queue); false when unknown.
 */
export async function noSeatsLeft(concert) {
  try {
    const stats = await gateway(`/v1/concerts/${concert}/queue`);
    return stats.seats_available === 0;
  } catch {
    return false;
  }
}

export async function showJoin(concert) {
  show('join');
  $('#join-who').textContent = displayName(me());
  const g = gen();
  // A sold-out concert offers no join: the stats first, the form after.
  $('#join-form').hidden = true;
  const [full, max] = await Promise.all([noSeatsLeft(concert), seatsPerUser()]);
  if (stale(g)) return;
  if (full) {
    showSoldOut(NO_SEATS);
    return;
  }
  $('#join-form').hidden = false;
  $('#join-button').focus();
  $('#join-limit').textContent = limitWords(max);
  $('#join-limit').hidden = !max;
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
