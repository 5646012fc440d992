// The fair draw, checked in the browser (API.md, "Scheduled opening, fair
// draw"): the commitment is the lowercase hex SHA-256 of the seed's 64
// ASCII characters, and the pre-queue is ordered by the lowercase hex
// SHA-256 of the seed followed by each ticket id (lowercase, hyphenated).
// The "Check a draw" page (#/verify) recomputes an order from a seed and a
// list of ticket ids.

import { $ } from './dom.js';
import { show } from './router.js';

/** Lowercase hex SHA-256 of a text's UTF-8 bytes; null where the browser offers no SubtleCrypto. */
export async function sha256Hex(text) {
  if (!window.crypto || !crypto.subtle) return null;
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Whether SHA-256(seed) equals the commitment; null when it cannot be computed. */
export async function seedMatches(seed, commitment) {
  const hash = await sha256Hex(seed);
  return hash === null ? null : hash === commitment;
}

/** The draw key of a ticket: SHA-256(seed + ticket id). */
export const drawKey = (seed, ticketId) => sha256Hex(seed + ticketId.toLowerCase());

/** The ticket ids in the draw's order: [{ticketId, key}] by ascending key. */
export async function drawOrder(seed, ticketIds) {
  const keyed = await Promise.all(ticketIds.map(async (ticketId) => ({ ticketId, key: await drawKey(seed, ticketId) })));
  return keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export function showVerify() {
  document.title = 'Check a draw · Tickets';
  show('verify');
}

$('#verify-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const seed = $('#verify-seed').value.trim().toLowerCase();
  const commitment = $('#verify-commitment').value.trim().toLowerCase();
  const ids = $('#verify-tickets').value.split(/[\s,]+/).map((t) => t.trim().toLowerCase()).filter(Boolean);
  const out = $('#verify-result');
  const list = $('#verify-order');
  list.replaceChildren();
  if (!/^[0-9a-f]{64}$/.test(seed)) {
    out.textContent = 'The seed is 64 hexadecimal characters, as the queue published it.';
    return;
  }
  const lines = [];
  if (commitment) {
    const ok = await seedMatches(seed, commitment);
    lines.push(ok === null ? 'This browser cannot compute SHA-256 here (it needs HTTPS).'
      : ok ? 'The seed matches the commitment: SHA-256 of the seed equals it.'
        : 'The seed does NOT match the commitment.');
  }
  const order = await drawOrder(seed, ids);
  lines.push(`${order.length} ticket${order.length === 1 ? '' : 's'} in the draw's order:`);
  out.textContent = lines.join(' ');
  order.forEach(({ ticketId, key }) => {
    const li = document.createElement('li');
    li.textContent = `${ticketId} (key ${key.slice(0, 16)}…)`;
    list.append(li);
  });
});
