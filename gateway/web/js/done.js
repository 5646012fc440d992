// The confirmation of a payment: the seats the URL names, as booking now
// reports them (confirmed), the date, what was paid and the new balance.

import { $ } from './dom.js';
import { krw, formatDate, seatWords } from './format.js';
import { describe } from './messages.js';
import { notify } from './notice.js';
import { me, tabGet } from './session.js';
import { scheduleStart } from './store.js';
import {
  show, redirect, stale, gen, route,
} from './router.js';
import {
  fetchReservations, idsSegment, placeOf, noSuchBooking, notThisConcert,
} from './holds.js';
import { refreshBalance } from './balance.js';
import { loginEnded } from './login.js';

export async function showDone(concert, ids) {
  show('done');
  const g = gen();
  let found;
  try {
    found = await fetchReservations(ids, me().token);
  } catch (err) {
    if (stale(g)) return;
    if (err.code === 'UNAUTHENTICATED') loginEnded();
    else notify(describe(err), { actions: [{ label: 'Try again', run: route }] });
    return;
  }
  if (stale(g)) return;
  if (found.every((r) => r.status === 'missing')) {
    noSuchBooking();
    return;
  }
  const place = await placeOf(concert, found);
  if (stale(g)) return;
  if (place === 'nowhere') {
    notThisConcert();
    return;
  }
  if (place.concert) {
    redirect(`#/concerts/${place.concert}/done/${idsSegment(ids)}`);
    return;
  }
  const bought = found.filter((r) => r.status === 'confirmed');
  if (bought.length === 0) {
    redirect(`#/concerts/${concert}/checkout/${idsSegment(ids)}`);
    return;
  }
  const paid = tabGet(`paid.${idsSegment(ids)}`);
  const startsAt = scheduleStart(concert, bought[0].schedule_id);
  $('#done-title').textContent = bought.length === 1 ? 'You have a ticket!' : `You have ${bought.length} tickets!`;
  // Booking gives a schedule's date only to admitted fans: the line is left out when unknown.
  $('#done-date').textContent = startsAt ? formatDate(startsAt) : '';
  $('#done-date-row').hidden = !startsAt;
  $('#done-seat').textContent = seatWords(bought.map((r) => r.seat_number));
  $('#done-amount').textContent = krw(paid ? paid.amount : bought.reduce((sum, r) => sum + r.price, 0));
  $('#done-payment').textContent = paid ? paid.paymentId : '–';
  if (paid) $('#done-balance').textContent = krw(paid.balance);
  else {
    const balance = await refreshBalance();
    if (!stale(g)) $('#done-balance').textContent = balance === null ? '–' : krw(balance);
  }
}
