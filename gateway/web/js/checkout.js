// Checkout of exactly the reservations the URL names
// ("#/concerts/1/checkout/<id>,<id>"), as booking reports them now: Pay
// sends those ids and no others (`POST /v1/payments {"reservation_ids"}`,
// all or nothing, one Idempotency-Key per checkout kept in this tab for its
// retries). Nothing another tab does can change what this one pays.
//
// Paying and releasing are user-level calls (the session token): a hold is
// proof of admission, so they work after the shopping time has ended. At
// 0:00 of the soonest hold, Pay is disabled with the reason.

import { $, element } from './dom.js';
import { booking } from './api.js';
import {
  krw, formatDate, clock, seatWords, uuid,
} from './format.js';
import { describe } from './messages.js';
import { notify, clearNotice } from './notice.js';
import { me, currentEpoch, tabGet, tabSet } from './session.js';
import { update, scheduleStart, forgetHolds, load } from './store.js';
import {
  show, go, redirect, later, every, stale, gen, route,
} from './router.js';
import {
  fetchReservations, idsSegment, live, placeOf, noSuchBooking, notThisConcert,
} from './holds.js';
import { refreshBalance, suggestTopUp, focusTopUp } from './balance.js';
import { loginEnded } from './login.js';
import { sessionLive } from './shopping.js';
import { fetchSchedules } from './dates.js';

let state = {
  concert: null, ids: [], reservations: [], paying: false, verified: false,
};

const segment = () => idsSegment(state.ids);

/** Show the checkout of `ids` (the URL's reservation ids) in `concert`. */
export async function showCheckout(concert, ids) {
  show('checkout');
  const g = gen();
  state = {
    concert, ids, reservations: [], paying: false, verified: false,
  };
  $('#checkout-lines').replaceChildren();
  $('#pay-button').disabled = true;
  $('#pay-reason').hidden = true;
  $('#repick-button').hidden = true;
  $('#hold-left').textContent = '–:––';
  refreshBalance();
  if (!(await reload(g))) return;
  if (state.reservations.every((r) => r.status === 'missing')) {
    noSuchBooking();
    return;
  }
  const place = await placeOf(concert, state.reservations);
  if (stale(g)) return;
  if (place === 'nowhere') {
    notThisConcert();
    return;
  }
  if (place.concert) {
    redirect(`#/concerts/${place.concert}/checkout/${segment()}`);
    return;
  }
  // Only a checkout known to be this concert's ends its shopping time when paid.
  state.verified = place === 'here';
  if (state.reservations.every((r) => r.status === 'confirmed')) {
    redirect(`#/concerts/${concert}/done/${segment()}`);
    return;
  }
  await nameTheDate(g);
  every(() => { if (!stale(g)) tick(); }, 250);
}

/** Read the reservations from booking and show them; false after an error was shown. */
async function reload(g) {
  const login = me();
  try {
    const found = await fetchReservations(state.ids, login.token);
    if (stale(g)) return false;
    state.reservations = found;
  } catch (err) {
    if (stale(g)) return false;
    if (err.code === 'UNAUTHENTICATED') loginEnded();
    else notify(describe(err), { actions: [{ label: 'Try again', run: route }] });
    return false;
  }
  render();
  return true;
}

/**
 * The date of the seats, from the dates the page has seen (read again while
 * admitted); the line is left out when the page cannot know it (booking
 * gives a schedule's date only to admitted fans).
 */
async function nameTheDate(g) {
  const schedule = state.reservations.find((r) => r.schedule_id)?.schedule_id;
  $('#checkout-date-row').hidden = true;
  if (!schedule) return;
  if (!scheduleStart(state.concert, schedule) && sessionLive(load(state.concert))) {
    await fetchSchedules(state.concert, { quiet: true });
    if (stale(g)) return;
  }
  const startsAt = scheduleStart(state.concert, schedule);
  $('#checkout-date').textContent = startsAt ? formatDate(startsAt) : '';
  $('#checkout-date-row').hidden = !startsAt;
  const back = $('#checkout-back');
  const held = state.reservations.filter(live).map((r) => r.reservation_id);
  back.href = `#/concerts/${state.concert}/dates/${schedule}${held.length ? `/cart/${idsSegment(held)}` : ''}`;
}

