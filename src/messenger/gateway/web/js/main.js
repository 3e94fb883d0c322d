// Entry point: picks the screen from the address. /verify-email and /reset-password
// are the email landing pages; everything else is one page routed by its #hash.

import { onSignedOut, resume, session } from "./api.js";
import { forgotPasswordScreen, signInScreen, signUpScreen } from "./screens/auth.js";
import { resetPasswordScreen, verifyEmailScreen } from "./screens/landing.js";
import { Shell } from "./screens/shell.js";

const root = document.getElementById("app");
const LANDINGS = { "/verify-email": verifyEmailScreen, "/reset-password": resetPasswordScreen };
let shell = null;
let notice = "";

function render() {
  if (!session.signedIn) {
    const hash = window.location.hash;
    if (hash === "#/signup") signUpScreen(root);
    else if (hash === "#/forgot") forgotPasswordScreen(root);
    else signInScreen(root, { notice, onSignedIn });
    return;
  }
  if (!shell) {
    shell = new Shell(root);
    shell.start();
  }
  shell.route();
}

function onSignedIn() {
  notice = "";
  if (!/^#\/(chats|people|profile|sessions)/.test(window.location.hash)) {
    window.history.replaceState(null, "", "#/chats");
  }
  render();
}

onSignedOut((reason) => {
  shell?.stop();
  shell = null;
  notice = reason;
  if (window.location.pathname in LANDINGS) return; // the landing page stays as it is
  window.history.replaceState(null, "", "/");
  render();
});

notice = await resume();
const landing = LANDINGS[window.location.pathname];
if (landing) {
  landing(root);
} else {
  window.addEventListener("hashchange", render);
  render();
}
