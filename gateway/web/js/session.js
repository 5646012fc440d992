// The login: booking's session token, kept in sessionStorage (this tab
// only, gone when it closes; in memory where storage refuses writes).

const SESSION_KEY = 'tickets.session';
let memorySession = null;
// Bumped at every login and logout: an answer that arrives after the fan
// changed is not written into the next fan's state.
let epoch = 0;

/** The current login epoch; compare before writing an answer's result. */
export const currentEpoch = () => epoch;

/** What this tab stored at login, expired or not: {token, userId, name, expiresAt} or null. */
export function storedLogin() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY)) || memorySession;
    return s && s.token && Number.isSafeInteger(s.userId) ? s : null;
  } catch {
    return memorySession;
  }
}

/** The live login of this tab, or null. */
export function me() {
  const s = storedLogin();
  return s && Date.parse(s.expiresAt) > Date.now() ? s : null;
}

export function saveLogin(s) {
  epoch += 1;
  memorySession = s;
  try { sessionStorage.setItem(SESSION_KEY, JSON.stringify(s)); } catch { /* kept in memory */ }
}

export function clearLogin() {
  epoch += 1;
  memorySession = null;
  try {
    sessionStorage.removeItem(SESSION_KEY);
    Object.keys(sessionStorage).filter((k) => k.startsWith('tickets.tab.')).forEach((k) => sessionStorage.removeItem(k));
  } catch { /* nothing stored */ }
}

/** The user's name as booking gave it at login, or "User <id>". */
export function displayName(login) {
  return typeof login.name === 'string' && login.name.trim() ? login.name : `User ${login.userId}`;
}

/** A value this tab keeps for itself (never seen by another tab), or null. */
export function tabGet(key) {
  try { return JSON.parse(sessionStorage.getItem(`tickets.tab.${key}`)); } catch { return null; }
}

/** Keep (or, with null, drop) a value for this tab only. */
export function tabSet(key, value) {
  try {
    if (value === null) sessionStorage.removeItem(`tickets.tab.${key}`);
    else sessionStorage.setItem(`tickets.tab.${key}`, JSON.stringify(value));
  } catch { /* this page keeps working, a refresh forgets it */ }
}
