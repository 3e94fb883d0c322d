// What the client knows of the user's conversations, kept right by REST answers and
// WebSocket frames together.
//
// The messages of a conversation are held by `seq` and, once its history is open, as
// ONE unbroken run [oldest, newest]: a message already held is a duplicate and
// dropped; one past newest + 1 reveals a gap, filled from the API (after=newest)
// before anything newer is shown. So whatever mix of live frames, catch-up pages and
// send answers arrives, no message shows twice and none is skipped.
//
// Events (EventTarget): "list" (summaries, order, unread counts), "messages" and
// "pending" (detail: conversation id), "seen" (detail: id), "friends".

import { api, session } from "./api.js";

const PAGE = 50;
const CATCH_UP_PAGE = 100;
const SEND_ATTEMPTS = 4;
const SEND_RETRY_MS = 700;

class Conversation {
  constructor(id) {
    this.id = id;
    this.members = [];
    this.lastMessage = null;
    this.unread = 0;
    this.lastSeenSeq = 0;
    this.canSend = true;
    // The other member's read position: `read_positions` of the list, message.seen
    // frames and their own sends, all through ConversationStore.notePeerSeen.
    this.peerSeenSeq = 0;
    this.order = 0; // position in the server's list
    this.messages = new Map(); // seq -> message
    this.loaded = false;
    this.oldest = 0;
    this.newest = 0;
    this.hasOlder = false;
    this.pending = new Map(); // client_message_id -> {id, text, state, error}
    this.queue = Promise.resolve(); // catch-up and paging, one at a time
  }

  get peerId() {
    return this.members.find((member) => member !== session.userId) ?? this.members[0];
  }

  /** The held messages, oldest first. */
  ordered() {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }
}

/** 32 hex digits, from the browser's cryptographic random source (also on plain http). */
function newClientMessageId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

export class ConversationStore extends EventTarget {
  constructor() {
    super();
    this.conversations = new Map();
    this.viewing = null; // the id of the conversation on screen, if any
    this.listing = null;
    this.listAgain = false;
  }

  emit(type, id = null) {
    this.dispatchEvent(new CustomEvent(type, { detail: id }));
  }

  get(id) {
    return this.conversations.get(id);
  }

  /** Newest last message first, then the server's order (newest conversation first). */
  ordered() {
    const time = (c) => (c.lastMessage ? Date.parse(c.lastMessage.sent_at) : -Infinity);
    return [...this.conversations.values()].sort(
      (a, b) => time(b) - time(a) || a.order - b.order,
    );
  }

  totalUnread() {
    let total = 0;
    for (const conversation of this.conversations.values()) total += conversation.unread;
    return total;
  }

  isViewing(conversation) {
    return this.viewing === conversation.id && document.visibilityState === "visible";
  }

  /** Reload the summaries; calls made while one runs share one more run after it. */
  refreshList() {
    if (this.listing) {
      this.listAgain = true;
      return this.listing;
    }
    this.listing = (async () => {
      try {
        do {
          this.listAgain = false;
          const { conversations } = await api.get("/conversations");
          conversations.forEach((summary, index) => this.merge(summary, index));
          this.emit("list");
        } while (this.listAgain);
      } finally {
        this.listing = null;
      }
    })();
    return this.listing;
  }

  merge(summary, order = -1) {
    let conversation = this.conversations.get(summary.conversation_id);
    if (!conversation) {
      conversation = new Conversation(summary.conversation_id);
      this.conversations.set(conversation.id, conversation);
    }
    conversation.members = summary.members;
    if (order >= 0) conversation.order = order;
    if ("can_send" in summary) conversation.canSend = summary.can_send;
    const last = summary.last_message;
    const lastSeq = last?.seq ?? 0;
    // A list answered before a frame or a "seen" answer that overtook it is older than
    // what we hold: its unread count would bring back a badge just cleared.
    const current =
      summary.last_seen_seq >= conversation.lastSeenSeq &&
      lastSeq >= (conversation.lastMessage?.seq ?? 0);
    if (current && "unread_count" in summary) conversation.unread = summary.unread_count;
    if ("last_seen_seq" in summary) {
      conversation.lastSeenSeq = Math.max(conversation.lastSeenSeq, summary.last_seen_seq);
    }
    if (last && lastSeq > (conversation.lastMessage?.seq ?? 0)) conversation.lastMessage = last;
    const peerSeen = summary.read_positions?.[conversation.peerId];
    if (Number.isInteger(peerSeen)) this.notePeerSeen(conversation, peerSeen);
    return conversation;
  }

