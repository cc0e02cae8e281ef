// #/status: the node at a glance: its snapshot (and whether it is encrypted at rest, and how
// many customers were erased), policies, draining, and its fleet link.

import { get } from "./api.js";
import { el, figure, formatAge, formatBytes, formatCount, formatTime, replace } from "./dom.js";

export async function render(view, _params, ctx) {
  const node = await get("/admin/v1/status");
  if (!ctx.current()) return;
  const s = node.snapshot ?? {};
  const fleet = node.fleet;
  replace(view, el("section", { class: "page", id: "status-page" },
    el("div", { class: "page-head" },
      el("h1", {}, "Node status"),
      el("button", { type: "button", id: "refresh-status", class: "secondary", onclick: () => ctx.refresh() }, "Refresh")),
    el("div", { class: "grid" },
      el("section", { class: "card", id: "status-serving" },
        el("h2", {}, "Serving"),
        el("div", { class: "figures" },
          figure("State", node.draining ? "Draining" : "Serving", "status-draining", node.draining ? "warn" : "ok"),
          figure("Policies", formatCount(node.policies), "status-policies"))),
      el("section", { class: "card", id: "status-snapshot" },
        el("h2", {}, "Profile snapshot"),
        el("div", { class: "figures" },
          figure("Profiles", formatCount(s.profiles), "status-profiles"),
          figure("Version", s.snapshot_version ?? "—", "status-snapshot-version"),
          figure("Age", formatAge(s.age_seconds), "status-snapshot-age"),
          figure("Size", formatBytes(s.store_bytes), "status-store-bytes")),
        el("dl", { class: "facts" },
          el("dt", {}, "Generated"), el("dd", { id: "status-generated" }, formatTime(s.generated_at_ms)),
          el("dt", {}, "Loaded"), el("dd", { id: "status-loaded" }, formatTime(s.loaded_at_ms)),
          el("dt", {}, "At rest"), el("dd", { id: "status-encrypted" }, s.encrypted ? "Encrypted" : "Not encrypted"),
          el("dt", {}, "Erased customers"), el("dd", { id: "status-erased" }, formatCount(node.erased_customers)))),
      el("section", { class: "card", id: "status-fleet" },
        el("h2", {}, "Fleet link"),
        fleet
          ? [el("div", { class: "figures" },
            figure("Broker", fleet.broker ?? "—", "status-broker", fleet.broker === "connected" ? "ok" : "warn"),
            figure("Outbox", formatCount(fleet.outbox_depth), "status-outbox"),
            figure("Consumer lag", formatCount(fleet.consumer_lag), "status-lag")),
          el("dl", { class: "facts" },
            el("dt", {}, "Node id"), el("dd", {}, fleet.node_id ?? "—"),
            el("dt", {}, "Servers"), el("dd", {}, (fleet.servers ?? []).join(", ") || "—"),
            el("dt", {}, "Events forwarded"), el("dd", {}, formatCount(fleet.events_forwarded)),
            el("dt", {}, "Remote events applied"), el("dd", {}, formatCount(fleet.remote_events_applied)),
            el("dt", {}, "Duplicates dropped"), el("dd", {}, formatCount(fleet.duplicates_dropped)))]
          : el("p", { class: "muted", id: "status-no-fleet" }, "This node has no broker: it serves on its own.")))));
  const profiles = view.querySelector("#status-profiles");
  if (profiles) profiles.dataset.value = String(s.profiles ?? "");
}
