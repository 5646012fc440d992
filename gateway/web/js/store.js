// What a fan needs to come back to in a concert, kept in localStorage per
// user and concert so that a refresh, another tab, or a closed tab and a
// new login find it again: the queue ticket, the access token, the draw
// receipt. Logging out forgets it.
//
// Nothing here says which seats a tab is buying: a checkout is named by its
// own URL (the reservation ids) and read from booking, so one tab can never
// change what another tab pays. The only holds kept here are a list of the
// fan's known reservation ids (added to, never "the current one"), used to
// offer "continue to checkout" for seats the map marks as the fan's own.

import { me } from './session.js';

const userPrefix = (user) => `tickets.user.${user}.`;
const storeKey = (user, concert) => `${userPrefix(user)}concert.${concert}`;

function read(key) {
  try { return JSON.parse(localStorage.getItem(key)); } catch { return null; }
}

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Private mode or full storage: the page still works, a refresh just loses the place.
  }
}

/** The logged-in fan's state in a concert; {} when logged out. */
export function load(concert) {
  const login = me();
  return (login && read(storeKey(login.userId, concert))) || {};
}

/** Merge `change` into the fan's state of a concert (undefined deletes a field). */
export function update(concert, change) {
  const login = me();
  const data = { ...load(concert), ...change };
  Object.keys(change).forEach((k) => { if (change[k] === undefined) delete data[k]; });
  if (login) write(storeKey(login.userId, concert), data);
  return data;
}

/** Forget every concert state of `user` (at logout). */
export function forgetUser(user) {
  try {
    const prefix = userPrefix(user);
    Object.keys(localStorage).filter((k) => k.startsWith(prefix)).forEach((k) => localStorage.removeItem(k));
  } catch {
    // Nothing stored.
  }
}

/** Drop what pages from before logins kept (not tied to any user). */
export function forgetAnonymous() {
  try {
    Object.keys(localStorage)
      .filter((k) => k === 'tickets.user' || k.startsWith('tickets.concert.'))
      .forEach((k) => localStorage.removeItem(k));
  } catch {
    // Nothing stored.
  }
}

// ---------------------------------------------------------------- dates

/** Remember when a concert's schedules start (booking's schedule list). */
export function rememberSchedules(concert, schedules) {
  const known = read(`tickets.dates.${concert}`) || {};
  schedules.forEach((s) => { known[s.schedule_id] = s.starts_at; });
  write(`tickets.dates.${concert}`, known);
}

/** The concert a schedule belongs to, or null when the page never saw it. */
export function concertOfSchedule(schedule) {
  try {
    const key = Object.keys(localStorage)
      .find((k) => k.startsWith('tickets.dates.') && Object.hasOwn(read(k) || {}, schedule));
    return key ? Number(key.slice('tickets.dates.'.length)) : null;
  } catch {
    return null;
  }
}

/** When a schedule starts (RFC 3339), or null when the page never saw it. */
export function scheduleStart(concert, schedule) {
  return (read(`tickets.dates.${concert}`) || {})[schedule] || null;
}

// ---------------------------------------------------------------- holds

const holdsKey = () => { const login = me(); return login ? `${userPrefix(login.userId)}holds` : null; };

/** Add booking's reservations (as created) to the fan's known holds. */
export function rememberHolds(concert, reservations) {
  const key = holdsKey();
  if (!key) return;
  const known = read(key) || {};
  reservations.forEach((r) => {
    known[r.reservation_id] = {
      concert, schedule: r.schedule_id, seat: r.seat_number, price: r.price, expiresAt: r.expires_at,
    };
  });
  write(key, known);
}

/** Forget known holds (paid, released, or found gone). */
export function forgetHolds(ids) {
  const key = holdsKey();
  if (!key) return;
  const known = read(key) || {};
  ids.forEach((id) => { delete known[id]; });
  write(key, known);
}

/** The fan's known, unexpired holds on a schedule: [{id, seat, price, expiresAt}]. */
export function knownHolds(schedule) {
  const key = holdsKey();
  const known = (key && read(key)) || {};
  const now = Date.now();
  return Object.entries(known)
    .filter(([, h]) => h.schedule === schedule && Date.parse(h.expiresAt) > now)
    .map(([id, h]) => ({ id, ...h }));
}
