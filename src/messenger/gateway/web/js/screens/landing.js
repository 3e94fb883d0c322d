// The pages the emails link to: /verify-email?token=… verifies at once and says how it
// went; /reset-password?token=… asks for the new password. The token is taken out of
// the address bar (and so out of the history) as soon as it is read.

import { api, signOut } from "../api.js";
import { busy, field, h, messageLine, replace } from "../dom.js";
import { card } from "./auth.js";

function takeToken(path) {
  const token = new URLSearchParams(window.location.search).get("token") ?? "";
  window.history.replaceState(null, "", path);
  return token;
}

function continueLink(text) {
  return h("p", {}, h("a", { href: "/", class: "button primary" }, text));
}

export async function verifyEmailScreen(root) {
  const token = takeToken("/verify-email");
  const status = h("p", { role: "status" }, "Verifying your email address…");
  replace(root, card("Email verification", status));
  if (!token) {
    replace(
      root,
      card(
        "Email verification",
        h("p", { role: "alert", class: "notice", "data-tone": "error" }, "This link holds no token."),
        resendForm(),
        continueLink("Go to Messenger"),
      ),
    );
    return;
  }
  try {
    await api.public("/auth/verify-email", { token });
  } catch (error) {
    replace(
      root,
      card(
        "Email verification",
        h("p", { role: "alert", class: "notice", "data-tone": "error" }, error.message),
        h("p", {}, "Ask for a new link if this one is old or was used up:"),
        resendForm(),
        continueLink("Go to Messenger"),
      ),
    );
    return;
  }
  const done = continueLink("Continue to Messenger");
  replace(
    root,
    card(
      "Email verified",
      h("p", { role: "status", class: "notice", "data-tone": "ok" }, "Your email address is verified."),
      done,
    ),
  );
  done.querySelector("a").focus();
}

function resendForm() {
  const errors = messageLine("alert");
  const status = messageLine("status");
  const email = field("Email", { name: "email", type: "email", required: true, autocomplete: "email" });
  const form = h(
    "form",
    { class: "stacked-form" },
    email.wrapper,
    h("button", { type: "submit" }, "Send a new link"),
    errors.element,
    status.element,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    await busy(form, async () => {
      try {
        await api.public("/auth/resend-verification", { email: email.input.value.trim() });
        status.show("If that address waits for verification, a new link is on its way.");
      } catch (error) {
        errors.show(error.message);
      }
    });
  });
  return form;
}

export function resetPasswordScreen(root) {
  const token = takeToken("/reset-password");
  const errors = messageLine("alert");
  const password = field("New password (at least 8 characters)", {
    name: "new_password",
    type: "password",
    required: true,
    minlength: "8",
    autocomplete: "new-password",
  });
  const again = field("New password again", {
    name: "new_password_again",
    type: "password",
    required: true,
    autocomplete: "new-password",
  });
  const form = h(
    "form",
    { class: "stacked-form" },
    password.wrapper,
    again.wrapper,
    h("button", { type: "submit", class: "primary" }, "Set new password"),
  );
  replace(root, card("Choose a new password", errors.element, form));
  if (!token) errors.show("This link holds no token: ask for a new one from the sign-in page.");
  password.input.focus();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    if (password.input.value !== again.input.value) {
      errors.show("The two passwords differ.");
      again.input.select();
      return;
    }
    await busy(form, async () => {
      try {
        await api.public("/auth/reset-password", { token, new_password: password.input.value });
      } catch (error) {
        errors.show(error.message);
        return;
      }
      // Every session of the account is revoked now, this tab's too.
      signOut("Your password is changed. Sign in with the new one.");
      replace(
        root,
        card(
          "Password changed",
          h(
            "p",
            { role: "status", class: "notice", "data-tone": "ok" },
            "Your password is changed and every session is signed out.",
          ),
          continueLink("Sign in"),
        ),
      );
    });
  });
}
