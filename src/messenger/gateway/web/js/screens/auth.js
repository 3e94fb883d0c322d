// Signed out: sign in, create an account, ask for a password-reset link.

import { api, begin } from "../api.js";
import { busy, field, h, messageLine, replace } from "../dom.js";

let lastLogin = ""; // what was typed on one of these screens, to prefill the next

/** `notice` explains why the user is here (a revoked session, say). */
export function signInScreen(root, { notice, onSignedIn }) {
  const errors = messageLine("alert");
  const info = messageLine("status");
  const login = field("Email or username", {
    name: "login",
    required: true,
    autocomplete: "username",
    autocapitalize: "none",
    spellcheck: "false",
    value: lastLogin,
  });
  const password = field("Password", {
    name: "password",
    type: "password",
    required: true,
    autocomplete: "current-password",
  });
  const form = h(
    "form",
    { class: "stacked-form" },
    login.wrapper,
    password.wrapper,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  replace(
    root,
    card(
      "Sign in",
      info.element,
      errors.element,
      form,
      h(
        "p",
        { class: "links" },
        h("a", { href: "#/signup" }, "Create an account"),
        h("a", { href: "#/forgot" }, "Forgot your password?"),
      ),
    ),
  );
  if (notice) info.show(notice);
  (lastLogin ? password.input : login.input).focus();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    lastLogin = login.input.value.trim();
    await busy(form, async () => {
      try {
        begin(
          await api.public("/auth/login", {
            login: lastLogin,
            password: password.input.value,
            device_name: deviceName(),
          }),
        );
      } catch (error) {
        errors.show(error.message);
        password.input.select();
        return;
      }
      onSignedIn();
    });
  });
}

export function signUpScreen(root) {
  const errors = messageLine("alert");
  const email = field("Email", { name: "email", type: "email", required: true, autocomplete: "email" });
  const username = field("Username (3–32 letters, digits or _)", {
    name: "username",
    required: true,
    autocomplete: "username",
    autocapitalize: "none",
    spellcheck: "false",
    pattern: "[A-Za-z0-9_]{3,32}",
  });
  const displayName = field("Display name (optional)", { name: "display_name", autocomplete: "name" });
  const password = field("Password (at least 8 characters)", {
    name: "password",
    type: "password",
    required: true,
    minlength: "8",
    autocomplete: "new-password",
  });
  const form = h(
    "form",
    { class: "stacked-form" },
    email.wrapper,
    username.wrapper,
    displayName.wrapper,
    password.wrapper,
    h("button", { type: "submit", class: "primary" }, "Create account"),
  );
  const panel = card(
    "Create an account",
    errors.element,
    form,
    h("p", { class: "links" }, h("a", { href: "#/signin" }, "I have an account: sign in")),
  );
  replace(root, panel);
  email.input.focus();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    const body = {
      email: email.input.value.trim(),
      username: username.input.value.trim(),
      password: password.input.value,
    };
    if (displayName.input.value.trim()) body.display_name = displayName.input.value.trim();
    await busy(form, async () => {
      let account;
      try {
        account = await api.public("/auth/register", body);
      } catch (error) {
        errors.show(error.message);
        return;
      }
      lastLogin = account.username;
      const next = h("a", { href: "#/signin", class: "button primary" }, "Sign in");
      replace(
        root,
        card(
          "Check your email",
          h(
            "p",
            { role: "status" },
            `Your account ${account.username} is created. We sent a link to ${account.email}: `,
            "open it to verify your address. You can sign in meanwhile.",
          ),
          h("p", {}, next),
        ),
      );
      next.focus();
    });
  });
}

export function forgotPasswordScreen(root) {
  const errors = messageLine("alert");
  const status = messageLine("status");
  const email = field("Email", { name: "email", type: "email", required: true, autocomplete: "email" });
  const form = h(
    "form",
    { class: "stacked-form" },
    email.wrapper,
    h("button", { type: "submit", class: "primary" }, "Send me a link"),
  );
  replace(
    root,
    card(
      "Forgot your password?",
      h("p", {}, "We will email you a link to choose a new one."),
      errors.element,
      status.element,
      form,
      h("p", { class: "links" }, h("a", { href: "#/signin" }, "Back to sign in")),
    ),
  );
  email.input.focus();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    await busy(form, async () => {
      try {
        await api.public("/auth/forgot-password", { email: email.input.value.trim() });
        status.show("If an account uses that address, a link to reset its password is on its way.");
      } catch (error) {
        errors.show(error.message);
      }
    });
  });
}

/** The frame of every signed-out screen. */
export function card(title, ...content) {
  return h(
    "main",
    { class: "card-page" },
    h("div", { class: "card" }, h("p", { class: "brand" }, "Messenger"), h("h1", {}, title), content),
  );
}

/** "Chrome on Linux": how this session shows in the session list. */
function deviceName() {
  const agent = navigator.userAgent;
  const browser =
    [
      ["Edg/", "Edge"],
      ["Firefox/", "Firefox"],
      ["Chromium/", "Chromium"],
      ["Chrome/", "Chrome"],
      ["Safari/", "Safari"],
    ].find(([marker]) => agent.includes(marker))?.[1] ?? "Browser";
  const system =
    [
      ["Android", "Android"],
      ["iPhone", "iOS"],
      ["iPad", "iPadOS"],
      ["Windows", "Windows"],
      ["Mac OS", "macOS"],
      ["CrOS", "ChromeOS"],
      ["Linux", "Linux"],
    ].find(([marker]) => agent.includes(marker))?.[1] ?? "an unknown system";
  return `${browser} on ${system}`;
}
