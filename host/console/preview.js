// The preview of a draft config: the node decides a sample of profiles (or named customers)
// with the live version and with the draft, and this shows how many decisions change, which
// variant moves to which, and each customer's two decisions, changed ones first.

import { post } from "./api.js";
import { el, figure, formatCount, replace, row, shortDigest, table } from "./dom.js";
import { say, sayError } from "./notify.js";

const PAGE_ROWS = 50;
const CHANNELS = ["web", "app", "kiosk", "email", "pos"];
const PAGE_KINDS = ["home", "product", "category", "cart", "checkout"];

export function mountPreview({ path, editor, previewButton, ctx, onChange }) {
  let running = false;
  const sample = el("input", { id: "preview-sample", type: "number", min: "1", max: "100000", step: "1", value: "1000", inputmode: "numeric" });
  const channel = el("select", { id: "preview-channel" },
    el("option", { value: "" }, "web (default)"), CHANNELS.slice(1).map((c) => el("option", { value: c }, c)));
  const pageKind = el("select", { id: "preview-page-kind" },
    el("option", { value: "" }, "none"), PAGE_KINDS.map((k) => el("option", { value: k }, k)));
  const customers = el("input", {
    id: "preview-customers", type: "text", placeholder: "e.g. cust-000042, cust-000043", autocomplete: "off", spellcheck: "false",
  });
  const result = el("div", { id: "preview-result", class: "preview-result", "aria-live": "polite" });
  const element = el("section", { class: "subsection", id: "preview", "aria-labelledby": "preview-title" },
    el("h3", { id: "preview-title" }, "Preview"),
    el("div", { class: "form-row" },
      el("label", { for: "preview-sample" }, "Profiles to sample", sample),
      el("label", { for: "preview-channel" }, "Channel", channel),
      el("label", { for: "preview-page-kind" }, "Page", pageKind),
      el("label", { for: "preview-customers", class: "grow" }, "Or these customers (ids, comma-separated)", customers)),
    result);

  previewButton.addEventListener("click", () => run());

  /** Previews the draft config (with `extra.component`, a draft component too). */
  async function run(extra = {}) {
    const body = { config: editor.value, sample: Math.max(1, Math.round(Number(sample.value) || 1000)), ...extra };
    const ids = customers.value.split(/[\s,]+/).filter(Boolean);
    if (ids.length) body.customers = ids.map((id) => ({ customer_id: id }));
    if (channel.value) body.channel = channel.value;
    if (pageKind.value) body.context = { page: { kind: pageKind.value } };
    running = true;
    onChange();
    previewButton.textContent = "Previewing…";
    replace(result, el("p", { class: "loading", id: "preview-loading" }, `Deciding ${ids.length ? `${ids.length} customers` : `${body.sample} profiles`} with the live version and the draft…`));
    try {
      const answer = await post(`${path}/preview`, body);
      if (!ctx.current()) return;
      replace(result, summary(answer));
      say(`Preview: ${formatCount(answer.summary?.changed ?? 0)} of ${formatCount(answer.profiles)} decisions change.`, "success");
    } catch (error) {
      if (!ctx.current()) return;
      replace(result, el("p", { class: "result", id: "preview-error", "data-kind": "error", role: "alert" },
        `Preview failed: ${error.message}${error.field ? ` (${error.field})` : ""}`));
      sayError(error, "Preview failed");
    } finally {
      running = false;
      previewButton.textContent = "Preview";
      if (ctx.current()) onChange();
    }
  }

  return { element, running: () => running, run };
}

function summary(answer) {
  const s = answer.summary ?? {};
  const changed = s.changed ?? 0;
  const figures = el("div", { class: "figures" },
    figure("Decisions that change", formatCount(changed), "preview-changed", changed > 0 ? "highlight" : undefined),
    figure("Unchanged", formatCount(s.unchanged), "preview-unchanged"),
    figure("Profiles decided", formatCount(answer.profiles), "preview-profiles"),
    figure("Errors (live / draft)", `${formatCount(s.errors?.live ?? 0)} / ${formatCount(s.errors?.draft ?? 0)}`, "preview-errors",
      (s.errors?.draft ?? 0) > (s.errors?.live ?? 0) ? "warn" : undefined),
    figure("Took", typeof answer.elapsed_ms === "number" ? `${answer.elapsed_ms.toFixed(0)} ms` : "—", "preview-elapsed"));
  figures.querySelector("#preview-changed").dataset.value = String(changed);
  const made = answer.draft
    ? ` (${answer.draft.component ?? "live"} component, ${answer.draft.config ?? "draft"} config)`
    : "";
  const versions = el("p", { class: "hint", id: "preview-versions" },
    "The live version ", shortDigest(answer.live?.digest), ` against the draft${made}.`);

  const transitions = (s.transitions ?? []).slice().sort((a, b) => b.count - a.count);
  const transitionTable = transitions.length
    ? table({ id: "preview-transitions", class: "data compact" }, ["From (live)", "To (draft)", { label: "Customers", class: "num" }],
      transitions.map((t, i) => row({ "data-testid": `transition-${i}` }, [
        variantLabel(t.from), variantLabel(t.to), { value: formatCount(t.count), class: "num" }])))
    : el("p", { class: "muted", id: "preview-transitions-none" }, "No decision changes variant.");

  const variants = variantTable(s.variants ?? {});
  const decisions = decisionTable(answer.decisions ?? []);
  return el("div", { class: "preview-summary", "data-changed": changed },
    figures, versions,
    el("div", { class: "two-columns" },
      el("div", {}, el("h4", {}, "Variant changes"), transitionTable),
      el("div", {}, el("h4", {}, "Variants served"), variants)),
    el("h4", {}, "Decisions per customer"),
    decisions);
}

