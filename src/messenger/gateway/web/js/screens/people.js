// Find people by username; friend requests both ways (accept, decline, cancel);
// friends (message, remove).

import { api, session } from "../api.js";
import { busy, field, h, messageLine, replace, timeElement, uid } from "../dom.js";
import { nameInto } from "../profiles.js";

export function peopleScreen(container, store) {
  const errors = messageLine("alert");
  const status = messageLine("status");
  const search = field("Username", {
    name: "username",
    required: true,
    autocomplete: "off",
    autocapitalize: "none",
    spellcheck: "false",
  });
  const findForm = h(
    "form",
    { class: "inline-form", role: "search" },
    search.wrapper,
    h("button", { type: "submit", class: "primary" }, "Find"),
  );
  const result = h("div", { class: "search-result" });
  const incoming = h("ul", { class: "people-list" });
  const outgoing = h("ul", { class: "people-list" });
  const friendsList = h("ul", { class: "people-list" });
  let state = { friends: [], incoming: [], outgoing: [] };

  const section = (title, list, emptyText) => {
    const id = uid("people");
    const empty = h("p", { class: "hint" }, emptyText);
    return {
      element: h("section", { "aria-labelledby": id }, h("h2", { id }, title), empty, list),
      empty,
    };
  };
  const incomingSection = section("Requests for you", incoming, "No requests for you.");
  const outgoingSection = section("Your requests", outgoing, "No requests waiting for others.");
  const friendsSection = section("Friends", friendsList, "No friends yet: find someone above.");
  replace(
    container,
    h(
      "div",
      { class: "page people" },
      h("h1", {}, "People"),
      errors.element,
      status.element,
      h(
        "section",
        { "aria-labelledby": "find-title" },
        h("h2", { id: "find-title" }, "Find people"),
        findForm,
        result,
      ),
      incomingSection.element,
      outgoingSection.element,
      friendsSection.element,
    ),
  );

  /** Run an action; its words on success, the API's words on failure. */
  async function act(work, done) {
    errors.clear();
    status.clear();
    try {
      await work();
      if (done) status.show(done);
    } catch (error) {
      errors.show(error.message);
    }
    await reload();
  }

  function messageButton(userId) {
    return h(
      "button",
      {
        type: "button",
        onclick: () =>
          act(async () => {
            const conversation = await store.openDirect(userId);
            window.location.hash = `#/chats/${conversation.id}`;
          }),
      },
      "Message",
    );
  }

  function row(userId, since, ...buttons) {
    const nameId = uid("person");
    for (const button of buttons) button.setAttribute("aria-describedby", nameId);
    return h(
      "li",
      { class: "person", "data-user": userId },
      h(
        "span",
        { class: "person-text" },
        nameInto(h("span", { id: nameId, class: "person-name" }), userId),
        since,
      ),
      h("span", { class: "actions" }, buttons),
    );
  }

  function render() {
    replace(
      incoming,
      state.incoming.map((request) =>
        row(
          request.user_id,
          timeElement(request.requested_at, { withDate: true }),
          h(
            "button",
            {
              type: "button",
              class: "primary",
              onclick: () =>
                act(
                  () => api.post(`/friends/${request.user_id}/accept`),
                  "Request accepted: you are friends now.",
                ),
            },
            "Accept",
          ),
          h(
            "button",
            {
              type: "button",
              onclick: () =>
                act(() => api.post(`/friends/${request.user_id}/decline`), "Request declined."),
            },
            "Decline",
          ),
        ),
      ),
    );
    replace(
      outgoing,
      state.outgoing.map((request) =>
        row(
          request.user_id,
          timeElement(request.requested_at, { withDate: true }),
          h(
            "button",
            {
              type: "button",
              onclick: () =>
                act(() => api.delete(`/friends/${request.user_id}`), "Request cancelled."),
            },
            "Cancel request",
          ),
        ),
      ),
    );
    replace(
      friendsList,
      state.friends.map((friend) =>
        row(
          friend.user_id,
          null,
          messageButton(friend.user_id),
          h(
            "button",
            {
              type: "button",
              class: "danger",
              onclick: () =>
                act(() => api.delete(`/friends/${friend.user_id}`), "Removed from friends."),
            },
            "Remove",
          ),
        ),
      ),
    );
    incomingSection.empty.hidden = state.incoming.length > 0;
    outgoingSection.empty.hidden = state.outgoing.length > 0;
    friendsSection.empty.hidden = state.friends.length > 0;
  }

  async function reload() {
    try {
      state = await api.get("/friends");
      render();
    } catch (error) {
      errors.show(error.message);
    }
  }

  function relationTo(userId) {
    const has = (list) => list.some((entry) => entry.user_id === userId);
    if (userId === session.userId) return "self";
    if (has(state.friends)) return "friend";
    if (has(state.incoming)) return "incoming";
    if (has(state.outgoing)) return "outgoing";
    return "none";
  }

  function showFound(user) {
    const relation = relationTo(user.user_id);
    let action;
    if (relation === "self") action = h("span", { class: "hint" }, "That is you.");
    else if (relation === "friend") action = messageButton(user.user_id);
    else if (relation === "outgoing") action = h("span", { class: "hint" }, "Request sent.");
    else {
      action = h(
        "button",
        {
          type: "button",
          class: "primary",
          onclick: () =>
            act(async () => {
              const answer = await api.post("/friends", { user_id: user.user_id });
              status.show(
                answer.status === "accepted"
                  ? `You and ${user.display_name} are friends now.`
                  : `Friend request sent to ${user.display_name}.`,
              );
              replace(result);
            }),
        },
        relation === "incoming" ? "Accept request" : "Add friend",
      );
    }
    replace(
      result,
      h(
        "div",
        { class: "person found" },
        h(
          "span",
          { class: "person-text" },
          h("span", { class: "person-name", dir: "auto" }, user.display_name),
          h("span", { class: "username", dir: "auto" }, `@${user.username}`),
        ),
        h("span", { class: "actions" }, action),
      ),
    );
  }

  findForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = search.input.value.trim();
    if (!username) return;
    errors.clear();
    status.clear();
    replace(result);
    await busy(findForm, async () => {
      try {
        showFound(await api.get(`/users?username=${encodeURIComponent(username)}`));
      } catch (error) {
        if (error.status === 404) {
          replace(result, h("p", { class: "hint", role: "status" }, `No one is called “${username}”.`));
        } else {
          errors.show(error.message);
        }
      }
    });
  });

  const onFriends = () => reload();
  store.addEventListener("friends", onFriends);
  reload();
  return () => store.removeEventListener("friends", onFriends);
}
