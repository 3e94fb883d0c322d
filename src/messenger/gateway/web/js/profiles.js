// Other people's profiles, fetched once per page load per person (the browser's HTTP
// cache revalidates them with the ETag the API sends).

import { api } from "./api.js";

const pending = new Map(); // user_id -> Promise<profile>
const known = new Map(); // user_id -> profile, once it arrived

function profileOf(userId) {
  if (!pending.has(userId)) {
    const request = api.get(`/profiles/${encodeURIComponent(userId)}`).then(
      (profile) => {
        known.set(userId, profile);
        return profile;
      },
      (error) => {
        pending.delete(userId);
        throw error;
      },
    );
    pending.set(userId, request);
  }
  return pending.get(userId);
}

/** A profile we got some other way (our own after an edit, a search result). */
export function remember(profile) {
  known.set(profile.user_id, profile);
  pending.set(profile.user_id, Promise.resolve(profile));
}

/** Put the person's display name into `element` (at once when known) and return it.
 * `dir="auto"`: the name sets its own direction (a Hebrew or Arabic name reads right to left). */
export function nameInto(element, userId) {
  element.dir = "auto";
  const profile = known.get(userId);
  if (profile) {
    element.textContent = profile.display_name;
    return element;
  }
  element.textContent = "…";
  profileOf(userId).then(
    (found) => {
      element.textContent = found.display_name;
    },
    () => {
      element.textContent = "Unknown user";
    },
  );
  return element;
}
