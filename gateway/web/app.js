// The fan pages: log in → concert list → join → waiting room → dates →
// seat map → hold → pay → confirmation. Plain JavaScript, no dependencies,
// no inline code (the page runs under a strict Content-Security-Policy).
//
// The queue API is on this page's origin (the gateway); booking is at the
// URL the gateway puts in <meta name="booking-url">. The login (booking's
// session token) is kept in sessionStorage: this tab only, gone when it
// closes. What a fan needs to come back to in a concert (queue ticket,
// access token, current hold) is kept in localStorage per user and concert,
// so a refresh, or a closed tab and a new login, keeps the place; logging
// out forgets it.
//
// One file because the gateway embeds the files it serves one by one
// (gateway/src/web.rs); its sections follow the modules STYLE.md names:
// storage and session, API and its error sentences, then one per view.
'use strict';

(() => {
  const BOOKING = (document.querySelector('meta[name="booking-url"]')?.content || '').replace(/\/+$/, '');
  const SEAT_REFRESH_MS = 4000;
  const RETRY_MS = 3000;

  // ---------------------------------------------------------------- helpers

  const $ = (selector) => document.querySelector(selector);
  const $$ = (selector) => Array.from(document.querySelectorAll(selector));
  const numberFormat = new Intl.NumberFormat();
  const krw = (amount) => `${numberFormat.format(amount)} KRW`;
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });
  const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
  const shortTimeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
  const jitter = (ms) => Math.round(ms * (0.85 + Math.random() * 0.3));

  function uuid() {
    if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** "about 3 minutes" from seconds; null while unknown. */
  function etaWords(seconds, paused) {
    if (paused) return 'Paused';
    if (seconds === null || seconds === undefined) return 'Working it out…';
    if (seconds < 45) return 'Less than a minute';
    const minutes = Math.round(seconds / 60);
    if (minutes <= 1) return 'About a minute';
    if (minutes < 60) return `About ${minutes} minutes`;
    const hours = Math.round(minutes / 30) / 2;
    return hours <= 1 ? 'About an hour' : `About ${hours} hours`;
  }

  function clock(ms) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const m = Math.floor(total / 60);
    const s = String(total % 60).padStart(2, '0');
    return `${m}:${s}`;
  }

  function formatDate(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : dateTimeFormat.format(d);
  }

  function setText(selector, text) {
    $$(selector).forEach((el) => { el.textContent = text; });
  }

  function setTime(el, date) {
    el.textContent = timeFormat.format(date);
    el.dateTime = date.toISOString();
  }

  /** "in 40 seconds", "in about 15 minutes (at 10:42 PM)" from Retry-After. */
  function retryWords(seconds) {
    if (!seconds) return 'in a few minutes';
    if (seconds < 90) return `in ${seconds} seconds`;
    const at = shortTimeFormat.format(new Date(Date.now() + seconds * 1000));
    return `in about ${Math.ceil(seconds / 60)} minutes (at ${at})`;
  }

  // ------------------------------------------------------ session (login)

  const SESSION_KEY = 'tickets.session';
  // Where sessionStorage refuses writes, the login lasts while the page is open.
  let memorySession = null;
  // Bumped at every login and logout: an answer that arrives after the fan
  // changed is not written into the next fan's state.
  let epoch = 0;

  /** What this tab stored at login, expired or not: {token, userId, expiresAt} or null. */
  function storedLogin() {
    try {
      const s = JSON.parse(sessionStorage.getItem(SESSION_KEY)) || memorySession;
      return s && s.token && Number.isSafeInteger(s.userId) ? s : null;
    } catch {
      return memorySession;
    }
  }

  /** The live login of this tab, or null. */
  function me() {
    const s = storedLogin();
    return s && Date.parse(s.expiresAt) > Date.now() ? s : null;
  }

  function saveLogin(s) {
    epoch += 1;
    memorySession = s;
    try { sessionStorage.setItem(SESSION_KEY, JSON.stringify(s)); } catch { /* kept in memory */ }
  }

  function clearLogin() {
    epoch += 1;
    memorySession = null;
    try { sessionStorage.removeItem(SESSION_KEY); } catch { /* nothing stored */ }
  }

  // ---------------------------------------------------------------- storage

  const userPrefix = (user) => `tickets.user.${user}.`;
  const storeKey = (user, concert) => `${userPrefix(user)}concert.${concert}`;

  /** The logged-in fan's state in a concert; {} when logged out. */
  function load(concert) {
    const login = me();
    if (!login) return {};
    try {
      return JSON.parse(localStorage.getItem(storeKey(login.userId, concert))) || {};
    } catch {
      return {};
    }
  }

  function save(concert, data) {
    const login = me();
    if (!login) return;
    try {
      localStorage.setItem(storeKey(login.userId, concert), JSON.stringify(data));
    } catch {
      // Private mode or full storage: the page still works, a refresh just loses the place.
    }
  }

  /** Forget every concert state of `user` (at logout). */
  function forgetUser(user) {
    try {
      const prefix = userPrefix(user);
      Object.keys(localStorage).filter((k) => k.startsWith(prefix)).forEach((k) => localStorage.removeItem(k));
    } catch {
      // Nothing stored.
    }
  }

  /** Drop what pages from before logins kept (not tied to any user). */
  function forgetAnonymous() {
    try {
      Object.keys(localStorage)
        .filter((k) => k === 'tickets.user' || k.startsWith('tickets.concert.'))
        .forEach((k) => localStorage.removeItem(k));
    } catch {
      // Nothing stored.
    }
  }

  function update(concert, change) {
    const data = { ...load(concert), ...change };
    Object.keys(change).forEach((k) => { if (change[k] === undefined) delete data[k]; });
    save(concert, data);
    return data;
  }

  // -------------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, problem, retryAfter) {
      super(problem.detail || problem.title || `HTTP ${status}`);
      this.status = status;
      this.code = problem.code || (status === 0 ? 'NETWORK' : `HTTP_${status}`);
      this.retryAfter = retryAfter ? Number(retryAfter) : null;
    }

    /** Worth trying again with the same request (and Idempotency-Key). */
    get retryable() {
      return this.status === 0 || this.status >= 500 || this.code === 'RATE_LIMITED'
        || this.code === 'IDEMPOTENCY_IN_PROGRESS';
    }
  }

  async function call(base, path, { method = 'GET', token, body, idempotencyKey } = {}) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    let response;
    try {
      response = await fetch(base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, {});
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, data || {}, response.headers.get('Retry-After'));
    return data;
  }

  const gateway = (path, options) => call('', path, options);
  const booking = (path, options) => call(BOOKING, path, options);

  // --------------------------------------------------------------- messages

  /** A sentence a fan understands for every error code they can meet. */
  function describe(err, context = {}) {
    const seat = context.seat ? `seat ${context.seat}` : 'that seat';
    switch (err.code) {
      case 'NETWORK':
        return 'We could not reach the ticket service. Check your connection, then try again.';
      case 'UNAVAILABLE':
      case 'HTTP_500':
      case 'HTTP_502':
      case 'HTTP_503':
      case 'HTTP_504':
      case 'INTERNAL':
        return 'The ticket service is briefly unavailable, so nothing was changed. Please try again in a moment.';
      case 'RATE_LIMITED':
        return `Lots of people are buying right now. Please wait ${err.retryAfter || 'a few'} seconds and try again.`;
      case 'SEAT_UNAVAILABLE':
        return `Sorry — ${seat} was just taken by someone else. The map is refreshed: please pick another seat.`;
      case 'HOLD_EXPIRED':
        return `Your hold on ${seat} ran out, so the seat was released and nothing was charged. Please pick a seat again.`;
      case 'INSUFFICIENT_BALANCE':
        return context.shortfall
          ? `Your balance is ${krw(context.balance)}, ${krw(context.shortfall)} short of the price. Top up below, then pay.`
          : 'Your balance is too low for this seat. Top up below, then pay.';
      case 'HOLD_LIMIT_REACHED':
        return 'You already hold or own the most seats one person may have for this date. Pay for or release a held seat before picking another.';
      case 'ALREADY_PAID':
        return 'This seat is already paid for — it is yours.';
      case 'NOT_ADMITTED':
        return 'Your shopping time has ended. Join the queue again to continue.';
      case 'UNAUTHENTICATED':
        return 'Your login has ended (it expired, or you logged out in another tab). Please log in again to continue.';
      case 'FORBIDDEN':
        return 'This page belongs to another user or concert. Join the queue again.';
      case 'USER_NOT_FOUND':
        return 'We could not find your account any more. Please log in again.';
      case 'CONCERT_NOT_FOUND':
        return 'This concert is not on sale. Please pick another concert from the list.';
      case 'SCHEDULE_NOT_FOUND':
        return 'That date is not on sale any more. Please pick another date.';
      case 'SEAT_NOT_FOUND':
        return 'That seat does not exist on this date. Please pick another seat.';
      case 'RESERVATION_NOT_FOUND':
        return 'We could not find your hold any more. Please pick a seat again.';
      case 'TICKET_NOT_FOUND':
        return 'Your place in line was released (you left, or the page was closed for too long). Join again for a new place.';
      case 'IDEMPOTENCY_IN_PROGRESS':
        return 'Your request is still being processed. Please wait a moment.';
      case 'INVALID_REQUEST':
        return 'That request was not valid. Please check what you entered.';
      case 'PAYLOAD_TOO_LARGE':
        return 'That request was too large to send. Please reload the page and try again.';
      case 'IDEMPOTENCY_KEY_REUSED':
        return 'This page sent a request that clashes with an earlier one, so nothing was changed. Please reload the page and try again.';
      default:
        return `Something went wrong (${err.code}). Please try again.`;
    }
  }

  /** The login form's sentences: one for an unknown user and a wrong password alike. */
  function describeLogin(err) {
    switch (err.code) {
      case 'UNAUTHENTICATED':
        return 'That user id and password do not match. Check both and try again.';
      case 'RATE_LIMITED':
        return `Too many failed logins for this user id. To protect the account, logging in is paused: please try again ${retryWords(err.retryAfter)}.`;
      case 'INVALID_REQUEST':
        return 'Please enter your user id (a whole number such as 1) and your password.';
      case 'NETWORK':
        return 'We could not reach the ticket service to log you in. Check your connection, then try again.';
      default:
        if (err.status >= 500) {
          const when = err.retryAfter ? retryWords(err.retryAfter) : 'in a moment';
          return `Logging in is unavailable right now: the ticket service is busy or down. Please try again ${when}.`;
        }
        return describe(err);
    }
  }

  let pendingNotice = null;

  /** Show a message; `actions` are buttons [{label, run}]. */
  function notify(text, { kind = 'error', actions = [] } = {}) {
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

  function clearNotice() {
    $('#notice').hidden = true;
    $('#notice-text').textContent = '';
    $('#notice-actions').replaceChildren();
  }

  // ------------------------------------------------------- views and routing

  let generation = 0; // bumped on every navigation; stale loops stop
  let timers = [];
  let current = { concert: null, view: null };
  const concerts = new Map();

  function later(fn, ms) {
    const id = setTimeout(fn, ms);
    timers.push(() => clearTimeout(id));
  }

  function every(fn, ms) {
    const id = setInterval(fn, ms);
    timers.push(() => clearInterval(id));
  }

  function show(view, { focus = true } = {}) {
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

  function go(hash, notice) {
    pendingNotice = notice || null;
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  async function concertInfo(id) {
    if (!concerts.has(id)) {
      try {
        (await booking('/v1/concerts')).forEach((c) => concerts.set(c.concert_id, c));
      } catch {
        // Shown without a title; the flow does not depend on it.
      }
    }
    return concerts.get(id) || { concert_id: id, title: `Concert ${id}`, venue: '' };
  }

  function sessionLive(st) {
    return Boolean(st.accessToken) && Date.parse(st.expiresAt) > Date.now();
  }

  async function route() {
    generation += 1;
    timers.forEach((stop) => stop());
    timers = [];
    clearNotice();
    if (pendingNotice) {
      notify(pendingNotice.text, pendingNotice);
      pendingNotice = null;
    }
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
    const concert = Number(parts[1]);
    if (parts[0] === 'login') {
      current.concert = null;
      sessionBar(null);
      if (me()) return go('#/');
      return showLogin(null);
    }
    if (parts[0] !== 'concerts' || !Number.isSafeInteger(concert) || concert < 1) {
      current.concert = null;
      sessionBar(null);
      return showConcerts();
    }
    current.concert = concert;
    const gen = generation;
    const info = await concertInfo(concert);
    if (gen !== generation) return undefined;
    setText('[data-concert-title]', info.title);
    setText('[data-concert-venue]', info.venue);
    document.title = `${info.title} · Tickets`;
    // Every step of a concert is taken by a logged-in fan.
    if (!me()) {
      sessionBar(null);
      if (storedLogin()) loginEnded();
      else showLogin(info);
      return undefined;
    }
    const st = load(concert);
    const sub = parts[2];
    if (sub === 'done' && st.done) {
      sessionBar(null);
      return showDone(concert);
    }
    if (st.accessToken && !sessionLive(st)) return sessionEnded(concert);
    if (sessionLive(st)) {
      sessionBar(concert);
      if (st.reservation && (sub === 'checkout' || !sub)) return showCheckout(concert);
      const schedule = Number(parts[3]);
      if (sub === 'dates' && Number.isSafeInteger(schedule) && schedule > 0) return showSeats(concert, schedule);
      return showDates(concert);
    }
    sessionBar(null);
    if (st.ticket) return showWaiting(concert);
    return showJoin(concert);
  }

  /** The user's name as booking gave it at login, or "User <id>". */
  function displayName(login) {
    return typeof login.name === 'string' && login.name.trim() ? login.name : `User ${login.userId}`;
  }

  /** The header: who is logged in and "Log out", or a "Log in" link. */
  function renderWho() {
    const login = me();
    $('#who').hidden = !login;
    $('#who-name').textContent = login ? displayName(login) : '';
    $('#login-link').hidden = Boolean(login) || current.view === 'login';
  }

  // ------------------------------------------------------------------ login

  let lastUserId = null; // prefilled after a login ended

  /** The login step; `info` is the concert the fan is on the way to. */
  function showLogin(info) {
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
      if (current.concert === null) go('#/');
      else route();
    } catch (err) {
      const password = $('#login-password');
      const wrong = err.code === 'UNAUTHENTICATED';
      password.setAttribute('aria-invalid', wrong ? 'true' : 'false');
      const retry = err.status === 0 || err.status >= 500;
      notify(describeLogin(err), retry ? { actions: [{ label: 'Try again', run: () => logIn(userId, password.value) }] } : {});
      if (wrong) {
        password.select();
        password.focus();
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
  function loginEnded() {
    const stored = storedLogin();
    if (stored) lastUserId = stored.userId;
    clearLogin();
    go(location.hash || '#/', { text: describe({ code: 'UNAUTHENTICATED' }), kind: 'info' });
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

  // ------------------------------------------------------------ concert list

  async function showConcerts() {
    document.title = 'Concerts · Tickets';
    show('concerts');
    const list = $('#concert-list');
    const loading = $('#concerts-loading');
    loading.hidden = false;
    loading.textContent = 'Loading concerts…';
    try {
      const all = await booking('/v1/concerts');
      all.forEach((c) => concerts.set(c.concert_id, c));
      list.replaceChildren(...all.map(concertCard));
      loading.hidden = all.length > 0;
      loading.textContent = 'No concerts are on sale right now.';
    } catch (err) {
      loading.hidden = true;
      notify(describe(err), { actions: [{ label: 'Try again', run: route }] });
    }
  }

  function concertCard(c) {
    const li = document.createElement('li');
    li.className = 'card';
    const h = document.createElement('h2');
    h.textContent = c.title;
    const venue = document.createElement('p');
    venue.className = 'muted';
    venue.textContent = c.venue;
    const link = document.createElement('a');
    link.className = 'button primary';
    link.href = `#/concerts/${c.concert_id}`;
    const st = load(c.concert_id);
    link.textContent = sessionLive(st) ? 'Continue shopping' : st.ticket ? 'Back to my place in line' : 'Get tickets';
    link.setAttribute('aria-label', `${link.textContent}: ${c.title}`);
    li.append(h, venue, link);
    return li;
  }

  // -------------------------------------------------------------------- join

  function showJoin() {
    show('join');
    $('#join-who').textContent = displayName(me());
    $('#join-button').focus();
  }

  async function join(concert) {
    const login = me();
    if (!login) {
      loginEnded();
      return;
    }
    const ep = epoch;
    const button = $('#join-button');
    button.disabled = true;
    try {
      // Who joins comes from the session token; the body names nobody.
      const joined = await gateway(`/v1/concerts/${concert}/queue`, { method: 'POST', token: login.token, body: {} });
      if (ep !== epoch) return;
      const st = update(concert, {
        ticket: joined.ticket,
        ticketId: joined.ticket_id,
        startPosition: joined.status === 'waiting' ? joined.position : 1,
        accessToken: undefined,
        expiresAt: undefined,
        reservation: undefined,
        done: undefined,
      });
      if (joined.status === 'active') admitted(concert, st, joined);
      else go(`#/concerts/${concert}`);
    } catch (err) {
      if (ep !== epoch) return;
      if (err.code === 'UNAUTHENTICATED') {
        loginEnded();
        return;
      }
      notify(describe(err), err.retryable ? { actions: [{ label: 'Try again', run: () => join(concert) }] } : {});
    } finally {
      button.disabled = false;
    }
  }

  $('#join-form').addEventListener('submit', (event) => {
    event.preventDefault();
    clearNotice();
    join(current.concert);
  });

  // ------------------------------------------------------------ waiting room

  let lastAnnounced = '';

  function showWaiting(concert) {
    show('waiting');
    lastAnnounced = '';
    refreshBalance();
    poll(concert, generation);
  }

  async function poll(concert, gen) {
    if (gen !== generation) return;
    const st = load(concert);
    let status;
    try {
      status = await gateway(`/v1/concerts/${concert}/queue/status`, { token: st.ticket });
    } catch (err) {
      if (gen !== generation) return;
      if (['TICKET_NOT_FOUND', 'UNAUTHENTICATED', 'FORBIDDEN'].includes(err.code)) {
        update(concert, { ticket: undefined, ticketId: undefined });
        go(`#/concerts/${concert}`, {
          text: describe({ code: 'TICKET_NOT_FOUND' }),
          kind: 'info',
        });
        return;
      }
      notify(`${describe(err)} We keep trying; your place is kept meanwhile.`, { kind: 'info' });
      later(() => poll(concert, gen), jitter(err.retryAfter ? err.retryAfter * 1000 : RETRY_MS));
      return;
    }
    if (gen !== generation) return;
    if ($('#notice').dataset.kind === 'info' && !$('#notice').hidden) clearNotice();
    if (status.status === 'active') {
      admitted(concert, st, status);
      return;
    }
    renderWaiting(concert, status);
    later(() => poll(concert, gen), jitter(status.poll_after_ms || 2000));
  }

  function renderWaiting(concert, s) {
    let st = load(concert);
    if (!st.startPosition || s.position > st.startPosition) st = update(concert, { startPosition: s.position });
    const start = st.startPosition;
    $('#position').textContent = numberFormat.format(s.position);
    const ahead = s.position - 1;
    $('#ahead').textContent = numberFormat.format(ahead);
    $('#waiting-total').textContent = numberFormat.format(s.waiting);
    $('#eta').textContent = etaWords(s.eta_seconds, s.paused);
    $('#paused-note').hidden = !s.paused;
    const progress = $('#progress');
    progress.value = start > 1 ? (start - s.position) / (start - 1) : 1;
    progress.setAttribute('aria-valuetext', `${ahead} ${ahead === 1 ? 'person' : 'people'} ahead of you`);
    setTime($('#updated'), new Date());
    const words = s.paused
      ? `The queue is paused by the organiser. You are number ${s.position} in line.`
      : `You are number ${s.position} in line. ${etaWords(s.eta_seconds, false)}.`;
    if (words !== lastAnnounced) {
      $('#announce').textContent = words;
      lastAnnounced = words;
    }
  }

  function admitted(concert, st, status) {
    update(concert, { accessToken: status.access_token, expiresAt: status.expires_at });
    go(`#/concerts/${concert}/dates`, {
      text: "It's your turn! Pick a date and a seat before your shopping time runs out.",
      kind: 'ok',
    });
  }

  $('#leave-button').addEventListener('click', async () => {
    const concert = current.concert;
    const st = load(concert);
    try {
      await gateway(`/v1/concerts/${concert}/queue/me`, { method: 'DELETE', token: st.ticket });
    } catch (err) {
      if (err.retryable) {
        notify(describe(err));
        return;
      }
    }
    update(concert, { ticket: undefined, ticketId: undefined, startPosition: undefined });
    go('#/', { text: 'You left the queue.', kind: 'info' });
  });

  // ---------------------------------------------------------- active session

  function sessionBar(concert) {
    const bar = $('#session-bar');
    if (concert === null) {
      bar.hidden = true;
      return;
    }
    const tick = () => {
      const st = load(concert);
      const left = Date.parse(st.expiresAt) - Date.now();
      $('#session-left').textContent = clock(left);
      bar.classList.toggle('low', left < 60_000);
      if (left <= 0) sessionEnded(concert);
    };
    bar.hidden = false;
    tick();
    every(tick, 1000);
  }

  /** The access token no longer works: back to the queue. */
  function sessionEnded(concert) {
    update(concert, {
      accessToken: undefined,
      expiresAt: undefined,
      ticket: undefined,
      ticketId: undefined,
      reservation: undefined,
    });
    const actions = me()
      ? [{ label: 'Join the queue again', primary: true, run: () => join(concert) }]
      : [];
    go(`#/concerts/${concert}/join`, { text: describe({ code: 'NOT_ADMITTED' }), kind: 'info', actions });
  }

  /** Handle errors every admitted call can meet; false when not handled. */
  function sessionError(concert, err) {
    if (['NOT_ADMITTED', 'UNAUTHENTICATED', 'FORBIDDEN'].includes(err.code)) {
      sessionEnded(concert);
      return true;
    }
    return false;
  }

  // ------------------------------------------------------------------ dates

  async function showDates(concert) {
    show('dates');
    const gen = generation;
    const list = $('#date-list');
    list.replaceChildren();
    const st = load(concert);
    let schedules;
    try {
      schedules = await booking(`/v1/concerts/${concert}/schedules`, { token: st.accessToken });
    } catch (err) {
      if (gen !== generation || sessionError(concert, err)) return;
      notify(describe(err), { actions: [{ label: 'Try again', run: route }] });
      return;
    }
    if (gen !== generation) return;
    if (schedules.length === 0) {
      const li = document.createElement('li');
      li.textContent = 'No upcoming dates.';
      list.append(li);
    }
    schedules.forEach((s) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      const when = document.createElement('span');
      when.textContent = formatDate(s.starts_at);
      const count = document.createElement('span');
      count.className = 'count';
      count.textContent = s.available_seats > 0
        ? `${s.available_seats} of ${s.total_seats} seats left`
        : 'Sold out';
      b.append(when, count);
      b.disabled = s.available_seats <= 0;
      b.dataset.schedule = String(s.schedule_id);
      b.addEventListener('click', () => {
        update(concert, { schedule: { id: s.schedule_id, startsAt: s.starts_at } });
        go(`#/concerts/${concert}/dates/${s.schedule_id}`);
      });
      li.append(b);
      list.append(li);
    });
  }

  // --------------------------------------------------------------- seat map

  let seatState = { schedule: null, seats: [], selected: null, busy: false, taken: new Map() };
  // A seat another fan just won can read as available for a moment (their
  // hold is locked but not yet written); trust our own 409 that long.
  const TAKEN_GRACE_MS = 5000;

  async function showSeats(concert, schedule) {
    show('seats');
    const st = load(concert);
    const startsAt = st.schedule && st.schedule.id === schedule ? st.schedule.startsAt : null;
    $('#seats-date').textContent = startsAt ? formatDate(startsAt) : '';
    if (seatState.schedule !== schedule) {
      seatState = { schedule, seats: [], selected: null, busy: false, taken: new Map() };
      $('#seat-map').replaceChildren();
    }
    renderSelection();
    const gen = generation;
    await loadSeats(concert, schedule, gen);
    const refresh = async () => {
      if (gen !== generation) return;
      await loadSeats(concert, schedule, gen);
      later(refresh, jitter(SEAT_REFRESH_MS));
    };
    later(refresh, jitter(SEAT_REFRESH_MS));
  }

  async function loadSeats(concert, schedule, gen) {
    const st = load(concert);
    let map;
    try {
      map = await booking(`/v1/schedules/${schedule}/seats`, { token: st.accessToken });
    } catch (err) {
      if (gen !== generation || sessionError(concert, err)) return false;
      notify(describe(err), { actions: [{ label: 'Try again', run: () => loadSeats(concert, schedule, generation) }] });
      return false;
    }
    if (gen !== generation) return false;
    renderSeats(map.seats);
    setTime($('#seats-updated'), new Date());
    return true;
  }

  function seatLabel(seat) {
    return `Seat ${seat.seat_number}, ${seat.status}, ${krw(seat.price)}`;
  }

  function renderSeats(fresh) {
    const now = Date.now();
    const seats = fresh.map((seat) => {
      const until = seatState.taken.get(seat.seat_number);
      if (until === undefined) return seat;
      if (until < now || seat.status !== 'available') {
        seatState.taken.delete(seat.seat_number);
        return seat;
      }
      return { ...seat, status: 'held' };
    });
    const grid = $('#seat-map');
    const firstRender = grid.children.length !== seats.length;
    if (firstRender) {
      grid.replaceChildren(...seats.map((seat) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'seat';
        b.dataset.seat = String(seat.seat_number);
        b.textContent = String(seat.seat_number);
        b.tabIndex = -1;
        b.addEventListener('click', () => pickSeat(Number(b.dataset.seat)));
        return b;
      }));
    }
    const premium = Math.min(...seats.map((s) => s.price));
    seats.forEach((seat, i) => {
      const b = grid.children[i];
      b.classList.remove('available', 'held', 'sold');
      b.classList.add(seat.status);
      b.classList.toggle('premium', seat.price > premium);
      b.setAttribute('aria-label', seatLabel(seat));
      b.setAttribute('aria-disabled', seat.status === 'available' ? 'false' : 'true');
      b.title = seatLabel(seat);
    });
    seatState.seats = seats;
    const chosen = seats.find((s) => s.seat_number === seatState.selected);
    if (seatState.selected !== null && (!chosen || chosen.status !== 'available')) {
      const lost = seatState.selected;
      seatState.selected = null;
      notify(`Seat ${lost} was just taken by someone else. Please pick another seat.`, { kind: 'info' });
    }
    renderSelection();
    if (firstRender) rovingFocus(null);
  }

  function renderSelection() {
    const grid = $('#seat-map');
    Array.from(grid.children).forEach((b) => {
      const on = Number(b.dataset.seat) === seatState.selected;
      b.classList.toggle('selected', on);
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
    });
    const seat = seatState.seats.find((s) => s.seat_number === seatState.selected);
    const button = $('#hold-button');
    if (seat) {
      $('#selection').textContent = `Seat ${seat.seat_number} selected · ${krw(seat.price)}`;
      button.textContent = `Hold seat ${seat.seat_number}`;
      button.disabled = seatState.busy;
    } else {
      $('#selection').textContent = 'No seat selected yet.';
      button.textContent = 'Hold this seat';
      button.disabled = true;
    }
  }

  function pickSeat(number) {
    const seat = seatState.seats.find((s) => s.seat_number === number);
    if (!seat) return;
    if (seat.status !== 'available') {
      $('#selection').textContent = `Seat ${number} is ${seat.status === 'sold' ? 'sold' : 'held by someone else'}. Please pick an available seat.`;
      return;
    }
    seatState.selected = seatState.selected === number ? null : number;
    renderSelection();
    rovingFocus(number);
  }

  /** One seat is in the tab order; arrow keys move between seats. */
  function rovingFocus(number) {
    const buttons = Array.from($('#seat-map').children);
    if (buttons.length === 0) return;
    const target = number !== null
      ? number
      : seatState.selected || (seatState.seats.find((s) => s.status === 'available') || seatState.seats[0]).seat_number;
    buttons.forEach((b) => { b.tabIndex = Number(b.dataset.seat) === target ? 0 : -1; });
  }

  $('#seat-map').addEventListener('keydown', (event) => {
    const buttons = Array.from($('#seat-map').children);
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    const columns = getComputedStyle($('#seat-map')).gridTemplateColumns.split(' ').length || 10;
    const moves = {
      ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns,
      Home: -index, End: buttons.length - 1 - index,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = Math.min(buttons.length - 1, Math.max(0, index + moves[event.key]));
    rovingFocus(Number(buttons[next].dataset.seat));
    buttons[next].focus();
  });

  $('#back-to-dates').addEventListener('click', () => go(`#/concerts/${current.concert}/dates`));

  $('#hold-button').addEventListener('click', () => hold(current.concert, seatState.schedule, seatState.selected));

  async function hold(concert, schedule, seatNumber) {
    if (seatNumber === null || seatState.busy) return;
    seatState.busy = true;
    renderSelection();
    const st = load(concert);
    const gen = generation;
    try {
      const reservation = await booking('/v1/reservations', {
        method: 'POST',
        token: st.accessToken,
        body: { schedule_id: schedule, seat_number: seatNumber },
      });
      update(concert, { reservation, payKey: undefined });
      go(`#/concerts/${concert}/checkout`);
    } catch (err) {
      if (sessionError(concert, err)) return;
      if (err.code === 'SEAT_UNAVAILABLE') {
        seatState.selected = null;
        seatState.taken.set(seatNumber, Date.now() + TAKEN_GRACE_MS);
        await loadSeats(concert, schedule, gen);
        notify(describe(err, { seat: seatNumber }), {
          actions: [{ label: 'Refresh the map', run: () => loadSeats(concert, schedule, generation) }],
        });
        return;
      }
      const actions = err.retryable ? [{ label: 'Try again', run: () => hold(concert, schedule, seatNumber) }] : [];
      notify(describe(err, { seat: seatNumber }), { actions });
    } finally {
      seatState.busy = false;
      if (gen === generation) renderSelection();
    }
  }

  // --------------------------------------------------------------- checkout

  function showCheckout(concert) {
    show('checkout');
    const st = load(concert);
    const r = st.reservation;
    const startsAt = st.schedule && st.schedule.id === r.schedule_id ? st.schedule.startsAt : null;
    $('#checkout-date').textContent = startsAt ? formatDate(startsAt) : `Date ${r.schedule_id}`;
    $('#checkout-seat').textContent = `Seat ${r.seat_number}`;
    $('#checkout-price').textContent = krw(r.price);
    $('#pay-button').disabled = false;
    $('#release-button').disabled = false;
    refreshBalance();
    const expires = Date.parse(r.expires_at);
    const tick = () => {
      const left = expires - Date.now();
      $('#hold-left').textContent = clock(left);
      $('.hold-timer').classList.toggle('low', left < 60_000);
      $('#hold-note').textContent = left > 0
        ? 'Pay before the timer runs out, or the seat is released.'
        : 'Your hold time is up; the seat may have been released.';
    };
    tick();
    every(tick, 250);
  }

  let paying = false;

  $('#pay-button').addEventListener('click', () => pay(current.concert));

  async function pay(concert) {
    if (paying) return;
    const login = me();
    if (!login) {
      loginEnded();
      return;
    }
    let st = load(concert);
    const r = st.reservation;
    if (!r) return;
    const ep = epoch;
    // The same key for every retry of this payment, so it debits once.
    if (!st.payKey || st.payKey.reservation !== r.reservation_id) {
      st = update(concert, { payKey: { reservation: r.reservation_id, key: uuid() } });
    }
    paying = true;
    $('#pay-button').disabled = true;
    clearNotice();
    try {
      const paid = await booking('/v1/payments', {
        method: 'POST',
        token: login.token,
        body: { reservation_id: r.reservation_id },
        idempotencyKey: st.payKey.key,
      });
      if (ep !== epoch) return;
      const startsAt = st.schedule && st.schedule.id === r.schedule_id ? st.schedule.startsAt : null;
      update(concert, {
        done: {
          seat: r.seat_number,
          startsAt,
          scheduleId: r.schedule_id,
          amount: paid.amount,
          balance: paid.balance,
          paymentId: paid.payment_id,
        },
        // The payment ended the session: the access token and ticket are spent.
        accessToken: undefined,
        expiresAt: undefined,
        ticket: undefined,
        ticketId: undefined,
        reservation: undefined,
        payKey: undefined,
      });
      go(`#/concerts/${concert}/done`);
    } catch (err) {
      if (ep === epoch) payFailed(concert, r, err);
    } finally {
      paying = false;
      if (current.view === 'checkout' && load(concert).reservation) $('#pay-button').disabled = false;
    }
  }

  async function payFailed(concert, r, err) {
    if (!err.retryable) update(concert, { payKey: undefined });
    if (err.code === 'UNAUTHENTICATED') {
      loginEnded();
      return;
    }
    if (err.code === 'IDEMPOTENCY_IN_PROGRESS') {
      notify(describe(err), { kind: 'info' });
      later(() => pay(concert), 1000);
      return;
    }
    if (err.retryable) {
      notify(describe(err), { actions: [{ label: 'Try again', primary: true, run: () => pay(concert) }] });
      return;
    }
    switch (err.code) {
      case 'HOLD_EXPIRED':
      case 'RESERVATION_NOT_FOUND':
        update(concert, { reservation: undefined });
        timers.forEach((stop) => stop());
        timers = [];
        sessionBar(concert);
        $('#hold-left').textContent = '0:00';
        $('#pay-button').disabled = true;
        $('#release-button').disabled = true;
        notify(describe(err, { seat: r.seat_number }), {
          actions: [{
            label: 'Pick a seat again',
            primary: true,
            run: () => go(`#/concerts/${concert}/dates/${r.schedule_id}`),
          }],
        });
        return;
      case 'INSUFFICIENT_BALANCE': {
        const balance = await refreshBalance();
        const shortfall = balance === null ? null : Math.max(0, r.price - balance);
        if (shortfall) suggestTopUp(shortfall);
        notify(describe(err, { balance, shortfall }), {
          actions: [{ label: 'Top up', primary: true, run: focusTopUp }],
        });
        return;
      }
      case 'ALREADY_PAID':
        update(concert, { reservation: undefined, accessToken: undefined, expiresAt: undefined });
        go('#/', { text: describe(err), kind: 'ok' });
        return;
      default:
        if (sessionError(concert, err)) return;
        notify(describe(err, { seat: r.seat_number }));
    }
  }

  $('#release-button').addEventListener('click', async () => {
    const concert = current.concert;
    const st = load(concert);
    const r = st.reservation;
    const login = me();
    if (!r || !login) return;
    try {
      await booking(`/v1/reservations/${r.reservation_id}`, { method: 'DELETE', token: login.token });
    } catch (err) {
      if (err.code === 'UNAUTHENTICATED') {
        loginEnded();
        return;
      }
      if (err.retryable) {
        notify(describe(err));
        return;
      }
    }
    update(concert, { reservation: undefined, payKey: undefined });
    go(`#/concerts/${concert}/dates/${r.schedule_id}`, { text: `Seat ${r.seat_number} was released.`, kind: 'info' });
  });

  // ---------------------------------------------------------------- balance

  async function refreshBalance() {
    const login = me();
    if (!login) return null;
    const ep = epoch;
    try {
      const b = await booking(`/v1/users/${login.userId}/balance`, { token: login.token });
      if (ep !== epoch) return null;
      setText('[data-balance]', krw(b.balance));
      return b.balance;
    } catch (err) {
      if (ep !== epoch) return null;
      if (err.code === 'UNAUTHENTICATED') loginEnded();
      else setText('[data-balance]', 'unavailable right now');
      return null;
    }
  }

  function suggestTopUp(shortfall) {
    $$('[data-topup] select').forEach((select) => {
      const fit = Array.from(select.options).find((o) => Number(o.value) >= shortfall);
      if (fit) select.value = fit.value;
    });
  }

  function focusTopUp() {
    const select = $(`#view-${current.view} [data-topup] select`);
    if (select) select.focus();
  }

  async function topUp(concert, form, amount) {
    const login = me();
    if (!login) {
      loginEnded();
      return;
    }
    let st = load(concert);
    if (!st.chargeKey || st.chargeKey.amount !== amount) {
      st = update(concert, { chargeKey: { amount, key: uuid() } });
    }
    const ep = epoch;
    const button = form.querySelector('button');
    button.disabled = true;
    clearNotice();
    try {
      const b = await booking(`/v1/users/${login.userId}/balance/charge`, {
        method: 'POST',
        token: login.token,
        body: { amount },
        idempotencyKey: st.chargeKey.key,
      });
      if (ep !== epoch) return;
      update(concert, { chargeKey: undefined });
      setText('[data-balance]', krw(b.balance));
      notify(`Added ${krw(amount)}. Your balance is now ${krw(b.balance)}.`, { kind: 'ok' });
    } catch (err) {
      if (ep !== epoch) return;
      if (err.code === 'UNAUTHENTICATED') {
        loginEnded();
      } else if (err.retryable) {
        notify(describe(err), { actions: [{ label: 'Try again', run: () => topUp(concert, form, amount) }] });
      } else {
        update(concert, { chargeKey: undefined });
        notify(describe(err));
      }
    } finally {
      button.disabled = false;
    }
  }

  $$('[data-topup]').forEach((form) => {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      topUp(current.concert, form, Number(form.elements.amount.value));
    });
  });

  // ----------------------------------------------------------- confirmation

  function showDone(concert) {
    show('done');
    const d = load(concert).done;
    $('#done-date').textContent = d.startsAt ? formatDate(d.startsAt) : `Date ${d.scheduleId}`;
    $('#done-seat').textContent = `Seat ${d.seat}`;
    $('#done-amount').textContent = krw(d.amount);
    $('#done-balance').textContent = krw(d.balance);
    $('#done-payment').textContent = d.paymentId;
  }

  // ------------------------------------------------------------------ start

  forgetAnonymous();
  window.addEventListener('hashchange', route);
  route();
})();
