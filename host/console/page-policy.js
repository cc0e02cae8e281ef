// #/policies/<name>: the active version and any canary with their actions (promote, abort,
// roll back), delivery figures and history, then the config editor and the component upload.

import { get, post, seg } from "./api.js";
import { confirmButton, el, figure, formatCount, formatPercent, formatTime, replace, row, shortDigest, table } from "./dom.js";
import { mountEditor } from "./editor.js";
import { say, sayError } from "./notify.js";
import { mountUpload } from "./upload.js";

const ACTIONS = {
  activated: "Activated",
  canary_started: "Canary started",
  canary_promoted: "Canary promoted",
  canary_aborted: "Canary aborted",
  rolled_back: "Rolled back",
  auto_rolled_back: "Rolled back automatically",
  canary_auto_aborted: "Canary aborted automatically",
  refused: "Refused",
};

export async function render(view, { name }, ctx) {
  const policy = await get(`/admin/v1/policies/${seg(name)}`);
  if (!ctx.current()) return;
  const path = `/admin/v1/policies/${seg(name)}`;

  /** Runs a lifecycle action, reports it, and reloads the page. */
  const act = async (button, action, done) => {
    button.disabled = true;
    say(`${done.pending}…`, "info");
    try {
      // The note field of the config editor says why, for the history, here too.
      const note = document.getElementById("change-note")?.value.trim();
      const result = await post(`${path}/${action}`, note ? { note } : undefined);
      const digest = result?.digest ?? result?.active?.digest;
      say(digest ? `${done.ok}: ${String(digest).slice(0, 19)} is active.` : `${done.ok}.`, "success");
      await ctx.refresh();
    } catch (error) {
      sayError(error, done.failed);
      button.disabled = false;
    }
  };

  const active = policy.active ?? {};
  const canary = policy.canary;
  const previous = policy.previous ?? [];

  const activeCard = el("section", { class: "card", id: "active-version", "aria-labelledby": "active-title" },
    el("h2", { id: "active-title" }, "Active version"),
    el("dl", { class: "facts" },
      el("dt", {}, "Version"), el("dd", {}, shortDigest(active.digest, { id: "active-digest", "data-testid": "active-digest" })),
      el("dt", {}, "Contract"), el("dd", { id: "active-contract" }, active.contract ?? "—"),
      el("dt", {}, "Published"), el("dd", { id: "active-published" }, formatTime(active.published_at_ms)),
      el("dt", {}, "Signed by"), el("dd", { id: "active-signed-by" }, active.signed_by ?? el("span", { class: "muted" }, "unsigned")),
      el("dt", {}, "Decisions"), el("dd", {}, formatCount(active.cost?.decisions)),
      el("dt", {}, "Decision time"), el("dd", {}, costText(active.cost))),
    el("div", { class: "card-actions" },
      confirmButton({ id: "rollback", class: "danger", disabled: previous.length === 0 || undefined,
        title: previous.length === 0 ? "No earlier version is kept to roll back to" : `Back to ${String(previous[0].digest).slice(0, 19)}` },
      "Roll back", (b) => act(b, "rollback", { pending: "Rolling back", ok: "Rolled back", failed: "Rollback refused" })),
      previous.length
        ? el("span", { class: "hint" }, "to ", shortDigest(previous[0].digest, { id: "rollback-target" }))
        : el("span", { class: "hint" }, "no earlier version kept")));

  const canaryCard = canary
    ? el("section", { class: "card canary-card", id: "canary", "aria-labelledby": "canary-title" },
      el("h2", { id: "canary-title" }, "Canary"),
      el("dl", { class: "facts" },
        el("dt", {}, "Version"), el("dd", {}, shortDigest(canary.digest, { id: "canary-digest", "data-testid": "canary-digest" })),
        el("dt", {}, "Share of units"), el("dd", { id: "canary-share", "data-percent": canary.percent }, `${canary.percent}%`),
        el("dt", {}, "Contract"), el("dd", {}, canary.contract ?? "—"),
        el("dt", {}, "Decisions"), el("dd", {}, formatCount(canary.cost?.decisions)),
        el("dt", {}, "Decision time"), el("dd", {}, costText(canary.cost))),
      el("div", { class: "card-actions" },
        confirmButton({ id: "promote-canary", class: "primary" }, "Promote to everyone",
          (b) => act(b, "promote", { pending: "Promoting the canary", ok: "Canary promoted", failed: "Promote refused" })),
        confirmButton({ id: "abort-canary", class: "danger" }, "Abort canary",
          (b) => act(b, "abort", { pending: "Aborting the canary", ok: "Canary aborted", failed: "Abort refused" }))))
    : el("section", { class: "card", id: "canary", "aria-labelledby": "canary-title" },
      el("h2", { id: "canary-title" }, "Canary"),
      el("p", { class: "muted", id: "canary-none" }, "No canary is running. Publish a draft as a canary below to try it on a share of customers first."));

  const delivery = policy.delivery ?? {};
  const deliveryCard = el("section", { class: "card", id: "delivery", "aria-labelledby": "delivery-title" },
    el("h2", { id: "delivery-title" }, "Delivery"),
    el("div", { class: "figures" },
      figure("Changes", formatCount(delivery.changes), "delivery-changes"),
      figure("Manual rollbacks", formatCount(delivery.rollbacks_manual), "delivery-rollbacks-manual"),
      figure("Automatic rollbacks", formatCount(delivery.rollbacks_automatic), "delivery-rollbacks-automatic"),
      figure("Refused publishes", formatCount(delivery.failed_publishes), "delivery-failed"),
      figure("Change failure rate", delivery.change_failure_rate === null || delivery.change_failure_rate === undefined
        ? "—" : formatPercent(delivery.change_failure_rate, 0), "delivery-failure-rate")));

  const history = (policy.history ?? []).slice().reverse();
  const historyCard = el("section", { class: "card wide", id: "history", "aria-labelledby": "history-title" },
    el("h2", { id: "history-title" }, "History"),
    history.length === 0
      ? el("p", { class: "muted" }, "Nothing has happened to this policy yet.")
      : table({ id: "history-table", class: "data compact" }, ["When", "Action", "Version", "Who", "Why / detail"],
        history.map((h, i) => row({ "data-testid": `history-row-${i}`, class: `action-${h.action}` }, [
          { value: formatTime(h.at_ms), class: "nowrap" },
          el("span", { class: `badge action ${h.action}` }, ACTIONS[h.action] ?? h.action),
          shortDigest(h.digest),
          h.by ?? el("span", { class: "muted" }, "—"),
          [h.why, h.detail].filter(Boolean).join(" — ") || el("span", { class: "muted" }, "—"),
        ]))));

  const editorSection = el("section", { class: "card wide", id: "editor", "aria-labelledby": "editor-title" });
  const uploadSection = el("section", { class: "card wide", id: "upload", "aria-labelledby": "upload-title" });

  replace(view, el("section", { class: "page", id: "policy-page", "data-policy": name },
    el("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, el("a", { href: "#/policies" }, "Policies"), " / ", name),
    el("div", { class: "page-head" },
      el("h1", { id: "policy-name" }, name),
      el("button", { type: "button", id: "refresh-policy", class: "secondary", onclick: () => ctx.refresh() }, "Refresh")),
    el("div", { class: "grid" }, activeCard, canaryCard, deliveryCard),
    editorSection,
    uploadSection,
    historyCard));

  const editor = mountEditor(editorSection, policy, ctx);
  mountUpload(uploadSection, policy, ctx, editor);
}

/** Wall-clock p50 / p99 and mean CPU of a version's decisions. */
function costText(cost) {
  if (!cost || !cost.decisions) return "—";
  const ms = (v) => (typeof v === "number" ? `${v.toFixed(v < 1 ? 3 : 1)} ms` : "—");
  return `p50 ${ms(cost.wall_ms?.p50)}, p99 ${ms(cost.wall_ms?.p99)}, CPU mean ${ms(cost.cpu_ms?.mean)}`;
}
