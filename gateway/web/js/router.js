// Navigation: the URL's hash names the view (see app.js for the routes).
// Every navigation bumps a generation number and stops the previous view's
// timers, so a late answer or loop of a view that was left changes nothing.

import { $, $$ } from './dom.js';
import { clearNotice, notify } from './notice.js';
import { me, displayName } from './session.js';

let generation = 0;
let timers = [];
let handler = () => {};
let pendingNotice = null;

/** What is on screen: the concert (or null) and the view's name. */
export const current = { concert: null, view: null };

/** The current generation; a view's async work stops once it changed. */
export const gen = () => generation;
export const stale = (g) => g !== generation;

/** Run `fn` once after `ms`, unless the view is left first. */
export function later(fn, ms) {
  const id = setTimeout(fn, ms);
  timers.push(() => clearTimeout(id));
}

/** Run `fn` every `ms` while the view is on screen. */
export function every(fn, ms) {
  const id = setInterval(fn, ms);
  timers.push(() => clearInterval(id));
}

export function stopTimers() {
  timers.forEach((stop) => stop());
  timers = [];
}

/** The header: who is logged in and "Log out", or a "Log in" link. */
export function renderWho() {
  const login = me();
  $('#who').hidden = !login;
  $('#who-name').textContent = login ? displayName(login) : '';
  $('#login-link').hidden = Boolean(login) || current.view === 'login';
}

/** Show one view (a `<section data-view id="view-NAME">`), its heading focused. */
export function show(view, { focus = true } = {}) {
  $$('[data-view]').forEach((section) => { section.hidden = section.id !== `view-${view}`; });
  const changed = current.view !== view;
  current.view = view;
  renderWho();
  if (focus && changed) {
    const heading = $(`#view-${view} h1`);
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: false });
    }
  }
}

/** Go to `hash`, showing `notice` ({text, kind, actions}) on arrival. */
export function go(hash, notice) {
  pendingNotice = notice || null;
  if (location.hash === hash) route();
  else location.hash = hash;
}

/**
 * Send the fan on to `hash` in place of the URL on screen (a redirect: the
 * browser's Back then skips the URL that only led here, so it can leave the
 * page it lands on). Shows `notice` on arrival like `go`.
 */
export function redirect(hash, notice) {
  pendingNotice = notice || null;
  if (location.hash === hash) route();
  else location.replace(hash);
}

/**
 * Change the URL of the view on screen without showing anything new (the
 * browser's Back then returns to this URL).
 */
export function replaceUrl(hash) {
  history.replaceState(history.state, '', hash);
}

/** The path segments of the hash: "#/concerts/1/dates" → ["concerts", "1", "dates"]. */
export const segments = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);

/** Set what shows a route (app.js): called with the segments. */
export function onRoute(fn) { handler = fn; }

export function route() {
  generation += 1;
  stopTimers();
  clearNotice();
  if (pendingNotice) {
    notify(pendingNotice.text, pendingNotice);
    pendingNotice = null;
  }
  return handler(segments());
}
