// The status line under the header: one aria-live region every page reports results and
// refusals through.

let clearTimer = null;

/** Shows `message`; `kind` is "info", "success" or "error" (errors stay until the next one). */
export function say(message, kind = "info") {
  const region = document.getElementById("status-message");
  if (!region) return;
  clearTimeout(clearTimer);
  region.textContent = message;
  region.dataset.kind = kind;
  region.hidden = false;
  if (kind !== "error") {
    clearTimer = setTimeout(() => clearMessage(), 15000);
  }
}

/** Shows a refused request's message. */
export function sayError(error, prefix = "") {
  const message = error && error.message ? error.message : String(error);
  say(prefix ? `${prefix}: ${message}` : message, "error");
}

export function clearMessage() {
  const region = document.getElementById("status-message");
  if (!region) return;
  region.textContent = "";
  region.dataset.kind = "";
  region.hidden = true;
}
