// The login step, "Log out", and what happens when a login ends behind the
// page's back (booking answers 401): back to the login step, the user id
// filled in, then on to where the fan was going.

import { $ } from './dom.js';
import { booking } from './api.js';
import { shortTimeFormat } from './format.js';
import { describe, describeLogin } from './messages.js';
import { notify, clearNotice } from './notice.js';
import { me, storedLogin, saveLogin, clearLogin } from './session.js';
import { forgetUser } from './store.js';
import {
  current, show, go, redirect, route,
} from './router.js';

let lastUserId = null; // prefilled after a login ended

/** The login step; `info` is the concert the fan is on the way to. */
export function showLogin(info) {
  document.title = 'Log in · Tickets';
  $('#login-lead').textContent = info
    ? `Log in to get tickets for ${info.title}.`
    : 'Log in to join a queue, top up your balance and buy tickets.';
  show('login');
  const user = $('#login-user');
  if (!user.value && lastUserId) user.value = String(lastUserId);
  (user.value ? $('#login-password') : user).focus();
}

async function logIn(userId, password) {
  const button = $('#login-button');
  button.disabled = true;
  clearNotice();
  try {
    const s = await booking('/v1/sessions', { method: 'POST', body: { user_id: userId, password } });
    saveLogin({ token: s.session_token, userId: s.user_id, name: s.name, expiresAt: s.expires_at });
    $('#login-form').reset();
    lastUserId = null;
    // On to where the fan was going: the concert they picked, or the list.
    if (current.concert === null) redirect('#/');
    else route();
  } catch (err) {
    const field = $('#login-password');
    const wrong = err.code === 'UNAUTHENTICATED';
    field.setAttribute('aria-invalid', wrong ? 'true' : 'false');
    const retry = err.status === 0 || err.status >= 500;
    notify(describeLogin(err), retry ? { actions: [{ label: 'Try again', run: () => logIn(userId, field.value) }] } : {});
    if (wrong) {
      field.select();
      field.focus();
    }
  } finally {
    button.disabled = false;
  }
}

$('#login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const user = $('#login-user');
  const password = $('#login-password');
  const userId = Number(user.value.trim());
  const badUser = !/^\d+$/.test(user.value.trim()) || !Number.isSafeInteger(userId) || userId < 1;
  user.setAttribute('aria-invalid', badUser ? 'true' : 'false');
  password.setAttribute('aria-invalid', password.value ? 'false' : 'true');
  if (badUser || !password.value) {
    notify(badUser ? 'Please enter your user id: a whole number such as 1.' : 'Please enter your password.');
    (badUser ? user : password).focus();
    return;
  }
  logIn(userId, password.value);
});

/** A call made with the session token answered 401: back to the login step. */
export function loginEnded() {
  const stored = storedLogin();
  if (stored) lastUserId = stored.userId;
  clearLogin();
  redirect(location.hash || '#/', { text: describe({ code: 'UNAUTHENTICATED' }), kind: 'info' });
}

/** Whether a page needs a login it lacks; shows the login step if so. */
export function needsLogin(info) {
  if (me()) return false;
  if (storedLogin()) loginEnded();
  else showLogin(info);
  return true;
}

$('#logout-button').addEventListener('click', async () => {
  const login = storedLogin();
  const button = $('#logout-button');
  let revoked = true;
  if (login) {
    button.disabled = true;
    try {
      await booking('/v1/sessions/current', { method: 'DELETE', token: login.token });
    } catch (err) {
      revoked = err.code === 'UNAUTHENTICATED'; // already ended
    }
    forgetUser(login.userId);
  }
  clearLogin();
  button.disabled = false;
  const until = login ? shortTimeFormat.format(new Date(login.expiresAt)) : '';
  go('#/login', revoked
    ? { text: 'You are logged out. To buy tickets again, log in below.', kind: 'ok' }
    : {
      text: `You are logged out in this browser, but we could not reach the ticket service to end the login everywhere; it ends by itself at ${until}.`,
      kind: 'info',
    });
});