/** Why a reservation on screen cannot be paid, or null for a live hold. */
function problemOf(r) {
  if (live(r)) return null;
  switch (r.status) {
    case 'missing': return 'not found';
    case 'confirmed': return 'already paid';
    case 'cancelled': return 'released';
    default: return 'hold ran out';
  }
}

function render() {
  const shown = state.reservations.filter((r) => r.status !== 'missing');
  const list = $('#checkout-lines');
  list.replaceChildren(...state.reservations.map((r) => {
    const li = element('li');
    li.dataset.reservation = r.reservation_id;
    const problem = problemOf(r);
    const what = r.status === 'missing' ? 'A hold' : `Seat ${r.seat_number}`;
    li.append(element('span', { text: what }), element('span', { className: 'price', text: r.price ? krw(r.price) : '' }));
    if (problem) li.append(element('span', { className: 'line-note', text: problem }));
    if (live(r)) {
      const release = element('button', { className: 'link', text: `Release seat ${r.seat_number}` });
      release.type = 'button';
      release.addEventListener('click', () => releaseOne(r));
      li.append(release);
    }
    return li;
  }));
  $('#checkout-seat').textContent = shown.length ? seatWords(shown.map((r) => r.seat_number)) : '–';
  $('#checkout-price').textContent = krw(shown.reduce((sum, r) => sum + r.price, 0));
  tick();
}

/** The countdown of the soonest hold, and whether Pay can be pressed (with the reason when not). */
function tick() {
  const blocked = state.reservations.filter((r) => problemOf(r) !== null);
  const rest = state.reservations.filter(live);
  const left = rest.length ? Math.min(...rest.map((r) => Date.parse(r.expires_at))) - Date.now() : 0;
  $('#hold-left').textContent = clock(left);
  $('.hold-timer').classList.toggle('low', left < 60_000);
  let reason = '';
  if (blocked.length > 0 && blocked.every((r) => problemOf(r) === 'hold ran out')) {
    reason = rest.length === 0
      ? 'Your hold time is up: the seats were released and nothing was charged. Please pick seats again.'
      : `The hold on ${seatWords(blocked.map((r) => r.seat_number)).toLowerCase()} ran out, so this checkout cannot be paid as it is.`;
  } else if (blocked.length > 0) {
    const names = blocked.map((r) => (r.status === 'missing' ? 'one hold' : `seat ${r.seat_number}`));
    const why = [...new Set(blocked.map(problemOf))].join(' or ');
    reason = `This checkout cannot be paid as it is: ${names.join(', ')} ${blocked.length === 1 ? 'is' : 'are'} ${why}.`;
  }
  $('#hold-note').textContent = rest.length
    ? 'Pay before the timer runs out, or the seats are released.'
    : 'Your hold time is up; nothing here can be paid.';
  const reasonBox = $('#pay-reason');
  reasonBox.textContent = reason;
  reasonBox.hidden = !reason;
  $('#pay-button').disabled = Boolean(reason) || state.paying;
  $('#prune-button').hidden = !(reason && rest.length > 0);
  $('#repick-button').hidden = rest.length > 0;
}

$('#pay-button').addEventListener('click', () => pay());

