// The admitted fan's shopping time: the bar counting down the access
// token's session, what happens when it ends (back to the queue), and the
// errors every admitted call can meet.

import { $ } from './dom.js';
import { clock } from './format.js';
import { describe } from './messages.js';
import { me } from './session.js';
import { load, update } from './store.js';
import { redirect, every } from './router.js';
import { join } from './join.js';

/** Whether the fan's access token for the concert is still within its session. */
export function sessionLive(st) {
  return Boolean(st.accessToken) && Date.parse(st.expiresAt) > Date.now();
}

/** Show the shopping-time bar for `concert`, or hide it (null). */
export function sessionBar(concert) {
  const bar = $('#session-bar');
  if (concert === null) {
    bar.hidden = true;
    return;
  }
  const tick = () => {
    const left = Date.parse(load(concert).expiresAt) - Date.now();
    $('#session-left').textContent = clock(left);
    bar.classList.toggle('low', left < 60_000);
    if (!(left > 0)) sessionEnded(concert);
  };
  bar.hidden = false;
  tick();
  every(tick, 1000);
}

/** The access token no longer works: back to the queue. Held seats stay payable. */
export function sessionEnded(concert) {
  update(concert, { accessToken: undefined, expiresAt: undefined, ticket: undefined, ticketId: undefined });
  const actions = me() ? [{ label: 'Join the queue again', primary: true, run: () => join(concert) }] : [];
  redirect(`#/concerts/${concert}/join`, { text: describe({ code: 'NOT_ADMITTED' }), kind: 'info', actions });
}

/** Handle errors every admitted call can meet; false when not handled. */
export function sessionError(concert, err) {
  if (['NOT_ADMITTED', 'UNAUTHENTICATED', 'FORBIDDEN'].includes(err.code)) {
    sessionEnded(concert);
    return true;
  }
  return false;
}

/** The queue let the fan in: keep the access token, on to the dates. */
export function admitted(concert, status) {
  update(concert, { accessToken: status.access_token, expiresAt: status.expires_at });
  redirect(`#/concerts/${concert}/dates`, {
    text: "It's your turn! Pick a date and seats before your shopping time runs out.",
    kind: 'ok',
  });
}
