// The page for a URL that names nothing: an unknown concert
// ("#/concerts/999"), a malformed one ("#/concerts/abc"), or no route at all.

import { $ } from './dom.js';
import { show, current } from './router.js';

/**
 * Show "Page not found" (or another `heading`, such as "No such booking")
 * with what was looked for.
 */
export function showNotFound(what = 'There is no page at this address.', heading = 'Page not found') {
  current.concert = null;
  document.title = `${heading} · Tickets`;
  $('#notfound-title').textContent = heading;
  $('#notfound-text').textContent = what;
  show('notfound');
}
