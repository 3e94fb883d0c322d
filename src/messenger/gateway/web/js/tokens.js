// Where the tokens live: sessionStorage, on purpose.
//
// - Each tab is its own session with its own refresh token. Refresh tokens rotate and a
//   reused one is treated as theft (API.md: the whole session is revoked), so two tabs
//   sharing one refresh token through localStorage would race and sign each other out.
// - It survives a reload of the tab but not closing it, and is never sent with
//   requests by the browser (no cookie, so no CSRF surface).
// - Like any storage readable by script it depends on the page running no foreign
//   script: the page sends a strict Content-Security-Policy (script-src 'self', no
//   inline script) and renders every user-supplied string as text.
//
// One live tab per session. A browser copies sessionStorage into a duplicated tab and
// into a window opened with window.open, so the copy starts with the very refresh token
// its original is about to use: both would refresh, the second would be reuse, and the
// server would end the session in both. So the tab that uses a session holds a Web Lock
// named after it for as long as it lives (the browser lets go when the tab closes,
// reloads or leaves the page). A tab that starts with stored tokens whose lock another
// tab holds is a copy: it forgets them and asks to sign in, which gives it a session of
// its own. A lock rather than a message to the other tabs: the check and the claim are
// one step (two copies starting together cannot both win), and a frozen background tab
// keeps its lock though it answers no message. Web Locks need a secure context; served
// over plain HTTP to another host than localhost, tabs ask each other over a
// BroadcastChannel instead, which a frozen tab can miss.

const KEY = "messenger.session";
const LOCK_PREFIX = "messenger.session.";
// How long a starting tab waits for the lock: a reload's old page lets go of it a moment
// after the new one starts, a copy's original not at all.
const CLAIM_WAIT_MS = 1_000;
// Without Web Locks: how long a starting tab waits for another to say it holds the session.
const ASK_WAIT_MS = 300;

let claimed = null; // the session this tab uses, once it is its own
let release = () => {}; // lets go of its lock

const channel =
  navigator.locks || typeof BroadcastChannel === "undefined"
    ? null
    : new BroadcastChannel("messenger.sessions");
channel?.addEventListener("message", ({ data }) => {
  if (claimed !== null && data?.ask === claimed) channel.postMessage({ holds: claimed });
});

/** {access_token, refresh_token, session_id, user_id, expires_in, expires_at} or null. */
export function loadTokens() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
    return stored && stored.access_token && stored.refresh_token ? stored : null;
  } catch {
    return null;
  }
}

export function saveTokens(tokens) {
  sessionStorage.setItem(KEY, JSON.stringify(tokens));
}

/** Forget the tokens and give the session up for other tabs. */
export function clearTokens() {
  sessionStorage.removeItem(KEY);
  letGo();
}

/**
 * Make `sessionId` this tab's own: resolves true, or false when another live tab uses
 * it (this tab is a copy and must not touch its tokens). `fresh`: a session just begun
 * here, which no other tab can know yet, so there is nothing to wait for.
 */
export function claimSession(sessionId, { fresh = false } = {}) {
  if (claimed === sessionId) return Promise.resolve(true);
  letGo();
  if (navigator.locks) return lock(sessionId, fresh);
  if (fresh || !channel) return Promise.resolve(own(sessionId));
  return askOtherTabs(sessionId);
}

function own(sessionId) {
  claimed = sessionId;
  return true;
}

function letGo() {
  claimed = null;
  release();
  release = () => {};
}

function lock(sessionId, fresh) {
  const options = fresh ? { ifAvailable: true } : { signal: AbortSignal.timeout(CLAIM_WAIT_MS) };
  return new Promise((resolve) => {
    navigator.locks
      .request(LOCK_PREFIX + sessionId, options, (granted) => {
        if (!granted) return resolve(false);
        resolve(own(sessionId));
        return new Promise((done) => {
          release = done;
        });
      })
      .catch(() => resolve(false)); // not granted in time: another tab holds it
  });
}

function askOtherTabs(sessionId) {
  return new Promise((resolve) => {
    const listen = ({ data }) => {
      if (data?.holds === sessionId) settle(false);
    };
    const settle = (free) => {
      clearTimeout(timer);
      channel.removeEventListener("message", listen);
      resolve(free && own(sessionId));
    };
    const timer = setTimeout(() => settle(true), ASK_WAIT_MS);
    channel.addEventListener("message", listen);
    channel.postMessage({ ask: sessionId });
  });
}