async function pay() {
  if (state.paying) return;
  const login = me();
  if (!login) {
    loginEnded();
    return;
  }
  const s = state;
  const seg = segment();
  // The same key for every retry of this checkout, so it debits once.
  let key = tabGet(`pay.${seg}`);
  if (!key) {
    key = uuid();
    tabSet(`pay.${seg}`, key);
  }
  const ep = currentEpoch();
  s.paying = true;
  $('#pay-button').disabled = true;
  clearNotice();
  try {
    const paid = await booking('/v1/payments', {
      method: 'POST',
      token: login.token,
      body: { reservation_ids: s.ids },
      idempotencyKey: key,
    });
    if (ep !== currentEpoch()) return;
    tabSet(`paid.${seg}`, { amount: paid.amount, balance: paid.balance, paymentId: paid.payment_id });
    tabSet(`pay.${seg}`, null);
    forgetHolds(s.ids);
    // The payment ended the fan's session for this concert: the access token and ticket are spent.
    if (s.verified) update(s.concert, { accessToken: undefined, expiresAt: undefined, ticket: undefined, ticketId: undefined });
    // The checkout is spent: the confirmation takes its place in the history.
    redirect(`#/concerts/${s.concert}/done/${seg}`);
  } catch (err) {
    if (ep === currentEpoch()) await payFailed(s, seg, err);
  } finally {
    s.paying = false;
    if (state === s) tick();
  }
}

async function payFailed(s, seg, err) {
  if (!err.retryable) tabSet(`pay.${seg}`, null);
  if (err.code === 'UNAUTHENTICATED') {
    loginEnded();
    return;
  }
  if (err.code === 'IDEMPOTENCY_IN_PROGRESS') {
    notify(describe(err), { kind: 'info' });
    later(() => pay(), 1000);
    return;
  }
  if (err.retryable) {
    notify(describe(err), { actions: [{ label: 'Try again', primary: true, run: () => pay() }] });
    return;
  }
  const seats = seatWords(s.reservations.filter((r) => r.seat_number).map((r) => r.seat_number)).toLowerCase();
  switch (err.code) {
    case 'HOLD_EXPIRED':
    case 'RESERVATION_NOT_FOUND':
    case 'ALREADY_PAID':
      await reload(gen());
      notify(describe(err, { seat: seats.replace(/^seats? /, '') }));
      return;
    case 'INSUFFICIENT_BALANCE': {
      const balance = await refreshBalance();
      const total = s.reservations.reduce((sum, r) => sum + (r.price || 0), 0);
      const shortfall = balance === null ? null : Math.max(0, total - balance);
      if (shortfall) suggestTopUp(shortfall);
      notify(describe(err, { balance, shortfall }), {
        actions: [{ label: 'Top up', primary: true, run: focusTopUp }],
      });
      return;
    }
    default:
      notify(describe(err));
  }
}

async function releaseOne(r) {
  const login = me();
  if (!login) {
    loginEnded();
    return;
  }
  try {
    await booking(`/v1/reservations/${r.reservation_id}`, { method: 'DELETE', token: login.token });
  } catch (err) {
    if (err.code === 'UNAUTHENTICATED') {
      loginEnded();
      return;
    }
    if (err.retryable) {
      notify(describe(err));
      return;
    }
  }
  forgetHolds([r.reservation_id]);
  const rest = state.ids.filter((id) => id !== r.reservation_id);
  const notice = { text: `Seat ${r.seat_number} was released.`, kind: 'info' };
  if (rest.length > 0) go(`#/concerts/${state.concert}/checkout/${idsSegment(rest)}`, notice);
  else go(`#/concerts/${state.concert}/dates/${r.schedule_id}`, notice);
}

$('#prune-button').addEventListener('click', () => {
  const rest = state.reservations.filter(live).map((r) => r.reservation_id);
  if (rest.length > 0) go(`#/concerts/${state.concert}/checkout/${idsSegment(rest)}`);
});

$('#repick-button').addEventListener('click', () => {
  const schedule = state.reservations.find((r) => r.schedule_id)?.schedule_id;
  go(schedule ? `#/concerts/${state.concert}/dates/${schedule}` : `#/concerts/${state.concert}/dates`);
});
