// The admitted fan picks a date (booking's upcoming schedules). The dates
// are remembered so that checkout and confirmation can name them.

import { $, element } from './dom.js';
import { booking } from './api.js';
import { formatDate } from './format.js';
import { describe } from './messages.js';
import { notify } from './notice.js';
import { load, rememberSchedules } from './store.js';
import { show, go, route, stale, gen } from './router.js';
import { sessionError } from './shopping.js';

/**
 * Read the concert's schedules (access token) and remember their dates;
 * null when it failed. `quiet`: say nothing and stay on the page then.
 */
export async function fetchSchedules(concert, { quiet = false } = {}) {
  const st = load(concert);
  const g = gen();
  try {
    const schedules = await booking(`/v1/concerts/${concert}/schedules`, { token: st.accessToken });
    rememberSchedules(concert, schedules);
    return schedules;
  } catch (err) {
    if (quiet || stale(g) || sessionError(concert, err)) return null;
    notify(describe(err), { actions: [{ label: 'Try again', run: route }] });
    return null;
  }
}

export async function showDates(concert) {
  show('dates');
  const g = gen();
  const list = $('#date-list');
  list.replaceChildren();
  const schedules = await fetchSchedules(concert);
  if (stale(g) || schedules === null) return;
  if (schedules.length === 0) list.append(element('li', { text: 'No upcoming dates.' }));
  schedules.forEach((s) => {
    const b = element('button');
    b.type = 'button';
    b.append(
      element('span', { text: formatDate(s.starts_at) }),
      element('span', {
        className: 'count',
        // No free seat may be only held (they come back): not "sold out".
        text: s.available_seats > 0 ? `${s.available_seats} of ${s.total_seats} seats left` : 'No seats free right now',
      }),
    );
    b.disabled = s.available_seats <= 0;
    b.dataset.schedule = String(s.schedule_id);
    b.addEventListener('click', () => go(`#/concerts/${concert}/dates/${s.schedule_id}`));
    const li = element('li');
    li.append(b);
    list.append(li);
  });
}
