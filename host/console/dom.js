// DOM helpers: every element is built with createElement and textContent (the page's CSP and
// the data's origin both rule out innerHTML), and small formatters shared by the pages.

const SVG = "http://www.w3.org/2000/svg";

/** An element: `el("td", {class: "num", "data-testid": "x"}, "text", child, …)`. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attributes);
  append(node, children);
  return node;
}

/** An SVG element, attributes as for `el`. */
export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  setAttributes(node, attributes);
  append(node, children);
  return node;
}

function setAttributes(node, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces every child of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A table with a header row; `rows` are arrays of cells (a Node, a string, or `{cell, class}`). */
export function table(attributes, headers, rows) {
  const head = el("thead", {}, el("tr", {}, headers.map((h) =>
    el("th", { scope: "col", class: typeof h === "object" ? h.class : undefined },
      typeof h === "object" ? h.label : h))));
  const body = el("tbody", {}, rows);
  return el("div", { class: "table-wrap" }, el("table", attributes, head, body));
}

/** A table row from cells; a cell given as `{value, class}` gets that class. */
export function row(attributes, cells) {
  return el("tr", attributes, cells.map((c) =>
    c !== null && typeof c === "object" && !(c instanceof Node)
      ? el("td", { class: c.class, title: c.title, "data-testid": c.testid }, c.value)
      : el("td", {}, c)));
}

/** A labelled figure: `<div class=figure><span class=label/><span class=value id=…/></div>`. */
export function figure(label, value, id, extraClass) {
  return el("div", { class: ["figure", extraClass].filter(Boolean).join(" ") },
    el("span", { class: "figure-label" }, label),
    el("span", { class: "figure-value", id, "data-testid": id }, value));
}

/** The first 12 characters of a digest, with the whole digest as a tooltip. */
export function shortDigest(digest, attributes = {}) {
  if (!digest) return el("span", { class: "muted" }, "—");
  const text = String(digest).replace(/^sha256:/, "");
  return el("code", { class: "digest", title: digest, "data-digest": digest, ...attributes },
    text.slice(0, 12));
}

/** A millisecond timestamp as local `YYYY-MM-DD HH:MM:SS`. */
export function formatTime(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(Number(ms))) return "—";
  const d = new Date(Number(ms));
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const NUMBER = new Intl.NumberFormat("en-US");

/** A count with thousands separators. */
export function formatCount(n) {
  return n === null || n === undefined ? "—" : NUMBER.format(n);
}

/** A share in 0..1 as a percentage with `digits` decimals. */
export function formatPercent(share, digits = 1) {
  if (share === null || share === undefined || !Number.isFinite(share)) return "—";
  return `${(share * 100).toFixed(digits)}%`;
}

/** Bytes as B, KiB, MiB or GiB. */
export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** A duration in seconds as `3 s`, `4 min`, `2 h 5 min` or `3 d 4 h`. */
export function formatAge(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/**
 * A button whose action needs a second click: the first arms it ("Click again to confirm")
 * for a few seconds; the second runs `action`. No window.confirm, which blocks the page.
 */
export function confirmButton(attributes, label, action) {
  const button = el("button", { type: "button", ...attributes }, label);
  let timer = null;
  const disarm = () => {
    clearTimeout(timer);
    timer = null;
    button.classList.remove("armed");
    button.removeAttribute("data-armed");
    button.textContent = label;
  };
  button.addEventListener("click", async () => {
    if (!button.hasAttribute("data-armed")) {
      button.setAttribute("data-armed", "");
      button.classList.add("armed");
      button.textContent = "Click again to confirm";
      timer = setTimeout(disarm, 8000);
      return;
    }
    disarm();
    await action(button);
  });
  return button;
}