function variantLabel(name) {
  return name === null || name === undefined || name === ""
    ? el("span", { class: "muted" }, "none")
    : el("code", {}, name);
}

function variantTable(variants) {
  const live = variants.live ?? {};
  const draft = variants.draft ?? {};
  const names = [...new Set([...Object.keys(live), ...Object.keys(draft)])].sort();
  if (!names.length) return el("p", { class: "muted" }, "No variants.");
  return table({ id: "preview-variants", class: "data compact" },
    ["Variant", { label: "Live", class: "num" }, { label: "Draft", class: "num" }, { label: "Change", class: "num" }],
    names.map((n) => {
      const delta = (draft[n] ?? 0) - (live[n] ?? 0);
      return row({ "data-testid": `variant-${n}` }, [
        el("code", {}, n),
        { value: formatCount(live[n] ?? 0), class: "num" },
        { value: formatCount(draft[n] ?? 0), class: "num" },
        { value: delta === 0 ? "—" : `${delta > 0 ? "+" : "−"}${formatCount(Math.abs(delta))}`, class: `num ${delta > 0 ? "up" : delta < 0 ? "down" : ""}` },
      ]);
    }));
}

/** Changed decisions first, 50 a page. */
function decisionTable(decisions) {
  const sorted = decisions.slice().sort((a, b) => Number(Boolean(b.changed)) - Number(Boolean(a.changed)));
  const holder = el("div", { id: "preview-decisions-holder" });
  if (!sorted.length) return el("p", { class: "muted", id: "preview-decisions-none" }, "The node returned no decisions.");
  const changedOnly = el("input", { type: "checkbox", id: "decisions-changed-only" });
  const pageLabel = el("span", { id: "decisions-page", class: "hint" });
  const prev = el("button", { type: "button", id: "decisions-prev", class: "secondary small" }, "Previous");
  const next = el("button", { type: "button", id: "decisions-next", class: "secondary small" }, "Next");
  const body = el("div", {});
  let page = 0;
  const draw = () => {
    const list = changedOnly.checked ? sorted.filter((d) => d.changed) : sorted;
    const pages = Math.max(1, Math.ceil(list.length / PAGE_ROWS));
    page = Math.min(page, pages - 1);
    const shown = list.slice(page * PAGE_ROWS, (page + 1) * PAGE_ROWS);
    pageLabel.textContent = list.length
      ? `Rows ${page * PAGE_ROWS + 1}–${page * PAGE_ROWS + shown.length} of ${formatCount(list.length)}`
      : "No rows";
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    replace(body, table({ id: "preview-decisions", class: "data compact decisions" }, ["Customer", "Live", "Draft"],
      shown.map((d) => row({ class: d.changed ? "changed" : "", "data-testid": `decision-${d.customer_id}`, "data-changed": Boolean(d.changed) }, [
        el("span", {}, el("code", {}, d.customer_id ?? "—"),
          d.changed ? el("span", { class: "badge changed" }, "changed") : null,
          d.known === false ? el("span", { class: "badge", title: "Not in the profile store: decided as an anonymous visitor" }, "anonymous") : null),
        decisionCell(d.live),
        decisionCell(d.draft),
      ]))));
  };
  changedOnly.addEventListener("change", () => { page = 0; draw(); });
  prev.addEventListener("click", () => { page -= 1; draw(); });
  next.addEventListener("click", () => { page += 1; draw(); });
  draw();
  return replace(holder,
    el("div", { class: "table-tools" },
      el("label", { for: "decisions-changed-only", class: "check" }, changedOnly, "Changed only"),
      el("span", { class: "spacer" }), pageLabel, prev, next),
    body);
}

function decisionCell(decision) {
  if (!decision) return el("span", { class: "muted" }, "—");
  if (decision.error) {
    return el("div", { class: "decision error" },
      el("span", { class: "badge error" }, decision.error.code ?? "error"), " ", decision.error.message ?? "");
  }
  const render = decision.render && typeof decision.render === "object" ? decision.render : null;
  const headline = render && typeof render.headline === "string" ? render.headline : null;
  const renderText = render ? JSON.stringify(render) : "";
  const items = Array.isArray(decision.items) ? decision.items : [];
  const itemText = items.slice(0, 5).map((i) => (typeof i === "object" && i !== null ? i.id ?? i.item_id ?? JSON.stringify(i) : String(i))).join(", ");
  return el("div", { class: "decision" },
    el("div", {}, decision.variant ? el("strong", {}, decision.variant) : el("span", { class: "muted" }, "no variant"),
      decision.reason ? el("span", { class: "reason" }, ` ${decision.reason}`) : null,
      decision.experiment ? el("span", { class: "reason", title: `bucket ${decision.experiment.bucket}` }, ` · ${decision.experiment.key}: ${decision.experiment.variant}`) : null),
    headline ? el("div", { class: "headline", title: renderText }, `“${headline}”`) : null,
    !headline && renderText && renderText !== "{}" ? el("div", { class: "render", title: renderText }, truncate(renderText, 120)) : null,
    itemText ? el("div", { class: "items" }, `items: ${itemText}${items.length > 5 ? ` … (${items.length})` : ""}`) : null);
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
