// A list of the fan's reservations as a URL names them ("…/checkout/<id>,<id>")
// and as booking knows them now. The URL is what a tab is buying; booking
// is the truth about each hold.

import { booking } from './api.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The reservation ids of a URL segment, or null when it names none or a malformed one. */
export function parseIds(segment) {
  if (!segment) return null;
  const ids = segment.toLowerCase().split(',');
  if (ids.length === 0 || ids.length > 1000 || !ids.every((id) => UUID.test(id))) return null;
  return [...new Set(ids)];
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
