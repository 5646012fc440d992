// The fan pages: log in → concert list → join → (pre-queue →) waiting room
// → dates → seat map and cart → checkout → confirmation. Plain JavaScript
// modules, no dependencies, no build step and no inline code (the page
// runs under a strict Content-Security-Policy).
//
// This file maps the URL to a view; each view and concern is a module of
// its own under js/ (served by the gateway, see gateway/src/web.rs):
//   api.js       the two services and their errors
//   session.js   the login (this tab) and values kept for this tab only
//   store.js     what a fan comes back to (per user and concert)
//   router.js    views, navigation, timers of the view on screen
//   concerts.js, login.js, join.js, waiting.js, dates.js, seats.js,
//   checkout.js, done.js, verify.js, notfound.js   one per view
//
// Routes:
//   #/                                         concert list
//   #/login                                    log in
//   #/verify                                   check a fair draw
//   #/concerts/{id}                            join, pre-queue, waiting room, or sold out
//   #/concerts/{id}/dates                      pick a date (admitted)
//   #/concerts/{id}/dates/{schedule}[/cart/{ids}]   seat map with this tab's cart
//   #/concerts/{id}/checkout/{ids}             checkout of exactly these reservations
//   #/concerts/{id}/done/{ids}                 confirmation
// Anything else, or a concert booking does not list, is "not found".

import { setText } from './js/dom.js';
import { describe } from './js/messages.js';
import { notify } from './js/notice.js';
import { me } from './js/session.js';
import { load, forgetAnonymous, knownHolds } from './js/store.js';
import {
  current, onRoute, route, redirect,
} from './js/router.js';
import { showConcerts, lookupConcert } from './js/concerts.js';
import { showLogin, needsLogin } from './js/login.js';
import { showJoin, showKnownSoldOut } from './js/join.js';
import { showWaiting } from './js/waiting.js';
import { sessionBar, sessionEnded, sessionLive } from './js/shopping.js';
import { showDates } from './js/dates.js';
import { showSeats } from './js/seats.js';
import { showCheckout } from './js/checkout.js';
import { showDone } from './js/done.js';
import { showVerify } from './js/verify.js';
import { showNotFound } from './js/notfound.js';
import { parseIds } from './js/holds.js';
import { seatsPerUser, DEFAULT_SEATS_PER_USER } from './js/limits.js';

const positive = (text) => (/^[1-9][0-9]{0,15}$/.test(text || '') && Number.isSafeInteger(Number(text)) ? Number(text) : null);

async function dispatch(parts) {
  const [top, id, sub, ...rest] = parts;
  if (top === undefined) {
    current.concert = null;
    sessionBar(null);
    return showConcerts();
  }
  if (top === 'login' && parts.length === 1) {
    current.concert = null;
    sessionBar(null);
    if (me()) return redirect('#/');
    return showLogin(null);
  }
  if (top === 'verify' && parts.length === 1) {
    current.concert = null;
    sessionBar(null);
    return showVerify();
  }
  sessionBar(null);
  const concert = top === 'concerts' ? positive(id) : null;
  if (concert === null) return showNotFound();
  let info;
  try {
    info = await lookupConcert(concert);
  } catch (err) {
    return notify(describe(err), { actions: [{ label: 'Try again', run: route }] });
  }
  if (!info) return showNotFound(`There is no concert ${concert} on sale. Pick one from the list.`);
  current.concert = concert;
  setText('[data-concert-title]', info.title);
  setText('[data-concert-venue]', info.venue);
  document.title = `${info.title} · Tickets`;
  // A list of reservation ids is checked against the per-user limit.
  const max = (await seatsPerUser()) || DEFAULT_SEATS_PER_USER;
  if (!knownStep(sub, rest, max)) return showNotFound();
  // Every step of a concert is taken by a logged-in fan.
  if (needsLogin(info)) return undefined;
  return concertStep(concert, sub, rest, max);
}

/** Whether the part after "#/concerts/{id}" names a step of the concert. */
function knownStep(sub, rest, max) {
  switch (sub) {
    case undefined:
      return true;
    case 'join':
      return rest.length === 0;
    case 'checkout':
    case 'done':
      return rest.length === 1 && parseIds(rest[0], max) !== null;
    case 'dates':
      return rest.length === 0 || (positive(rest[0]) !== null
        && (rest.length === 1 || (rest.length === 3 && rest[1] === 'cart' && parseIds(rest[2], max) !== null)));
    default:
      return false;
  }
}

function concertStep(concert, sub, rest, max) {
  if (sub === 'checkout' || sub === 'done') {
    const ids = parseIds(rest[0], max);
    return sub === 'checkout' ? showCheckout(concert, ids) : showDone(concert, ids);
  }
  const st = load(concert);
  if (sub === undefined || sub === 'join') {
    if (sessionLive(st)) return redirect(`#/concerts/${concert}/dates`);
    if (st.accessToken) return sessionEnded(concert);
    if (st.ticket) return showWaiting(concert);
    if (st.soldOut) return showKnownSoldOut(concert);
    return showJoin(concert);
  }
  const schedule = rest.length > 0 ? positive(rest[0]) : null;
  const cart = rest.length === 3 ? parseIds(rest[2], max) : null;
  if (!sessionLive(st)) {
    // Held seats stay payable after the shopping time: on to their checkout
    // (not for a cart already paid or released, which the page forgot).
    if (cart && knownHolds(schedule).some((h) => cart.includes(h.id))) {
      return redirect(`#/concerts/${concert}/checkout/${rest[2]}`);
    }
    if (st.accessToken) return sessionEnded(concert);
    return redirect(`#/concerts/${concert}`);
  }
  sessionBar(concert);
  return schedule === null ? showDates(concert) : showSeats(concert, schedule, cart);
}

forgetAnonymous();
onRoute(dispatch);
window.addEventListener('hashchange', route);
route();
