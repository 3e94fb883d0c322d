// The user's own profile: display name, bio, avatar URL. Saved with If-Match, so an
// edit made meanwhile on another device is never silently overwritten.

import { call } from "../api.js";
import { busy, field, h, messageLine, replace } from "../dom.js";
import { remember } from "../profiles.js";

export function profileScreen(container) {
  const errors = messageLine("alert");
  const status = messageLine("status");
  const displayName = field("Display name", { name: "display_name", required: true, dir: "auto" });
  const bio = field("Bio", { name: "bio", rows: "4", dir: "auto" }, { multiline: true });
  const avatar = field("Avatar URL (https)", {
    name: "avatar_url",
    type: "url",
    placeholder: "https://…",
    inputmode: "url",
  });
  const picture = h("img", { class: "avatar", alt: "Your avatar", hidden: true });
  const identity = h("p", { class: "hint" });
  const form = h(
    "form",
    { class: "stacked-form" },
    displayName.wrapper,
    bio.wrapper,
    avatar.wrapper,
    h("button", { type: "submit", class: "primary" }, "Save profile"),
  );
  replace(
    container,
    h(
      "div",
      { class: "page profile" },
      h("h1", {}, "Profile"),
      h("div", { class: "profile-head" }, picture, identity),
      errors.element,
      status.element,
      form,
    ),
  );
  let etag = null;

  function show(profile) {
    etag = profile.etag;
    remember(profile.data);
    const data = profile.data;
    displayName.input.value = data.display_name;
    bio.input.value = data.bio ?? "";
    avatar.input.value = data.avatar_url ?? "";
    identity.textContent = `@${data.username} · ${
      data.email_verified ? "email verified" : "email not verified yet"
    }`;
    picture.hidden = !data.avatar_url;
    if (data.avatar_url) picture.src = data.avatar_url;
    else picture.removeAttribute("src");
  }

  async function load() {
    try {
      show(await call("GET", "/profiles/me"));
    } catch (error) {
      errors.show(error.message);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    status.clear();
    const changes = {
      display_name: displayName.input.value,
      bio: bio.input.value === "" ? null : bio.input.value,
      avatar_url: avatar.input.value.trim() === "" ? null : avatar.input.value.trim(),
    };
    await busy(form, async () => {
      try {
        show(
          await call("PATCH", "/profiles/me", {
            body: changes,
            headers: etag ? { "If-Match": etag } : {},
          }),
        );
        status.show("Profile saved.");
      } catch (error) {
        if (error.status === 412) {
          await load();
          errors.show("Your profile was changed elsewhere meanwhile. Here it is now: edit again.");
        } else {
          errors.show(error.message);
        }
      }
    });
  });

  load();
  return () => {};
}
