// The real-time socket (GET /v1/ws): connects with the current access token, reports
// each frame, and after a lost connection reconnects by itself with exponential
// back-off and jitter. `onReady` runs after every (re)connection's `ready` frame: from
// then on every event is delivered, so that is when to catch up on what was missed.
// Close code 4001 (or a `session.revoked` frame) means the session is over.

import { accessToken, call, session, signOut } from "./api.js";

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;
const REVOKED_CLOSE_CODE = 4001;
const REVOKED_REASON = "This session was signed out from another device. Please sign in again.";

export class Realtime {
  /** Handlers: onFrame(frame), onReady(), onStatus("connecting" | "live" | "offline"). */
  constructor({ onFrame, onReady, onStatus }) {
    this.onFrame = onFrame;
    this.onReady = onReady;
    this.onStatus = onStatus;
    this.socket = null;
    this.failures = 0;
    this.timer = 0;
    this.connecting = false;
    this.stopped = true;
    this.online = () => this.reconnectNow();
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.online);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.online);
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000);
  }

  reconnectNow() {
    if (this.stopped || this.socket || this.connecting) return;
    clearTimeout(this.timer);
    this.failures = 0;
    this.connect();
  }

  async connect() {
    this.onStatus("connecting");
    this.connecting = true;
    let token;
    try {
      token = await accessToken();
    } catch {
      // Signed out (the listeners take it from here) or no network: try again later.
      if (session.signedIn) this.retryLater();
      return;
    } finally {
      this.connecting = false;
    }
    if (this.stopped) return;
    const url = new URL("/v1/ws", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("access_token", token);
    const socket = new WebSocket(url);
    let ready = false;
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      if (this.socket !== socket) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "ready") {
        ready = true;
        this.failures = 0;
        this.onStatus("live");
        this.onReady();
      } else if (frame.type === "session.revoked") {
        this.stop();
        signOut(REVOKED_REASON);
      } else {
        this.onFrame(frame);
      }
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (event.code === REVOKED_CLOSE_CODE) {
        this.stop();
        signOut(REVOKED_REASON);
        return;
      }
      this.onStatus("offline");
      // Refused before `ready`: a browser hides the HTTP 401 of a dead session, so ask
      // the REST API, whose 401 signs out (a network error there changes nothing).
      if (!ready) call("GET", "/sessions").catch(() => {});
      this.retryLater();
    });
  }

  retryLater() {
    if (this.stopped) return;
    const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.failures);
    this.failures += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), ceiling / 2 + (Math.random() * ceiling) / 2);
  }
}
