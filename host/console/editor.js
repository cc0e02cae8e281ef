// The config editor of a policy page: the draft document with live checks (syntax at once, the
// policy's JSON Schema at once, the policy's own checks on the node ~300 ms after typing
// stops), and the draft's preview and publishing (now, or as a canary).

import { get, post, put, seg } from "./api.js";
import { el, replace } from "./dom.js";
import { JsonSyntaxError, offsetOf, parseDocument } from "./jsondoc.js";
import { say, sayError } from "./notify.js";
import { mountPreview } from "./preview.js";
import { check } from "./schema.js";

const DEBOUNCE_MS = 300;

/** Pretty-prints a config text (two spaces), or returns it as it is when it does not parse. */
export function pretty(text) {
  if (text === null || text === undefined) return "";
  try {
    return `${JSON.stringify(JSON.parse(text), null, 2)}\n`;
  } catch {
    return text;
  }
}

/** Mounts the editor; returns `{preview(extra)}` to preview the draft with a component too. */
export function mountEditor(section, policy, ctx) {
  const name = policy.name;
  const path = `/admin/v1/policies/${seg(name)}`;
  const original = pretty(policy.active?.config);
  const state = {
    schema: null,
    syntax: null, // a JsonSyntaxError
    schemaProblems: [],
    serverProblems: [],
    serverState: "idle", // idle | checking | ok | problems | error
    serverError: null,
    offsets: new Map(),
    seq: 0,
    timer: null,
    busy: false,
  };

  const editor = el("textarea", {
    id: "config-editor", class: "code", spellcheck: "false", autocomplete: "off", autocapitalize: "off",
    wrap: "off", rows: 24, "aria-describedby": "config-check-state", "aria-label": `Config document of ${name}`,
  });
  editor.value = original;
  const schemaState = el("span", { id: "schema-state", class: "hint" }, "Loading the schema…");
  const dirty = el("span", { id: "config-dirty", class: "hint", hidden: true }, "Edited: not published");
  const checkState = el("p", { id: "config-check-state", class: "check-state", "aria-live": "polite" });
  const problems = el("ul", { id: "config-problems", class: "problems", "data-state": "checking", "aria-label": "Problems in the draft" });
  const percent = el("input", {
    id: "canary-percent", type: "number", min: "0.1", max: "99.9", step: "0.1", value: "10",
    inputmode: "decimal", "aria-describedby": "canary-percent-hint",
  });
  const note = el("input", {
    id: "change-note", type: "text", maxlength: "500", autocomplete: "off",
    placeholder: "Why (kept in the history), e.g. Black Friday copy",
  });
  const publishNow = el("button", { type: "button", id: "publish-now", class: "primary" }, "Publish now");
  const publishCanary = el("button", { type: "button", id: "publish-canary", class: "secondary" }, "Publish as canary");
  const previewButton = el("button", { type: "button", id: "preview-button", class: "secondary" }, "Preview");
  const publishResult = el("p", { id: "publish-result", class: "result", role: "status", hidden: true });
  const canaryRunning = Boolean(policy.canary);
  const preview = mountPreview({ path, editor, previewButton, ctx, onChange: () => updateButtons() });

  replace(section,
    el("div", { class: "section-head" },
      el("h2", { id: "editor-title" }, "Config"),
      el("div", { class: "inline" }, dirty, schemaState)),
    el("p", { class: "lede" },
      "Edit the draft below. It is checked as you type; preview it against real profiles before you publish it."),
    el("div", { class: "editor-tools" },
      el("button", { type: "button", id: "format-config", class: "link", onclick: format }, "Pretty-print"),
      el("button", { type: "button", id: "reset-config", class: "link", onclick: reset }, "Revert to the active config")),
    editor,
    checkState,
    problems,
    el("div", { class: "actions-bar" },
      previewButton,
      el("span", { class: "spacer" }),
      publishNow,
      el("label", { class: "inline-field", for: "canary-percent" }, "Canary share (%)", percent),
      publishCanary),
    el("label", { class: "note-field", for: "change-note" }, "Note", note),
    el("p", { id: "canary-percent-hint", class: "hint" }, canaryRunning
      ? "A canary is running: promote or abort it before publishing again."
      : "A canary serves the draft to this share of customers (each customer keeps one version); promote or abort it above."),
    publishResult,
    preview.element);

  editor.addEventListener("input", () => {
    dirty.hidden = editor.value === original;
    runChecks();
  });
  editor.addEventListener("keydown", (event) => {
    // Tab indents inside the editor; Escape then Tab leaves it (keyboard users are not trapped).
    if (event.key === "Tab" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey && editor.dataset.escaped !== "true") {
      event.preventDefault();
      editor.setRangeText("  ", editor.selectionStart, editor.selectionEnd, "end");
      editor.dispatchEvent(new Event("input"));
    }
    editor.dataset.escaped = event.key === "Escape" ? "true" : "false";
  });
  percent.addEventListener("input", updateButtons);
  publishNow.addEventListener("click", () => publish(null));
  publishCanary.addEventListener("click", () => publish(Number(percent.value)));

  loadSchema();
  runChecks();
  return {
    preview: (extra) => {
      preview.element.scrollIntoView({ block: "start" });
      return preview.run(extra);
    },
  };

  async function loadSchema() {
    if (policy.active?.has_schema === false) {
      state.schema = null;
      schemaState.textContent = "No schema: only the policy's own checks apply";
      return;
    }
    try {
      state.schema = await get(`${path}/schema`);
      schemaState.textContent = "Checked against the policy's schema";
      schemaState.dataset.schema = "loaded";
    } catch (error) {
      state.schema = null;
      schemaState.dataset.schema = "none";
      schemaState.textContent = error.code === "no_schema"
        ? "No schema: only the policy's own checks apply"
        : `Schema unavailable (${error.message})`;
    }
    if (ctx.current()) runLocal();
  }

  function format() {
    try {
      editor.value = `${JSON.stringify(JSON.parse(editor.value), null, 2)}\n`;
      editor.dispatchEvent(new Event("input"));
    } catch {
      say("The draft has a syntax error: fix it before pretty-printing.", "error");
    }
  }

  function reset() {
    editor.value = original;
    editor.dispatchEvent(new Event("input"));
    say("The draft is the active config again.", "info");
  }

  /** Syntax and schema now; the node's checks after a pause in typing. */
  function runChecks() {
    runLocal();
    clearTimeout(state.timer);
    state.seq += 1;
    if (state.syntax) {
      state.serverState = "idle";
      state.serverProblems = [];
      show();
      return;
    }
    state.serverState = "checking";
    show();
    const seq = state.seq;
    state.timer = setTimeout(() => runServer(seq, editor.value), DEBOUNCE_MS);
  }

  function runLocal() {
    const text = editor.value;
    try {
      const doc = parseDocument(text);
      state.syntax = null;
      state.offsets = doc.offsets;
      state.schemaProblems = state.schema ? check(state.schema, doc.value) : [];
    } catch (error) {
      if (!(error instanceof JsonSyntaxError)) throw error;
      state.syntax = error;
      state.schemaProblems = [];
    }
    show();
  }

  async function runServer(seq, text) {
    try {
      const result = await post(`${path}/validate`, { config: text });
      if (seq !== state.seq || !ctx.current()) return;
      state.serverProblems = result.problems ?? [];
      state.serverState = result.valid === false || state.serverProblems.length ? "problems" : "ok";
      if (result.valid === false && state.serverProblems.length === 0) {
        state.serverProblems = [{ path: "", message: "the policy refuses this config" }];
      }
      state.serverError = null;
    } catch (error) {
      if (seq !== state.seq || !ctx.current()) return;
      state.serverState = "error";
      state.serverError = error;
      state.serverProblems = [];
    }
    show();
  }

  /** Every problem to show: the syntax error alone, or the schema's and the policy's. */
  function allProblems() {
    if (state.syntax) {
      return [{ source: "syntax", path: "", message: state.syntax.message, offset: state.syntax.offset }];
    }
    const seen = new Set();
    const out = [];
    for (const [source, list] of [["schema", state.schemaProblems], ["policy", state.serverProblems]]) {
      for (const p of list) {
        const key = `${p.path}\u0000${p.message}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ source, path: p.path ?? "", message: p.message, offset: offsetOf(state.offsets, p.path ?? "") });
      }
    }
    return out;
  }

  function overall() {
    const list = allProblems();
    if (list.length) return { code: "problems", list };
    if (state.serverState === "checking") return { code: "checking", list };
    if (state.serverState === "error") return { code: "unchecked", list };
    return { code: "ok", list };
  }

  function show() {
    const { code, list } = overall();
    problems.dataset.state = code;
    // The node's own check, apart: "problems" above may come from the schema alone.
    problems.dataset.server = state.serverState;
    replace(problems, list.map((p, i) => el("li", { class: `problem ${p.source}`, "data-testid": "config-problem", "data-path": p.path, "data-index": i },
      el("button", { type: "button", class: "problem-link", title: "Show in the editor", onclick: () => jump(p.offset) },
        el("span", { class: `badge source ${p.source}` }, p.source),
        el("code", { class: "path" }, p.path || "(document)"),
        el("span", { class: "message" }, p.message)))));
    checkState.dataset.state = code;
    checkState.textContent = {
      problems: `${list.length} problem${list.length === 1 ? "" : "s"}: publishing is disabled until they are fixed.`,
      checking: "Checking the draft with the policy…",
      unchecked: `The policy's checks could not run (${state.serverError?.message ?? "no answer"}); the node checks again on publish.`,
      ok: "No problems found.",
    }[code];
    updateButtons();
  }

  function jump(offset) {
    editor.focus();
    editor.setSelectionRange(offset ?? 0, offset ?? 0);
    // Scroll the caret's line into view: about one line-height per line before it.
    const line = editor.value.slice(0, offset ?? 0).split("\n").length - 1;
    const lineHeight = parseFloat(getComputedStyle(editor).lineHeight) || 18;
    editor.scrollTop = Math.max(0, line * lineHeight - editor.clientHeight / 3);
  }

  function percentValid() {
    const p = Number(percent.value);
    return percent.value !== "" && Number.isFinite(p) && p > 0 && p < 100;
  }

  function updateButtons() {
    const { code } = overall();
    const blocked = state.busy || code === "problems" || code === "checking";
    publishNow.disabled = blocked;
    publishCanary.disabled = blocked || !percentValid();
    percent.setAttribute("aria-invalid", percentValid() ? "false" : "true");
    previewButton.disabled = state.busy || Boolean(state.syntax) || preview.running();
    const why = code === "problems" ? "Fix the problems first" : code === "checking" ? "Checking the draft…" : "";
    publishNow.title = why;
    publishCanary.title = why || (percentValid() ? "" : "The share must be above 0 and below 100");
  }

  async function publish(canaryPercent) {
    state.busy = true;
    updateButtons();
    publishResult.hidden = true;
    const body = { config: editor.value };
    if (canaryPercent !== null) body.canary_percent = canaryPercent;
    if (note.value.trim()) body.note = note.value.trim();
    say(canaryPercent === null ? "Publishing…" : `Publishing as a ${canaryPercent}% canary…`, "info");
    try {
      const result = await put(path, body);
      const digest = String(result.digest ?? "").slice(0, 19);
      const message = result.unchanged
        ? `Nothing to publish: ${digest} is already serving.`
        : result.status === "canary"
          ? `Published ${digest} as a ${result.canary_percent ?? canaryPercent}% canary.`
          : `Published ${digest}: it is active.`;
      say(message, "success");
      state.busy = false;
      await ctx.refresh();
    } catch (error) {
      state.busy = false;
      publishResult.hidden = false;
      publishResult.dataset.kind = "error";
      publishResult.textContent = `Publish refused: ${error.message}${error.field ? ` (${error.field})` : ""}`;
      sayError(error, "Publish refused");
      if (ctx.current()) updateButtons();
    }
  }
}
