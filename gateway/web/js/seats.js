// The seat map of one date and this tab's cart. The map comes from booking
// (refreshed every few seconds); seats booking marks `mine` are the fan's
// own holds and purchases and show as "yours", never as someone else's.
//
// The cart is in the URL ("#/concerts/1/dates/3/cart/<id>,<id>"): the
// reservations this tab holds for its checkout. Holding seats adds them to
// the URL (replacing the map's entry in the history, so that Back from
// checkout returns to the map with the same cart) and opens the checkout
// of exactly those reservations. A refresh keeps the cart; another tab has
// its own URL and so its own cart.

import { $, setTime, element } from './dom.js';
import { booking } from './api.js';
import {
  krw, formatDate, formatTime, clock, jitter, seatWords,
} from './format.js';
import { describe } from './messages.js';
import { notify } from './notice.js';
import { me } from './session.js';
import {
  load, scheduleStart, rememberHolds, knownHolds, forgetHolds,
} from './store.js';
import {
  show, go, later, every, stale, gen, replaceUrl, current,
} from './router.js';
import { sessionError, sessionEnded } from './shopping.js';
import { fetchSchedules } from './dates.js';
import { seatsPerUser } from './limits.js';
import { fetchReservations, idsSegment, live } from './holds.js';
import { loginEnded } from './login.js';
import { showNotFound } from './notfound.js';

const SEAT_REFRESH_MS = 4000;
// A seat another fan just won can read as available for a moment (their
// hold is locked but not yet written); trust our own 409 that long.
const TAKEN_GRACE_MS = 5000;

let state = fresh(null, null);

function fresh(concert, schedule) {
  return {
    concert, schedule, seats: [], selected: new Set(), busy: false, taken: new Map(), cart: [], limit: null,
  };
}

const mapUrl = (s = state) => `#/concerts/${s.concert}/dates/${s.schedule}${s.cart.length ? `/cart/${idsSegment(s.cart.map((r) => r.reservation_id))}` : ''}`;
const checkoutUrl = (s = state) => `#/concerts/${s.concert}/checkout/${idsSegment(s.cart.map((r) => r.reservation_id))}`;

/** The seat map of `schedule`, with the cart the URL names (`cartIds`, or null). */
export async function showSeats(concert, schedule, cartIds) {
  show('seats');
  const g = gen();
  state = fresh(concert, schedule);
  $('#seat-map').replaceChildren();
  $('#cart').hidden = true;
  $('#other-holds').hidden = true;
  let startsAt = scheduleStart(concert, schedule);
  if (!startsAt) {
    // Opened by URL: read the dates, so this page and checkout can name them.
    const schedules = await fetchSchedules(concert);
    if (stale(g) || schedules === null) return;
    startsAt = scheduleStart(concert, schedule);
    if (!startsAt) {
      showNotFound(`This concert has no upcoming date ${schedule}.`);
      return;
    }
  }
  $('#seats-date').textContent = formatDate(startsAt);
  const [limit, cart] = await Promise.all([seatsPerUser(), cartIds ? loadCart(cartIds) : []]);
  if (stale(g) || cart === null) return;
  state.limit = limit;
  state.cart = cart;
  if (cartIds && cart.length !== cartIds.length) replaceUrl(mapUrl());
  if (!(await loadSeats(g))) return;
  renderCart();
  every(() => { if (!stale(g)) renderCart(); }, 1000);
  const refresh = async () => {
    if (stale(g)) return;
    await loadSeats(g);
    later(refresh, jitter(SEAT_REFRESH_MS));
  };
  later(refresh, jitter(SEAT_REFRESH_MS));
}

/** The cart's reservations that are still live holds of this date; null after an error was shown. */
async function loadCart(ids) {
  const login = me();
  try {
    const found = await fetchReservations(ids, login.token);
    const gone = found.filter((r) => !live(r)).map((r) => r.reservation_id);
    forgetHolds(gone);
    return found.filter((r) => live(r) && r.schedule_id === state.schedule);
  } catch (err) {
    if (err.code === 'UNAUTHENTICATED') loginEnded();
    else notify(describe(err), { actions: [{ label: 'Try again', run: () => go(location.hash) }] });
    return null;
  }
}

