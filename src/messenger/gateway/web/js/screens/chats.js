// The conversation list (newest first, unread badges, last message preview) beside
// the open chat; on a phone one of the two at a time.

import { session } from "../api.js";
import { h, messageLine, replace, timeElement } from "../dom.js";
import { nameInto } from "../profiles.js";
import { chatView } from "./chat.js";

export function chatsScreen(container, store, openId) {
  const list = h("ul", { class: "conversation-list" });
  const empty = h(
    "p",
    { class: "hint", hidden: true },
    "No conversations yet. Find friends under People, then send them a message.",
  );
  const errors = messageLine("alert");
  const chat = h("section", { class: "chat", "aria-label": "Chat" });
  const layout = h(
    "div",
    { class: `chats${openId ? " has-chat" : ""}` },
    h(
      "section",
      { class: "conversations", "aria-labelledby": "conversations-title" },
      h("h1", { id: "conversations-title" }, "Chats"),
      errors.element,
      empty,
      list,
    ),
    chat,
  );
  replace(container, layout);

  function preview(conversation) {
    const last = conversation.lastMessage;
    if (!last) return "No messages yet";
    return last.sender_id === session.userId ? `You: ${last.text}` : last.text;
  }

  function item(conversation) {
    const unread = conversation.unread;
    return h(
      "li",
      {},
      h(
        "a",
        {
          href: `#/chats/${conversation.id}`,
          class: "conversation",
          "aria-current": conversation.id === openId ? "page" : null,
          "data-conversation": conversation.id,
        },
        h(
          "span",
          { class: "conversation-top" },
          nameInto(h("span", { class: "conversation-name" }), conversation.peerId),
          conversation.lastMessage ? timeElement(conversation.lastMessage.sent_at) : null,
        ),
        h(
          "span",
          { class: "conversation-bottom" },
          h("span", { class: "conversation-preview", dir: "auto" }, preview(conversation)),
          unread
            ? h("span", { class: "badge", "aria-label": `${unread} unread` }, String(unread))
            : null,
        ),
      ),
    );
  }

  function renderList() {
    const focused = list.contains(document.activeElement)
      ? document.activeElement.getAttribute("href")
      : null;
    const conversations = store.ordered();
    replace(list, conversations.map(item));
    empty.hidden = conversations.length > 0;
    if (focused) list.querySelector(`a[href="${CSS.escape(focused)}"]`)?.focus();
  }

  let closeChat = null;
  let closed = false;
  async function open() {
    if (!openId) {
      replace(chat, h("p", { class: "hint chat-placeholder" }, "Choose a conversation."));
      return;
    }
    let conversation = store.get(openId);
    if (!conversation) {
      await store.refreshList().catch((error) => errors.show(error.message));
      conversation = store.get(openId);
    }
    if (!conversation) {
      replace(chat, h("p", { class: "hint", role: "alert" }, "There is no such conversation."));
      return;
    }
    if (!closed) closeChat = chatView(chat, store, conversation);
  }

  store.addEventListener("list", renderList);
  renderList();
  store.refreshList().catch((error) => errors.show(error.message));
  open();

  return () => {
    closed = true;
    store.removeEventListener("list", renderList);
    closeChat?.();
  };
}
