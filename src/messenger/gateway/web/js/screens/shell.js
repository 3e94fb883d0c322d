// Signed in: the top bar (navigation, connection state, log out) and the screen of
// the current #/route. One conversation store and one socket live as long as it.

import { logOut } from "../api.js";
import { ConversationStore } from "../conversations.js";
import { h, replace } from "../dom.js";
import { Realtime } from "../socket.js";
import { chatsScreen } from "./chats.js";
import { peopleScreen } from "./people.js";
import { profileScreen } from "./profile.js";
import { sessionsScreen } from "./sessions.js";

const SCREENS = {
  chats: { title: "Chats", show: chatsScreen },
  people: { title: "People", show: peopleScreen },
  profile: { title: "Profile", show: profileScreen },
  sessions: { title: "Sessions", show: sessionsScreen },
};
const CONNECTION_WORDS = {
  connecting: "Connecting…",
  live: "Online",
  offline: "Offline: reconnecting…",
};

export class Shell {
  constructor(root) {
    this.store = new ConversationStore();
    this.main = h("main", { id: "main", class: "main", tabindex: "-1" });
    this.connection = h("span", { class: "connection", role: "status" });
    this.unreadBadge = h("span", { class: "badge", hidden: true });
    this.links = {};
    for (const [name, screen] of Object.entries(SCREENS)) {
      this.links[name] = h(
        "a",
        { href: `#/${name}` },
        screen.title,
        name === "chats" ? this.unreadBadge : null,
      );
    }
    replace(
      root,
      h(
        "header",
        { class: "topbar" },
        h("a", { class: "brand", href: "#/chats" }, "Messenger"),
        h("nav", { "aria-label": "Main" }, Object.values(this.links)),
        this.connection,
        h("button", { type: "button", class: "quiet", onclick: () => logOut() }, "Log out"),
      ),
      this.main,
    );
    this.showConnection("connecting");
    this.realtime = new Realtime({
      onFrame: (frame) => this.store.handle(frame),
      onReady: () => this.store.resync().catch(() => {}),
      onStatus: (state) => this.showConnection(state),
    });
    this.onList = () => this.showUnread();
    this.store.addEventListener("list", this.onList);
    this.unmount = null;
    this.current = null;
  }

  start() {
    this.realtime.start();
  }

  stop() {
    this.realtime.stop();
    this.store.removeEventListener("list", this.onList);
    this.unmount?.();
    this.unmount = null;
  }

  /** Show the screen named by the hash: #/chats, #/chats/<id>, #/people, … */
  route() {
    const [, name, argument] = window.location.hash.split("/");
    const screen = SCREENS[name] ? name : "chats";
    const key = `${screen}/${argument ?? ""}`;
    if (key === this.current) return;
    this.current = key;
    this.unmount?.();
    for (const [linkName, link] of Object.entries(this.links)) {
      if (linkName === screen) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = `${SCREENS[screen].title} · Messenger`;
    this.unmount = SCREENS[screen].show(this.main, this.store, argument ?? null);
    if (screen !== "chats" || !argument) this.main.focus({ preventScroll: true });
  }

  showConnection(state) {
    this.connection.dataset.state = state;
    this.connection.textContent = CONNECTION_WORDS[state];
  }

  showUnread() {
    const total = this.store.totalUnread();
    this.unreadBadge.hidden = total === 0;
    this.unreadBadge.textContent = String(total);
    this.unreadBadge.setAttribute("aria-label", `${total} unread`);
  }
}
