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

const KEY = "messenger.session";

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

export function clearTokens() {
  sessionStorage.removeItem(KEY);
}
