// The marketer console: sign-in, the header, and hash routing to the pages
// (#/policies, #/policies/<name>, #/experiments, #/experiments/<key>?policy=<name>, #/status).

import { currentSession, get, resume, setUnauthorizedHandler, signIn, signOut } from "./api.js";
import { el, formatCount, replace } from "./dom.js";
import { clearMessage, say, sayError } from "./notify.js";
import * as experiments from "./page-experiments.js";
import * as policies from "./page-policies.js";
import * as policy from "./page-policy.js";
import * as status from "./page-status.js";

const ROUTES = [
  { pattern: /^\/policies$/, nav: "policies", page: policies.renderList, title: "Policies" },
  { pattern: /^\/policies\/([^/]+)$/, nav: "policies", page: policy.render, title: "Policy", names: ["name"] },
  { pattern: /^\/experiments$/, nav: "experiments", page: experiments.renderList, title: "Experiments" },
  { pattern: /^\/experiments\/([^/]+)$/, nav: "experiments", page: experiments.render, title: "Experiment", names: ["key"] },
  { pattern: /^\/status$/, nav: "status", page: status.render, title: "Node status" },
];

const $ = (id) => document.getElementById(id);
let generation = 0;
let headerTimer = null;
let expiryTimer = null;

/** The route of the current hash: `{route, params, query}`, or null. */
function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/policies";
  const [path, search = ""] = hash.split("?", 2);
  const query = new URLSearchParams(search);
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    const params = {};
    try {
      (route.names ?? []).forEach((name, i) => {
        params[name] = decodeURIComponent(match[i + 1]);
      });
    } catch {
      return null;
    }
    return { route, params, query };
  }
  return null;
}

async function show() {
  generation += 1;
  const mine = generation;
  const view = $("view");
  if (!currentSession()) {
    showSignIn();
    return;
  }
  const parsed = parseHash();
  for (const link of document.querySelectorAll("#nav a")) {
    if (parsed && link.dataset.nav === parsed.route.nav) {
      link.setAttribute("aria-current", "page");
    } else {
      link.removeAttribute("aria-current");
    }
  }
  if (!location.hash) {
    history.replaceState(null, "", "#/policies");
  }
  if (!parsed) {
    document.title = "Not found · tailor console";
    replace(view, el("section", { class: "panel", id: "not-found" },
      el("h1", {}, "Page not found"),
      el("p", {}, "There is no page at this address. "),
      el("a", { href: "#/policies" }, "Back to the policies")));
    return;
  }
  document.title = `${parsed.route.title} · tailor console`;
  const ctx = {
    current: () => mine === generation && currentSession() !== null,
    refresh: () => show(),
    query: parsed.query,
  };
  view.setAttribute("aria-busy", "true");
  replace(view, el("p", { class: "loading", id: "loading" }, "Loading…"));
  try {
    await parsed.route.page(view, parsed.params, ctx);
  } catch (error) {
    if (!ctx.current()) return;
    if (error.status === 401) return;
    replace(view, el("section", { class: "panel error-panel", id: "page-error", role: "alert" },
      el("h1", {}, "This page could not be loaded"),
      el("p", { "data-testid": "page-error-message" }, error.message),
      el("button", { type: "button", id: "retry", class: "secondary", onclick: () => show() }, "Try again")));
  } finally {
    if (mine === generation) view.removeAttribute("aria-busy");
  }
}

function showSignIn(message) {
  clearInterval(headerTimer);
  clearTimeout(expiryTimer);
  $("topbar").hidden = true;
  $("view").hidden = true;
  replace($("view"));
  $("signin").hidden = false;
  $("session-role").textContent = "";
  const error = $("signin-error");
  error.textContent = message ?? "";
  error.hidden = !message;
  document.title = "Sign in · tailor console";
  $("signin-token").focus();
}

function showApp() {
  const session = currentSession();
  $("signin").hidden = true;
  $("topbar").hidden = false;
  $("view").hidden = false;
  $("session-role").textContent = session.role;
  $("session-role").dataset.role = session.role;
  refreshHeader();
  clearInterval(headerTimer);
  headerTimer = setInterval(refreshHeader, 30000);
  clearTimeout(expiryTimer);
  const left = Number(session.expires_at_ms) - Date.now();
  if (Number.isFinite(left) && left > 0) {
    expiryTimer = setTimeout(checkSession, Math.min(left + 1000, 2 ** 31 - 1));
  }
}

async function checkSession() {
  const session = await resume().catch(() => currentSession());
  if (!session) showSignIn("Your session has expired. Sign in again.");
}

/** The node summary in the header: profiles, policies, draining, broker. */
async function refreshHeader() {
  const target = $("header-status");
  try {
    const node = await get("/admin/v1/status");
    const parts = [
      `${formatCount(node.snapshot?.profiles)} profiles`,
      `${formatCount(node.policies)} ${node.policies === 1 ? "policy" : "policies"}`,
    ];
    if (node.fleet) parts.push(`broker ${node.fleet.broker ?? "?"}`);
    target.textContent = parts.join(" · ");
    target.dataset.state = node.draining ? "draining" : "serving";
    target.title = node.draining ? "This node is draining" : "This node is serving";
    if (node.draining) target.textContent = `Draining · ${target.textContent}`;
  } catch (error) {
    if (error.status === 401) return;
    target.textContent = "Node status unavailable";
    target.dataset.state = "unknown";
    target.title = error.message;
  }
}

async function onSignIn(event) {
  event.preventDefault();
  const input = $("signin-token");
  const button = $("signin-submit");
  const error = $("signin-error");
  const token = input.value.trim();
  if (!token) {
    error.textContent = "Enter your console token.";
    error.hidden = false;
    return;
  }
  button.disabled = true;
  error.hidden = true;
  try {
    await signIn(token);
    input.value = "";
    clearMessage();
    showApp();
    await show();
  } catch (failure) {
    error.textContent = failure.status === 401
      ? `Sign-in refused: ${failure.message}`
      : `Sign-in failed: ${failure.message}`;
    error.hidden = false;
    input.select();
  } finally {
    button.disabled = false;
  }
}

async function onSignOut() {
  const button = $("sign-out");
  button.disabled = true;
  try {
    await signOut();
  } catch (error) {
    sayError(error, "Signing out failed");
  } finally {
    button.disabled = false;
  }
  clearMessage();
  showSignIn();
  say("Signed out.", "info");
}

async function start() {
  $("signin-form").addEventListener("submit", onSignIn);
  $("sign-out").addEventListener("click", onSignOut);
  window.addEventListener("hashchange", () => {
    clearMessage();
    show();
  });
  setUnauthorizedHandler(() => showSignIn("Your session has ended. Sign in again."));
  try {
    await resume();
  } catch (error) {
    showSignIn(`The node could not be reached: ${error.message}`);
    document.body.dataset.ready = "true";
    return;
  }
  if (currentSession()) {
    showApp();
    await show();
  } else {
    showSignIn();
  }
  document.body.dataset.ready = "true";
}

start();
