// One conversation: its history (older pages load when scrolled to the top), live
// messages, the "Seen" mark, and the composer (Enter sends, Shift+Enter is a new line).

import { session } from "../api.js";
import { h, messageLine, replace, timeElement, uid } from "../dom.js";
import { nameInto } from "../profiles.js";

const NEAR_TOP_PX = 120;
const NEAR_BOTTOM_PX = 80;
const MAX_TEXT = 4096; // code points (API.md)

/** Show `conversation` in `section`; returns a function that tears the view down. */
export function chatView(section, store, conversation) {
  const titleId = uid("chat-title");
  const title = nameInto(h("h2", { id: titleId, class: "chat-title" }), conversation.peerId);
  const errors = messageLine("alert");
  const older = h(
    "button",
    { type: "button", class: "older", hidden: true, onclick: () => loadOlder() },
    "Load older messages",
  );
  const list = h("ol", { class: "messages", "aria-label": "Messages" });
  const outbox = h("ol", { class: "messages outbox", "aria-label": "Not sent yet", hidden: true });
  const scroller = h(
    "div",
    { class: "scroller", role: "log", tabindex: "0", "aria-labelledby": titleId },
    older,
    list,
    outbox,
  );
  const seenMark = h("span", { class: "seen-mark" }, "Seen");
  const textId = uid("compose");
  const text = h("textarea", {
    id: textId,
    class: "compose",
    rows: "1",
    placeholder: "Write a message",
    autocomplete: "off",
    dir: "auto",
  });
  const sendButton = h("button", { type: "submit", class: "primary" }, "Send");
  const composer = h(
    "form",
    { class: "composer" },
    h("label", { for: textId, class: "visually-hidden" }, "Message"),
    text,
    sendButton,
  );
  const readOnly = h(
    "p",
    { class: "read-only", hidden: true },
    "You are no longer friends: this conversation is read-only.",
  );
  replace(
    section,
    h(
      "header",
      { class: "chat-header" },
      h("a", { href: "#/chats", class: "back", "aria-label": "Back to chats" }, "‹ Chats"),
      title,
    ),
    errors.element,
    scroller,
    readOnly,
    composer,
  );

  const items = new Map(); // seq -> <li>

  function messageItem(message) {
    const mine = message.sender_id === session.userId;
    const who = h(
      "span",
      { class: "visually-hidden" },
      mine ? "You" : nameInto(h("span"), message.sender_id),
      ": ",
    );
    return h(
      "li",
      { class: `message ${mine ? "mine" : "theirs"}`, "data-seq": message.seq },
      who,
      h("p", { class: "message-text", dir: "auto" }, message.text),
      h("span", { class: "message-meta" }, timeElement(message.sent_at)),
    );
  }

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  /** Bring the list in line with the held messages, keeping the reader's place. */
  function syncMessages({ toBottom = false } = {}) {
    const stickToBottom = toBottom || nearBottom();
    const heightBefore = scroller.scrollHeight;
    const topBefore = scroller.scrollTop;
    const firstBefore = list.firstElementChild;
    let next = null;
    const messages = conversation.ordered();
    for (let index = messages.length - 1; index >= 0; index -= 1) {
      const message = messages[index];
      let item = items.get(message.seq);
      if (!item) {
        item = messageItem(message);
        items.set(message.seq, item);
        list.insertBefore(item, next);
      }
      next = item;
    }
    const prepended = firstBefore !== null && list.firstElementChild !== firstBefore;
    if (stickToBottom && !prepended) scrollToBottom();
    else if (prepended) scroller.scrollTop = topBefore + scroller.scrollHeight - heightBefore;
    older.hidden = !conversation.hasOlder;
    syncSeen();
    store.markSeen(conversation).catch((error) => errors.show(error.message));
    // Too few messages to scroll: there is no scrolling up, so load on.
    if (conversation.hasOlder && scroller.scrollHeight <= scroller.clientHeight + NEAR_TOP_PX) {
      loadOlder();
    }
  }

  /** "Seen" under the newest of the user's messages the other member has read. */
  function syncSeen() {
    let target = null;
    for (const [seq, item] of items) {
      const mine = item.classList.contains("mine");
      if (mine && seq <= conversation.peerSeenSeq && (!target || seq > target.seq)) {
        target = { seq, item };
      }
    }
    if (!target) seenMark.remove();
    else if (seenMark.parentElement !== target.item.lastElementChild) {
      target.item.lastElementChild.append(seenMark);
    }
  }

  function syncOutbox() {
    const pending = [...conversation.pending.values()];
    const stickToBottom = nearBottom();
    replace(
      outbox,
      pending.map((item) =>
        h(
          "li",
          { class: "message mine pending", "data-state": item.state },
          h("p", { class: "message-text", dir: "auto" }, item.text),
          h(
            "span",
            { class: "message-meta" },
            item.state === "sending" ? "Sending…" : `Not sent: ${item.error}`,
            item.state === "failed"
              ? h(
                  "button",
                  {
                    type: "button",
                    class: "retry",
                    onclick: () => store.retry(conversation, item.id),
                  },
                  "Retry",
                )
              : null,
          ),
        ),
      ),
    );
    outbox.hidden = pending.length === 0;
    if (stickToBottom) scrollToBottom();
  }

  function syncPermissions() {
    readOnly.hidden = conversation.canSend;
    text.disabled = !conversation.canSend;
    sendButton.disabled = !conversation.canSend;
  }

  function loadOlder() {
    if (!conversation.hasOlder || conversation.loadingOlder) return;
    store.loadOlder(conversation).catch((error) => errors.show(error.message));
  }

  function sendNow() {
    const value = text.value;
    if (!value.trim()) return;
    if ([...value].length > MAX_TEXT) {
      errors.show(`A message holds at most ${MAX_TEXT} characters.`);
      return;
    }
    errors.clear();
    text.value = "";
    store.send(conversation, value);
    scrollToBottom();
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    sendNow();
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendNow();
    }
  });
  scroller.addEventListener("scroll", () => {
    if (scroller.scrollTop < NEAR_TOP_PX) loadOlder();
  });

  const forThis = (handler) => (event) => {
    if (event.detail === conversation.id) handler();
  };
  const listeners = [
    ["messages", forThis(() => syncMessages())],
    ["pending", forThis(syncOutbox)],
    ["seen", forThis(syncSeen)],
    ["list", syncPermissions],
  ];
  for (const [type, listener] of listeners) store.addEventListener(type, listener);
  const onVisible = () => {
    if (document.visibilityState === "visible") {
      store.markSeen(conversation).catch((error) => errors.show(error.message));
    }
  };
  document.addEventListener("visibilitychange", onVisible);
  store.viewing = conversation.id;

  syncPermissions();
  syncOutbox();
  store
    .loadLatest(conversation)
    .then(() => syncMessages({ toBottom: true }))
    .catch((error) => errors.show(error.message));
  text.focus();

  return () => {
    for (const [type, listener] of listeners) store.removeEventListener(type, listener);
    document.removeEventListener("visibilitychange", onVisible);
    if (store.viewing === conversation.id) store.viewing = null;
  };
}