async function loadSeats(g) {
  const st = load(state.concert);
  let map;
  try {
    map = await booking(`/v1/schedules/${state.schedule}/seats`, { token: st.accessToken });
  } catch (err) {
    if (stale(g) || sessionError(state.concert, err)) return false;
    notify(describe(err), { actions: [{ label: 'Try again', run: () => loadSeats(gen()) }] });
    return false;
  }
  if (stale(g)) return false;
  renderSeats(map.seats);
  setTime($('#seats-updated'), new Date(), formatTime);
  return true;
}

/** What a seat is to this fan: available, held, sold, or yours (held or bought). */
function seatLabel(seat) {
  if (seat.mine) return `Seat ${seat.seat_number}, ${seat.status === 'sold' ? 'yours (bought)' : 'your hold'}, ${krw(seat.price)}`;
  return `Seat ${seat.seat_number}, ${seat.status}, ${krw(seat.price)}`;
}

const selectable = (seat) => seat.status === 'available' && !seat.mine;

function renderSeats(fresh) {
  const now = Date.now();
  const inCart = new Set(state.cart.map((r) => r.seat_number));
  const seats = fresh.map((seat) => {
    // Our own cart's seats are ours whatever a lagging map says.
    if (inCart.has(seat.seat_number)) return { ...seat, status: 'held', mine: true };
    const until = state.taken.get(seat.seat_number);
    if (until === undefined) return seat;
    if (until < now || seat.status !== 'available') {
      state.taken.delete(seat.seat_number);
      return seat;
    }
    return { ...seat, status: 'held' };
  });
  const grid = $('#seat-map');
  const firstRender = grid.children.length !== seats.length;
  if (firstRender) {
    grid.replaceChildren(...seats.map((seat) => {
      const b = element('button', { className: 'seat', text: String(seat.seat_number) });
      b.type = 'button';
      b.dataset.seat = String(seat.seat_number);
      b.tabIndex = -1;
      b.addEventListener('click', () => pickSeat(Number(b.dataset.seat)));
      return b;
    }));
  }
  const cheapest = Math.min(...seats.map((s) => s.price));
  seats.forEach((seat, i) => {
    const b = grid.children[i];
    b.classList.remove('available', 'held', 'sold', 'mine');
    b.classList.add(seat.mine ? 'mine' : seat.status);
    b.classList.toggle('premium', seat.price > cheapest);
    b.setAttribute('aria-label', seatLabel(seat));
    b.setAttribute('aria-disabled', selectable(seat) ? 'false' : 'true');
    b.title = seatLabel(seat);
  });
  state.seats = seats;
  const lost = [...state.selected].filter((n) => {
    const seat = seats.find((s) => s.seat_number === n);
    return !seat || !selectable(seat);
  });
  if (lost.length > 0) {
    lost.forEach((n) => state.selected.delete(n));
    notify(`${seatWords(lost)} ${lost.length === 1 ? 'was' : 'were'} just taken by someone else. Please pick another seat.`, { kind: 'info' });
  }
  renderSelection();
  renderOtherHolds();
  if (firstRender) rovingFocus(null);
}

/** Seats the fan may still add: the per-user limit less what they hold or own here. */
function room() {
  if (!state.limit) return Infinity;
  return Math.max(0, state.limit - state.seats.filter((s) => s.mine).length);
}