  /** The other member has read up to `seq`: from the list's `read_positions` (so "Seen"
   * survives a reload), a message.seen frame, or a message they sent. A position never
   * moves back, so an older answer or frame changes nothing. */
  notePeerSeen(conversation, seq) {
    if (seq <= conversation.peerSeenSeq) return;
    conversation.peerSeenSeq = seq;
    this.emit("seen", conversation.id);
  }

  /** The direct conversation with a friend (created on first use). */
  async openDirect(userId) {
    const summary = await api.post("/conversations/direct", { user_id: userId });
    const conversation = this.merge(summary);
    this.emit("list");
    return conversation;
  }

  /** The newest page of history, the first time the conversation is opened. */
  loadLatest(conversation) {
    return this.serialized(conversation, async () => {
      if (conversation.loaded) return;
      const page = await api.get(messagesPath(conversation, { limit: PAGE }));
      for (const message of page.messages) conversation.messages.set(message.seq, message);
      conversation.loaded = true;
      conversation.hasOlder = page.has_more;
      const seqs = page.messages.map((message) => message.seq);
      conversation.oldest = seqs.length ? seqs[0] : 0;
      conversation.newest = seqs.length ? seqs[seqs.length - 1] : 0;
      this.afterMessages(conversation, page.messages);
      // Frames that came while this page was on its way were not held: fetch them.
      if (conversation.lastMessage && conversation.lastMessage.seq > conversation.newest) {
        await this.fetchNewer(conversation);
      }
    });
  }

  /** The page before the oldest held message (scrolling up). */
  loadOlder(conversation) {
    if (!conversation.loaded || !conversation.hasOlder || conversation.loadingOlder) {
      return Promise.resolve();
    }
    conversation.loadingOlder = true;
    return this.serialized(conversation, async () => {
      const page = await api.get(
        messagesPath(conversation, { before: conversation.oldest, limit: PAGE }),
      );
      for (const message of page.messages) conversation.messages.set(message.seq, message);
      if (page.messages.length) conversation.oldest = page.messages[0].seq;
      conversation.hasOlder = page.has_more && page.messages.length > 0;
      this.emit("messages", conversation.id);
    }).finally(() => {
      conversation.loadingOlder = false;
    });
  }

  /** After a reconnect: new summaries, and every open history caught up by seq. */
  async resync() {
    await this.refreshList();
    await Promise.all(
      [...this.conversations.values()]
        .filter((conversation) => conversation.loaded)
        .map((conversation) => this.serialized(conversation, () => this.fetchNewer(conversation))),
    );
  }

  async fetchNewer(conversation) {
    let more = true;
    while (more) {
      const page = await api.get(
        messagesPath(conversation, { after: conversation.newest, limit: CATCH_UP_PAGE }),
      );
      const added = this.extend(conversation, page.messages);
      more = page.has_more && added > 0;
    }
  }

  /** Add the messages that continue the run (how many); a duplicate is dropped, and
   * one beyond a gap waits for the caller to fetch what lies between. */
  extend(conversation, messages) {
    const added = [];
    for (const message of messages) {
      if (message.seq <= conversation.newest) continue; // held already
      if (message.seq !== conversation.newest + 1) break; // a gap: the caller fetches
      conversation.messages.set(message.seq, message);
      conversation.newest = message.seq;
      if (!conversation.oldest) conversation.oldest = message.seq;
      added.push(message);
    }
    this.afterMessages(conversation, added);
    return added.length;
  }

  afterMessages(conversation, messages) {
    for (const message of messages) this.noteSummary(conversation, message);
    this.emit("messages", conversation.id);
    this.emit("list");
  }

  /** What a new message changes in the list: preview, order, read position. */
  noteSummary(conversation, message) {
    const known = conversation.lastMessage;
    if (!known || message.seq > known.seq) conversation.lastMessage = message;
    // API.md: sending moves the sender's read position to the message.
    if (message.sender_id === session.userId) {
      conversation.pending.delete(message.client_message_id);
      conversation.lastSeenSeq = Math.max(conversation.lastSeenSeq, message.seq);
    } else {
      this.notePeerSeen(conversation, message.seq);
    }
  }

