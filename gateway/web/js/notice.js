// The one notice box at the top of the page (role alert for errors,
// status for the rest), with optional action buttons.

import { $ } from './dom.js';

/** Show a message; `actions` are buttons [{label, run, primary}]. */
export function notify(text, { kind = 'error', actions = [] } = {}) {
  const box = $('#notice');
  box.className = `notice ${kind === 'error' ? '' : kind}`.trim();
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  box.dataset.kind = kind;
  $('#notice-text').textContent = text;
  const row = $('#notice-actions');
  row.replaceChildren();
  actions.forEach(({ label, run, primary }) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    if (primary) b.className = 'primary';
    b.addEventListener('click', () => { clearNotice(); run(); });
    row.append(b);
  });
  box.hidden = false;
}

export function clearNotice() {
  $('#notice').hidden = true;
  $('#notice').dataset.kind = '';
  $('#notice-text').textContent = '';
  $('#notice-actions').replaceChildren();
}

/** An informational notice (not an error) is on screen. */
export const infoShown = () => !$('#notice').hidden && $('#notice').dataset.kind === 'info';