function renderSelection() {
  Array.from($('#seat-map').children).forEach((b) => {
    const on = state.selected.has(Number(b.dataset.seat));
    b.classList.toggle('selected', on);
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
  });
  const chosen = state.seats.filter((s) => state.selected.has(s.seat_number));
  const button = $('#hold-button');
  const total = chosen.reduce((sum, s) => sum + s.price, 0);
  const left = room();
  $('#seat-limit').textContent = state.limit
    ? `Up to ${state.limit} seats per person for this date; you can add ${left === 0 ? 'no more' : left}.`
    : '';
  if (chosen.length > 0) {
    $('#selection').textContent = `${seatWords(chosen.map((s) => s.seat_number))} selected · ${krw(total)}`;
    button.textContent = chosen.length === 1 ? `Hold seat ${chosen[0].seat_number}` : `Hold ${chosen.length} seats`;
    button.disabled = state.busy;
  } else {
    $('#selection').textContent = state.cart.length ? 'Pick more seats, or continue to checkout.' : 'No seat selected yet.';
    button.textContent = 'Hold this seat';
    button.disabled = true;
  }
}

/** The cart: its seats and "Continue to checkout, 3:12 left" (the earliest hold's end). */
function renderCart() {
  const now = Date.now();
  const expired = state.cart.filter((r) => !(Date.parse(r.expires_at) > now));
  if (expired.length > 0) {
    state.cart = state.cart.filter((r) => !expired.includes(r));
    forgetHolds(expired.map((r) => r.reservation_id));
    replaceUrl(mapUrl());
    notify(`Your hold on ${seatWords(expired.map((r) => r.seat_number)).toLowerCase()} ran out, so ${expired.length === 1 ? 'it was' : 'they were'} released and nothing was charged.`, { kind: 'info' });
  }
  const box = $('#cart');
  box.hidden = state.cart.length === 0;
  if (box.hidden) return;
  const soonest = Math.min(...state.cart.map((r) => Date.parse(r.expires_at)));
  const total = state.cart.reduce((sum, r) => sum + r.price, 0);
  const seats = seatWords(state.cart.map((r) => r.seat_number));
  $('#cart-text').textContent = `${state.cart.length === 1 ? 'Your hold' : 'Your holds'}: ${seats.toLowerCase()} · ${krw(total)}`;
  $('#continue-button').textContent = `Continue to checkout, ${clock(soonest - now)} left`;
}

/** The fan's other holds on this date (another tab's cart, or an earlier visit), to add here. */
function renderOtherHolds() {
  const inCart = new Set(state.cart.map((r) => r.reservation_id));
  const mineHeld = new Set(state.seats.filter((s) => s.mine && s.status === 'held').map((s) => s.seat_number));
  const others = knownHolds(state.schedule).filter((h) => !inCart.has(h.id) && mineHeld.has(h.seat));
  const box = $('#other-holds');
  box.hidden = others.length === 0;
  if (box.hidden) return;
  $('#other-holds-text').textContent = `You also hold ${seatWords(others.map((h) => h.seat)).toLowerCase()} in another checkout.`;
  $('#add-holds-button').textContent = `Add ${others.length === 1 ? 'it' : 'them'} to this checkout`;
  $('#add-holds-button').dataset.ids = idsSegment(others.map((h) => h.id));
}

$('#add-holds-button').addEventListener('click', async () => {
  const ids = ($('#add-holds-button').dataset.ids || '').split(',').filter(Boolean);
  const g = gen();
  const found = await loadCart(ids);
  if (stale(g) || found === null) return;
  const have = new Set(state.cart.map((r) => r.reservation_id));
  state.cart = [...state.cart, ...found.filter((r) => !have.has(r.reservation_id))];
  replaceUrl(mapUrl());
  renderCart();
  renderOtherHolds();
});

$('#continue-button').addEventListener('click', () => {
  if (state.cart.length > 0) go(checkoutUrl());
});

function pickSeat(number) {
  const seat = state.seats.find((s) => s.seat_number === number);
  if (!seat) return;
  if (!selectable(seat)) {
    $('#selection').textContent = seat.mine
      ? `Seat ${number} is already yours.`
      : `Seat ${number} is ${seat.status === 'sold' ? 'sold' : 'held by someone else'}. Please pick an available seat.`;
    return;
  }
  if (state.selected.has(number)) {
    state.selected.delete(number);
  } else if (state.selected.size >= room()) {
    $('#selection').textContent = `One person may have at most ${state.limit} seats for this date. Unselect a seat to pick this one.`;
    return;
  } else {
    state.selected.add(number);
  }
  renderSelection();
  rovingFocus(number);
}

