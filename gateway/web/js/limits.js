// The per-user seat limit (`MAX_SEATS_PER_USER`, API.md Booking), read
// from booking's own OpenAPI document, where the payment request lists at
// most that many reservation ids. Fetched once per tab; null when unknown
// (the page then learns the limit from booking's HOLD_LIMIT_REACHED).

import { BOOKING } from './api.js';
import { tabGet, tabSet } from './session.js';

let pending = null;

/**
 * Booking's default `MAX_SEATS_PER_USER` (API.md Booking): the limit the
 * pages assume while booking's own document cannot be read.
 */
export const DEFAULT_SEATS_PER_USER = 4;

/** The most seats one user may hold or own per date, or null. */
export function seatsPerUser() {
  const kept = tabGet('seatsPerUser');
  if (Number.isSafeInteger(kept)) return Promise.resolve(kept);
  if (!pending) {
    pending = fetch(`${BOOKING}/openapi.json`, { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : null))
      .then((doc) => {
        const forms = doc?.components?.schemas?.PayRequest?.oneOf || [];
        const max = forms.map((f) => f?.properties?.reservation_ids?.maxItems).find(Number.isSafeInteger);
        if (max) tabSet('seatsPerUser', max);
        return max || null;
      })
      .catch(() => null)
      .finally(() => { pending = null; });
  }
  return pending;
}

/** "You may buy up to 4 seats per date." or '' when the limit is unknown. */
export const limitWords = (max) => (max ? `You may buy up to ${max} seats per date.` : '');
