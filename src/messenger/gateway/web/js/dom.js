// Building the page. Text from users and from the server only ever reaches the document
// as text nodes (textContent, append of strings): nothing here parses HTML.

/**
 * h("button", {class: "primary", onclick: f, "aria-label": "Send"}, "Send")
 * Props: `class`, `text` (textContent), `value`, `on<event>` listeners; anything else
 * is set with setAttribute (boolean true = present, null/false/undefined = absent).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key === "value") element.value = value;
    else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (Array.isArray(child)) append(element, child);
    else if (child !== null && child !== undefined && child !== false) element.append(child);
  }
}

/** Replace everything inside `element`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let uniqueCounter = 0;

/** An id for tying a <label> to its control. */
export function uid(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

/** A labelled form field: {wrapper, input}. `attrs` go on the control. */
export function field(labelText, attrs = {}, { multiline = false } = {}) {
  const id = uid("field");
  const input = h(multiline ? "textarea" : "input", { id, ...attrs });
  const wrapper = h("div", { class: "field" }, h("label", { for: id, text: labelText }), input);
  return { wrapper, input };
}

/** A region that announces errors (role=alert) or progress (role=status). */
export function messageLine(kind = "alert") {
  const element = h("p", { class: `notice notice-${kind}`, role: kind, hidden: true });
  return {
    element,
    show(text, tone = kind === "alert" ? "error" : "info") {
      element.textContent = text;
      element.dataset.tone = tone;
      element.hidden = !text;
    },
    clear() {
      element.textContent = "";
      element.hidden = true;
    },
  };
}

/** Disable a form's controls while `work` runs, so a double click sends once. */
export async function busy(form, work) {
  const controls = [...form.querySelectorAll("button, input, textarea")];
  const wasDisabled = controls.map((control) => control.disabled);
  controls.forEach((control) => {
    control.disabled = true;
  });
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    controls.forEach((control, index) => {
      control.disabled = wasDisabled[index];
    });
    form.removeAttribute("aria-busy");
  }
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium",
  timeStyle: "short",
});

/** A <time> element for an RFC 3339 timestamp from the API. */
export function timeElement(rfc3339, { withDate = false } = {}) {
  const date = new Date(rfc3339);
  const format = withDate ? dateTimeFormat : timeFormat;
  return h("time", { datetime: rfc3339, title: dateTimeFormat.format(date) }, format.format(date));
}