  /** A message from a frame or a send answer. */
  receive(conversation, message) {
    const isNew = !conversation.lastMessage || message.seq > conversation.lastMessage.seq;
    const fromPeer = message.sender_id !== session.userId;
    if (isNew && fromPeer && message.seq > conversation.lastSeenSeq && !this.isViewing(conversation)) {
      conversation.unread += 1;
    }
    this.noteSummary(conversation, message);
    if (!conversation.loaded) {
      this.emit("pending", conversation.id);
      this.emit("list");
      return;
    }
    if (message.seq === conversation.newest + 1) {
      this.extend(conversation, [message]);
    } else if (message.seq > conversation.newest + 1) {
      this.serialized(conversation, () => this.fetchNewer(conversation)).catch(() => {});
    }
    this.emit("pending", conversation.id);
    this.emit("list");
  }

  /** One WebSocket frame (API.md "Real time"). */
  handle(frame) {
    if (frame.type === "message.sent") {
      const conversation = this.get(frame.conversation_id);
      if (conversation) this.receive(conversation, frame.message);
      else this.refreshList().catch(() => {});
    } else if (frame.type === "message.seen") {
      const conversation = this.get(frame.conversation_id);
      if (!conversation) return;
      if (frame.user_id === session.userId) {
        // Read on another of the user's devices.
        conversation.lastSeenSeq = Math.max(conversation.lastSeenSeq, frame.seq);
        if (!conversation.lastMessage || frame.seq >= conversation.lastMessage.seq) {
          conversation.unread = 0;
          this.emit("list");
        } else {
          this.refreshList().catch(() => {});
        }
      } else {
        this.notePeerSeen(conversation, frame.seq);
      }
    } else if (frame.type.startsWith("friendship.")) {
      this.emit("friends");
      this.refreshList().catch(() => {});
    }
  }

  /** Tell the server the user has read up to the newest held message. */
  async markSeen(conversation) {
    if (!conversation.loaded || conversation.marking || !this.isViewing(conversation)) return;
    const seq = conversation.newest;
    if (seq <= conversation.lastSeenSeq && conversation.unread === 0) return;
    conversation.marking = true;
    try {
      const answer = await api.post(`/conversations/${encodeURIComponent(conversation.id)}/seen`, {
        seq,
      });
      conversation.lastSeenSeq = Math.max(conversation.lastSeenSeq, answer.last_seen_seq);
      conversation.unread = answer.unread_count;
      this.emit("list");
    } finally {
      conversation.marking = false;
    }
    if (conversation.newest > seq) await this.markSeen(conversation);
  }

  /** Queue a message; it shows as pending until the server has it. */
  send(conversation, text) {
    const item = { id: newClientMessageId(), text, state: "sending", error: null };
    conversation.pending.set(item.id, item);
    this.emit("pending", conversation.id);
    return this.deliver(conversation, item);
  }

  /** Send a failed message again, under the same client_message_id: the server
   * stores it at most once, however many of the attempts reached it. */
  retry(conversation, id) {
    const item = conversation.pending.get(id);
    if (!item || item.state === "sending") return Promise.resolve();
    item.state = "sending";
    item.error = null;
    this.emit("pending", conversation.id);
    return this.deliver(conversation, item);
  }

  async deliver(conversation, item) {
    const path = `/conversations/${encodeURIComponent(conversation.id)}/messages`;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const message = await api.post(path, { text: item.text, client_message_id: item.id });
        this.receive(conversation, message);
        return;
      } catch (error) {
        if (!conversation.pending.has(item.id)) return; // arrived over the socket meanwhile
        if (!error.retryable || attempt >= SEND_ATTEMPTS) {
          item.state = "failed";
          item.error = error.message;
          this.emit("pending", conversation.id);
          return;
        }
        const wait = (error.retryAfter ?? 0) * 1000 || SEND_RETRY_MS * 2 ** (attempt - 1);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  serialized(conversation, work) {
    const run = conversation.queue.then(work);
    conversation.queue = run.catch(() => {});
    return run;
  }
}

function messagesPath(conversation, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) params.set(key, String(value));
  return `/conversations/${encodeURIComponent(conversation.id)}/messages?${params}`;
}
