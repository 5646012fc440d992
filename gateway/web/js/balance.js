// The fan's balance and the top-up forms (waiting room and checkout). A
// top-up keeps one Idempotency-Key per amount for its retries in this tab,
// so "Try again" after an outage can never charge twice.

import { $, $$, setText } from './dom.js';
import { booking } from './api.js';
import { krw, uuid } from './format.js';
import { describe } from './messages.js';
import { notify, clearNotice } from './notice.js';
import { me, currentEpoch } from './session.js';
import { current } from './router.js';
import { loginEnded } from './login.js';

let chargeKey = null; // {amount, key} of the top-up being tried in this tab

/** Read the balance into every `[data-balance]`; resolves to it, or null. */
export async function refreshBalance() {
  const login = me();
  if (!login) return null;
  const ep = currentEpoch();
  try {
    const b = await booking(`/v1/users/${login.userId}/balance`, { token: login.token });
    if (ep !== currentEpoch()) return null;
    setText('[data-balance]', krw(b.balance));
    return b.balance;
  } catch (err) {
    if (ep !== currentEpoch()) return null;
    if (err.code === 'UNAUTHENTICATED') loginEnded();
    else setText('[data-balance]', 'unavailable right now');
    return null;
  }
}

/** Preselect the smallest top-up that covers `shortfall`. */
export function suggestTopUp(shortfall) {
  $$('[data-topup] select').forEach((select) => {
    const fit = Array.from(select.options).find((o) => Number(o.value) >= shortfall);
    if (fit) select.value = fit.value;
  });
}

export function focusTopUp() {
  const select = $(`#view-${current.view} [data-topup] select`);
  if (select) select.focus();
}

async function topUp(form, amount) {
  const login = me();
  if (!login) {
    loginEnded();
    return;
  }
  if (!chargeKey || chargeKey.amount !== amount) chargeKey = { amount, key: uuid() };
  const { key } = chargeKey;
  const ep = currentEpoch();
  const button = form.querySelector('button');
  button.disabled = true;
  clearNotice();
  try {
    const b = await booking(`/v1/users/${login.userId}/balance/charge`, {
      method: 'POST',
      token: login.token,
      body: { amount },
      idempotencyKey: key,
    });
    if (ep !== currentEpoch()) return;
    chargeKey = null;
    setText('[data-balance]', krw(b.balance));
    notify(`Added ${krw(amount)}. Your balance is now ${krw(b.balance)}.`, { kind: 'ok' });
  } catch (err) {
    if (ep !== currentEpoch()) return;
    if (err.code === 'UNAUTHENTICATED') {
      loginEnded();
    } else if (err.retryable) {
      notify(describe(err), { actions: [{ label: 'Try again', run: () => topUp(form, amount) }] });
    } else {
      chargeKey = null;
      notify(describe(err));
    }
  } finally {
    button.disabled = false;
  }
}

$$('[data-topup]').forEach((form) => {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    topUp(form, Number(form.elements.amount.value));
  });
});

// Another tab (or another device) may have topped up or paid meanwhile:
// read the balance again whenever this tab comes back into view, if the
// view on screen shows it. Focus and visibility often change together;
// one read in flight is enough.
let rereading = null;
function rereadBalance() {
  if (document.visibilityState !== 'visible' || rereading) return;
  const shown = Array.from(document.querySelectorAll('[data-balance]')).some((el) => el.getClientRects().length > 0);
  if (!shown) return;
  rereading = refreshBalance().finally(() => { rereading = null; });
}
document.addEventListener('visibilitychange', rereadBalance);
window.addEventListener('focus', rereadBalance);
