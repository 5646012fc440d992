// Words and numbers for people: money, dates, clocks, waits. No DOM, no
// network: every function here is pure.

export const numberFormat = new Intl.NumberFormat();
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });
const shortDateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
export const shortTimeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

/** "99,000 KRW". */
export const krw = (amount) => `${numberFormat.format(amount)} KRW`;

/** A delay spread by ±15 % so that many pages do not call in step. */
export const jitter = (ms) => Math.round(ms * (0.85 + Math.random() * 0.3));

/** "Saturday, December 12, 2026 at 7:00 PM"; the input when it is no date. */
export function formatDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateTimeFormat.format(d);
}

/** "Dec 12, 2026, 7:00 PM"; null for no date. */
export function formatShortDate(iso) {
  const d = new Date(iso);
  return iso && !Number.isNaN(d.getTime()) ? shortDateFormat.format(d) : null;
}

/** "10:42:05 PM". */
export const formatTime = (date) => timeFormat.format(date);

/**
 * A countdown "m:ss" (or "h:mm:ss" from an hour) for milliseconds left;
 * "0:00" once past, "–:––" when the end is unknown (never "NaN:NaN").
 */
export function clock(ms) {
  if (!Number.isFinite(ms)) return '–:––';
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Milliseconds from now until an RFC 3339 time; NaN when it is no time. */
export const msUntil = (iso) => Date.parse(iso) - Date.now();

function minutesOrHours(seconds) {
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return { n: Math.max(1, minutes), unit: 'minute' };
  return { n: Math.round(minutes / 30) / 2, unit: 'hour' };
}

const plural = (n, unit) => `${numberFormat.format(n)} ${unit}${n === 1 ? '' : 's'}`;

/**
 * The estimated wait in words: the range when the gateway gives one
 * (`eta_range_seconds`, "About 6–14 minutes"), else the single estimate
 * (`eta_seconds`); "Paused" while the organiser paused the queue.
 */
export function etaWords(seconds, paused, range) {
  if (paused) return 'Paused';
  if (Array.isArray(range) && range.length === 2 && range.every(Number.isFinite)) {
    const [low, high] = range;
    if (high < 45) return 'Less than a minute';
    const a = minutesOrHours(Math.max(low, 1));
    const b = minutesOrHours(high);
    if (low < 45 && b.unit === 'minute') return `Up to ${plural(b.n, 'minute')}`;
    if (a.unit === b.unit && a.n < b.n) return `About ${numberFormat.format(a.n)}–${plural(b.n, b.unit)}`;
    if (a.unit === b.unit) return `About ${plural(b.n, b.unit)}`;
    return `About ${plural(a.n, a.unit)} to ${plural(b.n, b.unit)}`;
  }
  if (seconds === null || seconds === undefined) return 'Working it out…';
  if (seconds < 45) return 'Less than a minute';
  const { n, unit } = minutesOrHours(seconds);
  if (n === 1) return unit === 'minute' ? 'About a minute' : 'About an hour';
  return `About ${plural(n, unit)}`;
}

/** `words` as one sentence: a closing period unless it ends with one already (never "…."). */
export const sentence = (words) => (/[.…!?]$/.test(words) ? words : `${words}.`);

/** "in 40 seconds", "in about 15 minutes (at 10:42 PM)" from Retry-After. */
export function retryWords(seconds) {
  if (!seconds) return 'in a few minutes';
  if (seconds < 90) return `in ${seconds} seconds`;
  const at = shortTimeFormat.format(new Date(Date.now() + seconds * 1000));
  return `in about ${Math.ceil(seconds / 60)} minutes (at ${at})`;
}

/** "Seat 12", "Seats 12 and 13", "Seats 3, 4 and 5". */
export function seatWords(numbers) {
  const sorted = [...numbers].sort((a, b) => a - b).map(String);
  if (sorted.length === 1) return `Seat ${sorted[0]}`;
  return `Seats ${sorted.slice(0, -1).join(', ')} and ${sorted[sorted.length - 1]}`;
}

/** A random UUID (v4), for Idempotency-Keys. */
export function uuid() {
  if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
