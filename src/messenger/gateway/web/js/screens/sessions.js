// Where the user is signed in: revoke one session, every other one, or log out here.

import { api, logOut } from "../api.js";
import { h, messageLine, replace, timeElement, uid } from "../dom.js";

export function sessionsScreen(container) {
  const errors = messageLine("alert");
  const status = messageLine("status");
  const list = h("ul", { class: "session-list" });
  const revokeOthers = h(
    "button",
    { type: "button", class: "danger", onclick: () => act(revokeAllOthers) },
    "Sign out all other sessions",
  );
  replace(
    container,
    h(
      "div",
      { class: "page sessions" },
      h("h1", {}, "Sessions"),
      h("p", { class: "hint" }, "Every device and browser tab where you are signed in."),
      errors.element,
      status.element,
      list,
      h("p", { class: "actions" }, revokeOthers),
    ),
  );

  async function act(work) {
    errors.clear();
    status.clear();
    try {
      await work();
    } catch (error) {
      errors.show(error.message);
    }
    await reload();
  }

  async function revokeAllOthers() {
    await api.post("/sessions/revoke-others");
    status.show("Every other session is signed out.");
  }

  function item(entry) {
    const nameId = uid("session");
    const button = entry.current
      ? h("button", { type: "button", onclick: () => logOut() }, "Log out")
      : h(
          "button",
          {
            type: "button",
            class: "danger",
            "aria-describedby": nameId,
            onclick: () =>
              act(async () => {
                await api.delete(`/sessions/${encodeURIComponent(entry.session_id)}`);
                status.show(`Session “${entry.device_name}” is signed out.`);
              }),
          },
          "Revoke",
        );
    return h(
      "li",
      { class: `session${entry.current ? " current" : ""}`, "data-session": entry.session_id },
      h(
        "span",
        { class: "session-text" },
        h(
          "span",
          { id: nameId, class: "session-name" },
          h("span", { dir: "auto" }, entry.device_name),
          entry.current ? h("span", { class: "tag" }, "this tab") : null,
        ),
        h(
          "span",
          { class: "hint" },
          "Signed in ",
          timeElement(entry.created_at, { withDate: true }),
          " · last active ",
          timeElement(entry.last_used_at, { withDate: true }),
        ),
      ),
      h("span", { class: "actions" }, button),
    );
  }

  async function reload() {
    try {
      const { sessions } = await api.get("/sessions");
      replace(list, sessions.map(item));
      revokeOthers.hidden = sessions.every((entry) => entry.current);
    } catch (error) {
      errors.show(error.message);
    }
  }

  reload();
  return () => {};
}