/** One seat is in the tab order; arrow keys move between seats. */
function rovingFocus(number) {
  const buttons = Array.from($('#seat-map').children);
  if (buttons.length === 0) return;
  const target = number !== null
    ? number
    : (state.seats.find((s) => selectable(s)) || state.seats[0]).seat_number;
  buttons.forEach((b) => { b.tabIndex = Number(b.dataset.seat) === target ? 0 : -1; });
}

$('#seat-map').addEventListener('keydown', (event) => {
  const buttons = Array.from($('#seat-map').children);
  const index = buttons.indexOf(document.activeElement);
  if (index < 0) return;
  const columns = getComputedStyle($('#seat-map')).gridTemplateColumns.split(' ').length || 10;
  const moves = {
    ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -index, End: buttons.length - 1 - index,
  };
  if (!(event.key in moves)) return;
  event.preventDefault();
  const next = Math.min(buttons.length - 1, Math.max(0, index + moves[event.key]));
  rovingFocus(Number(buttons[next].dataset.seat));
  buttons[next].focus();
});

$('#back-to-dates').addEventListener('click', () => go(`#/concerts/${current.concert}/dates`));

$('#hold-button').addEventListener('click', () => hold());

/** Hold the selected seats one by one; on to checkout with the whole cart when all were held. */
async function hold() {
  const wanted = [...state.selected].sort((a, b) => a - b);
  if (wanted.length === 0 || state.busy) return;
  state.busy = true;
  renderSelection();
  const s = state;
  const g = gen();
  const st = load(s.concert);
  const held = [];
  const taken = [];
  let failure = null;
  for (const seatNumber of wanted) {
    try {
      const r = await booking('/v1/reservations', {
        method: 'POST',
        token: st.accessToken,
        body: { schedule_id: s.schedule, seat_number: seatNumber },
      });
      held.push(r);
    } catch (err) {
      if (err.code === 'SEAT_UNAVAILABLE') {
        taken.push(seatNumber);
        continue;
      }
      failure = { err, seatNumber };
      break;
    }
  }
  rememberHolds(s.concert, held);
  s.cart = [...s.cart, ...held];
  s.busy = false;
  if (stale(g)) return;
  if (held.length > 0) replaceUrl(mapUrl(s));
  if (taken.length === 0 && !failure) {
    go(checkoutUrl(s));
    return;
  }
  s.selected.clear();
  if (failure && ['NOT_ADMITTED', 'UNAUTHENTICATED', 'FORBIDDEN'].includes(failure.err.code)) {
    // Held seats stay payable after the shopping time (a hold is proof of admission).
    if (s.cart.length > 0) go(checkoutUrl(s), { text: describe(failure.err), kind: 'info' });
    else sessionEnded(s.concert);
    return;
  }
  taken.forEach((n) => s.taken.set(n, Date.now() + TAKEN_GRACE_MS));
  await loadSeats(g);
  if (stale(g)) return;
  renderCart();
  const sentences = [];
  if (taken.length === 1) sentences.push(describe({ code: 'SEAT_UNAVAILABLE' }, { seat: taken[0] }));
  if (taken.length > 1) sentences.push(`Sorry — ${seatWords(taken).toLowerCase()} were just taken by someone else. The map is refreshed: please pick other seats.`);
  if (failure) sentences.push(describe(failure.err, { seat: failure.seatNumber }));
  if (held.length > 0) sentences.push(`${seatWords(held.map((r) => r.seat_number))} ${held.length === 1 ? 'is' : 'are'} held for you.`);
  const retry = wanted.filter((n) => !held.some((r) => r.seat_number === n) && !taken.includes(n));
  const actions = [{ label: 'Refresh the map', run: () => loadSeats(gen()) }];
  if (failure && failure.err.retryable) actions.unshift({ label: 'Try again', run: () => { retry.forEach((n) => s.selected.add(n)); hold(); } });
  notify(sentences.join(' '), { actions });
}
