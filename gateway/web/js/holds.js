// A list of the fan's reservations as a URL names them ("…/checkout/<id>,<id>")
// and as booking knows them now. The URL is what a tab is buying; booking
// is the truth about each hold.

import { booking } from './api.js';
import { concertOfSchedule, load } from './store.js';
import { fetchSchedules } from './dates.js';
import { sessionLive } from './shopping.js';
import { showNotFound } from './notfound.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The reservation ids of a URL segment, or null when it names none, a
 * malformed one, one twice, or more than `max` (the per-user seat limit: no
 * checkout of the fan's can hold more, so a longer list is a made-up link
 * and the page sends no request for it).
 */
export function parseIds(segment, max) {
  if (!segment) return null;
  const ids = segment.toLowerCase().split(',');
  if (ids.length === 0 || ids.length > max || !ids.every((id) => UUID.test(id))) return null;
  return new Set(ids).size === ids.length ? ids : null;
}

/** The URL segment naming `ids`. */
export const idsSegment = (ids) => ids.join(',');

/**
 * Booking's current view of each reservation (user level: the session
 * token), in the order given. A reservation booking does not know (or that
 * is another user's) comes back as {reservation_id, status: 'missing'}.
 * Throws the first other ApiError.
 */
export async function fetchReservations(ids, token) {
  return Promise.all(ids.map(async (id) => {
    try {
      return await booking(`/v1/reservations/${id}`, { token });
    } catch (err) {
      if (err.code === 'RESERVATION_NOT_FOUND') return { reservation_id: id, status: 'missing' };
      throw err;
    }
  }));
}

/** A held reservation whose time has not run out by the page's clock. */
export const live = (r) => r.status === 'held' && Date.parse(r.expires_at) > Date.now();

/**
 * Where the reservations' dates belong, checked against the URL's concert:
 * 'here' (every date is that concert's), {concert} (every date is another
 * concert's: the same list lives at that concert's address), 'nowhere'
 * (dates of several concerts, or one missing from the concert's own dates),
 * or 'unknown' (a date the page never saw, and no shopping time to read the
 * concert's dates with: the page shows the list as the URL names it).
 */
export async function placeOf(concert, reservations) {
  const schedules = [...new Set(reservations.filter((r) => r.schedule_id).map((r) => r.schedule_id))];
  let owners = schedules.map(concertOfSchedule);
  if (owners.includes(null) && sessionLive(load(concert))) {
    const own = await fetchSchedules(concert, { quiet: true });
    if (own) {
      owners = schedules.map((s) => (own.some((o) => o.schedule_id === s) ? concert : (concertOfSchedule(s) ?? -1)));
    }
  }
  const distinct = new Set(owners);
  if (distinct.size === 1 && distinct.has(concert)) return 'here';
  if (distinct.has(-1)) return 'nowhere';
  if (distinct.size === 1 && !distinct.has(null)) return { concert: owners[0] };
  if ([...distinct].every((c) => c === concert || c === null)) return 'unknown';
  return 'nowhere';
}

/** The page for reservation ids none of which is the fan's (or exists). */
export function noSuchBooking() {
  showNotFound('None of the seats this address names is yours, or they do not exist. Your own bookings are under the concert you bought them for.', 'No such booking');
}

/** The page for reservations that belong to another concert than the URL's. */
export function notThisConcert() {
  showNotFound('These seats are not for this concert. Pick the concert from the list.', 'No such booking');
}
