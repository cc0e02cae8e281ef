// #/policies: every policy the node serves, its active version and any canary.

import { get, seg } from "./api.js";
import { el, replace, row, shortDigest, table } from "./dom.js";

export async function renderList(view, _params, ctx) {
  const data = await get("/admin/v1/policies");
  if (!ctx.current()) return;
  const policies = (data.policies ?? []).slice().sort((a, b) => a.name.localeCompare(b.name));
  const rows = policies.map((p) => row({ "data-testid": `policy-row-${p.name}`, "data-policy": p.name }, [
    el("a", { href: `#/policies/${seg(p.name)}`, id: `policy-link-${p.name}`, class: "strong" }, p.name),
    shortDigest(p.digest),
    p.canary
      ? el("span", { class: "badge canary", "data-testid": `policy-canary-${p.name}` }, `${p.canary.percent}% canary `, shortDigest(p.canary.digest))
      : el("span", { class: "muted" }, "none"),
    el("a", { href: `#/policies/${seg(p.name)}`, class: "button-link secondary" }, "Open"),
  ]));
  replace(view,
    el("section", { class: "page", id: "policies-page" },
      el("div", { class: "page-head" },
        el("h1", {}, "Policies"),
        el("p", { class: "lede" }, "What this node serves. Open a policy to edit its config, preview a change, publish it or roll it back.")),
      policies.length === 0
        ? el("p", { class: "empty", id: "policies-empty" }, "This node serves no policies.")
        : table({ id: "policies-table", class: "data" },
          ["Policy", "Active version", "Canary", { label: "", class: "actions" }], rows)));
}
