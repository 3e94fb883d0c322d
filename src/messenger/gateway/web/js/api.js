// The REST client of API.md: bearer tokens, refresh before expiry, refresh-token
// rotation, and errors as ApiError carrying the API's own code and words.

import { claimSession, clearTokens, loadTokens, saveTokens } from "./tokens.js";

const BASE = "/v1";
// Refresh this long before the access token expires (at most a quarter of its life).
const REFRESH_LEAD_MS = 60_000;
// A refresh that failed for want of a network is tried again after this long.
const REFRESH_RETRY_MS = 5_000;
// An access token with less left than this is refreshed before it is used.
const MIN_VALIDITY_MS = 5_000;
const COPIED_TAB_NOTICE =
  "This tab is a copy of one that is still signed in, and a session works in one tab at " +
  "a time. Sign in to use this tab as well.";

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  /** Worth sending again unchanged: no answer, throttled, or the server's fault. */
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

let tokens = loadTokens();
let refreshing = null;
let refreshTimer = 0;
const signedOutListeners = new Set();

export const session = {
  get signedIn() {
    return tokens !== null;
  },
  get userId() {
    return tokens?.user_id ?? null;
  },
  get sessionId() {
    return tokens?.session_id ?? null;
  },
};

/** Called with a reason (words for the sign-in screen) whenever the session ends. */
export function onSignedOut(listener) {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

/** Start (or, after a refresh, continue) a session from a login or refresh answer. */
export function begin(answer) {
  tokens = {
    access_token: answer.access_token,
    refresh_token: answer.refresh_token,
    session_id: answer.session_id,
    user_id: answer.user_id,
    expires_in: answer.expires_in,
    expires_at: Date.now() + answer.expires_in * 1000,
  };
  saveTokens(tokens);
  claimSession(tokens.session_id, { fresh: true });
  scheduleRefresh(tokens.expires_at - Math.min(REFRESH_LEAD_MS, (answer.expires_in * 1000) / 4));
}

/**
 * At start: keep the stored session fresh (refreshes at once if it expired), unless
 * another live tab uses it, as it does when this tab is a copy of that one (tokens.js):
 * then its tokens are forgotten here. Resolves to words for the sign-in screen, or "".
 */
export async function resume() {
  if (!tokens) return "";
  if (!(await claimSession(tokens.session_id))) {
    tokens = null;
    clearTokens();
    return COPIED_TAB_NOTICE;
  }
  scheduleRefresh(tokens.expires_at - REFRESH_LEAD_MS);
  return "";
}

/** End the session on this side: forget the tokens and tell the listeners why. */
export function signOut(reason) {
  if (!tokens) return;
  tokens = null;
  clearTokens();
  clearTimeout(refreshTimer);
  for (const listener of signedOutListeners) listener(reason);
}

/** Sign out here, then revoke the session on the server (best effort: when it cannot
 * be reached the tokens are forgotten all the same). Signing out first stops the
 * socket, whose 4001 close would otherwise tell the user of a revocation elsewhere. */
export async function logOut() {
  let token = null;
  try {
    token = await accessToken();
  } catch {
    // Signed out already, or no network to refresh an expired token.
  }
  signOut("You are signed out.");
  if (token) {
    await send("/auth/logout", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    }).catch(() => {});
  }
}

function scheduleRefresh(at) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    refresh().catch((error) => {
      if (tokens && error.retryable) scheduleRefresh(Date.now() + REFRESH_RETRY_MS);
    });
  }, Math.max(0, at - Date.now()));
}

/** One refresh at a time: concurrent callers share it (a second one would present a
 * refresh token that the first has just used up, which the server takes for theft). */
function refresh() {
  refreshing ??= rotate().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function rotate() {
  if (!tokens) throw notSignedIn();
  const used = tokens.refresh_token;
  const response = await send("/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ refresh_token: used }),
  });
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401) signOut("Your session has ended. Please sign in again.");
    throw error;
  }
  const answer = await response.json();
  if (tokens?.refresh_token === used) begin(answer);
}

/** An access token good for a few more seconds, refreshed first if need be. */
export async function accessToken() {
  if (!tokens) throw notSignedIn();
  if (Date.now() > tokens.expires_at - MIN_VALIDITY_MS) await refresh();
  if (!tokens) throw notSignedIn();
  return tokens.access_token;
}

/**
 * One API call: `{status, etag, data}` (data null for 204/304), or throws ApiError.
 * A `token_expired` answer is refreshed and sent once more; a revoked session signs out.
 */
export async function call(method, path, { body, headers = {}, auth = true } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const init = { method, headers: { Accept: "application/json", ...headers } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const token = auth ? await accessToken() : null;
    if (token) init.headers.Authorization = `Bearer ${token}`;
    const response = await send(path, init);
    if (response.ok || response.status === 304) {
      const data = response.status === 204 || response.status === 304 ? null : await response.json();
      return { status: response.status, etag: response.headers.get("ETag"), data };
    }
    const error = await errorFrom(response);
    if (token && response.status === 401) {
      if (error.code === "token_expired" && attempt === 0) {
        if (tokens?.access_token === token) await refresh();
        continue;
      }
      signOut(
        error.code === "session_revoked"
          ? "This session was signed out. Please sign in again."
          : error.message,
      );
    }
    throw error;
  }
}

export const api = {
  get: async (path) => (await call("GET", path)).data,
  post: async (path, body) => (await call("POST", path, { body })).data,
  delete: async (path) => (await call("DELETE", path)).data,
  /** For the public endpoints (register, login, verify, reset): no token. */
  public: async (path, body) => (await call("POST", path, { body, auth: false })).data,
};

async function send(path, init) {
  try {
    return await fetch(BASE + path, { ...init, cache: "no-cache" });
  } catch {
    throw new ApiError(0, "network", "Cannot reach the server. Check the connection and try again.");
  }
}

async function errorFrom(response) {
  let code = `http_${response.status}`;
  let message = `The server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}.`;
  try {
    const body = await response.json();
    if (typeof body?.error?.message === "string") {
      code = body.error.code;
      message = body.error.message;
    }
  } catch {
    // Not API.md's error shape (a proxy's page, say): keep the status line.
  }
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10) || null;
  if (retryAfter && !message.includes("again")) message += ` Try again in ${retryAfter} s.`;
  return new ApiError(response.status, code, message, retryAfter);
}

function notSignedIn() {
  return new ApiError(401, "unauthenticated", "You are not signed in.");
}
