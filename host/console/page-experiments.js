// #/experiments and #/experiments/<key>?policy=<name>: each experiment's arms, and one
// experiment's results as a chart of conversion rates with their intervals and a table.

import { get, seg } from "./api.js";
import { rateChart, wilson } from "./chart.js";
import { el, figure, formatCount, formatPercent, replace, row, table } from "./dom.js";

const link = (e) => `#/experiments/${seg(e.key)}?policy=${seg(e.policy)}`;

export async function renderList(view, _params, ctx) {
  let data;
  try {
    data = await get("/admin/v1/experiments");
  } catch (error) {
    if (error.code !== "outcomes_off") throw error;
    if (!ctx.current()) return;
    replace(view, page(el("p", { class: "empty", id: "experiments-off" }, error.message)));
    return;
  }
  const experiments = data.experiments ?? [];
  const defined = await definedExperiments(experiments);
  if (!ctx.current()) return;
  const rows = experiments.concat(defined).map((e) => {
    const arms = e.arms ?? [];
    const exposures = arms.reduce((sum, a) => sum + (a.exposures ?? 0), 0);
    const best = arms.filter((a) => a.versus_control)
      .sort((a, b) => b.versus_control.probability_to_beat_control - a.versus_control.probability_to_beat_control)[0];
    return row({ "data-testid": `experiment-row-${e.key}` }, [
      el("a", { href: link(e), class: "strong", "data-testid": "experiment-link" }, e.key),
      e.policy,
      { value: formatCount(arms.length), class: "num" },
      { value: formatCount(exposures), class: "num" },
      best ? `${best.variant}: ${formatPercent(best.versus_control.probability_to_beat_control, 0)}` : el("span", { class: "muted" }, "—"),
      srmBadge(e.srm),
    ]);
  });
  replace(view, page(rows.length === 0
    ? el("p", { class: "empty", id: "experiments-empty" }, "No policy defines an experiment and no experiment has exposures on this node.")
    : table({ id: "experiments-table", class: "data" },
      ["Experiment", "Policy", { label: "Arms", class: "num" }, { label: "Exposed units", class: "num" }, "Best P(beats control)", "Sample ratio"], rows)));
}

/**
 * Experiments the served policies' configs define (`experiment` or `experiments[]`) that have
 * no exposures yet, so they are not in the node's list: `{key, policy, arms: []}`.
 */
async function definedExperiments(listed) {
  const seen = new Set(listed.map((e) => `${e.policy}\u0000${e.key}`));
  let policies = [];
  try {
    policies = (await get("/admin/v1/policies")).policies ?? [];
  } catch {
    return [];
  }
  const found = await Promise.all(policies.map(async (p) => {
    try {
      const detail = await get(`/admin/v1/policies/${seg(p.name)}`);
      const config = JSON.parse(detail.active?.config ?? "null");
      const list = Array.isArray(config?.experiments) ? config.experiments : [config?.experiment];
      return list.filter((x) => x && typeof x.key === "string").map((x) => ({ key: x.key, policy: p.name, arms: [], srm: null }));
    } catch {
      return [];
    }
  }));
  return found.flat().filter((e) => !seen.has(`${e.policy}\u0000${e.key}`));
}

function page(content) {
  return el("section", { class: "page", id: "experiments-page" },
    el("div", { class: "page-head" },
      el("h1", {}, "Experiments"),
      el("p", { class: "lede" }, "Results of the experiments policies run: conversions per arm, lift over control and the chance each arm beats it.")),
    content);
}

function srmBadge(srm) {
  if (!srm) return el("span", { class: "muted" }, "—");
  return srm.mismatch
    ? el("span", { class: "badge error", title: `p = ${srm.p_value.toExponential(2)}` }, "mismatch")
    : el("span", { class: "badge ok", title: `p = ${srm.p_value.toFixed(3)}` }, "ok");
}

export async function render(view, { key }, ctx) {
  const policy = ctx.query.get("policy");
  const query = policy ? `?policy=${seg(policy)}` : "";
  const e = await get(`/admin/v1/experiments/${seg(key)}${query}`);
  if (!ctx.current()) return;
  const arms = e.arms ?? [];
  const exposures = arms.reduce((sum, a) => sum + (a.exposures ?? 0), 0);
  const conversions = arms.reduce((sum, a) => sum + (a.conversions ?? 0), 0);

  const rows = arms.map((a) => {
    const [low, high] = wilson(a.conversions, a.exposures);
    const v = a.versus_control;
    return row({ "data-testid": `arm-row-${a.variant}`, class: a.variant === e.control ? "control" : "" }, [
      el("span", {}, el("code", {}, a.variant), a.variant === e.control ? el("span", { class: "badge" }, "control") : null),
      { value: a.weight, class: "num" },
      { value: formatCount(a.exposures), class: "num" },
      { value: formatCount(a.conversions), class: "num" },
      { value: formatPercent(a.conversion_rate, 2), class: "num", title: `95% interval ${formatPercent(low, 2)}–${formatPercent(high, 2)}` },
      { value: a.value_per_unit === undefined ? "—" : a.value_per_unit.toFixed(2), class: "num" },
      v ? { value: `${signed(v.lift)} [${signed(v.lift_interval_95[0])}, ${signed(v.lift_interval_95[1])}]`, class: "num nowrap" } : { value: "—", class: "num muted" },
      v ? { value: formatPercent(v.probability_to_beat_control, 1), class: `num ${v.probability_to_beat_control >= 0.95 ? "up" : v.probability_to_beat_control <= 0.05 ? "down" : ""}` } : { value: "—", class: "num muted" },
    ]);
  });

  const srm = e.srm;
  const srmPanel = srm
    ? el("div", { class: `callout ${srm.mismatch ? "error" : "ok"}`, id: "experiment-srm", role: srm.mismatch ? "alert" : undefined },
      el("strong", {}, srm.mismatch ? "Sample ratio mismatch. " : "Sample ratio as configured. "),
      `Observed ${srm.observed.map(formatCount).join(" / ")} units against expected shares ` +
      `${srm.expected_shares.map((s) => formatPercent(s, 0)).join(" / ")} (χ² = ${fixed(srm.chi_square, 2)}, p = ${fixed(srm.p_value, 4)}).`,
      srm.mismatch ? " The split is not what the weights say: check the assignment before trusting these results." : "")
    : el("p", { class: "muted", id: "experiment-srm" }, "The sample-ratio check needs two weighted arms with exposures.");

  const nodes = Array.isArray(e.nodes) && e.nodes.length
    ? el("section", { class: "card wide", id: "experiment-nodes" },
      el("h2", {}, "Per node"),
      table({ class: "data compact" }, ["Node", "Variant", { label: "Exposures", class: "num" }, { label: "Conversions", class: "num" }],
        e.nodes.flatMap((n) => (n.arms ?? []).map((a) => row({}, [n.node, el("code", {}, a.variant),
          { value: formatCount(a.exposures), class: "num" }, { value: formatCount(a.conversions), class: "num" }])))))
    : null;

  replace(view, el("section", { class: "page", id: "experiment-page", "data-key": key },
    el("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, el("a", { href: "#/experiments" }, "Experiments"), " / ", key),
    el("div", { class: "page-head" },
      el("h1", { id: "experiment-key" }, key),
      el("p", { class: "lede" }, "Policy ", el("a", { href: `#/policies/${seg(e.policy)}`, id: "experiment-policy" }, e.policy),
        `. Counts ${(e.outcomes?.kinds ?? []).join(", ") || "the default outcomes"} within ${e.outcomes?.window_hours ?? "?"} h of exposure; `,
        "Bayesian beta-binomial comparison.",
        e.defined === false ? " No serving config defines this experiment any more." : "")),
    el("div", { class: "figures" },
      figure("Exposed units", formatCount(exposures), "experiment-exposures"),
      figure("Converted units", formatCount(conversions), "experiment-conversions"),
      figure("Overall rate", exposures ? formatPercent(conversions / exposures, 2) : "—", "experiment-rate")),
    el("section", { class: "card wide" },
      el("h2", {}, "Conversion rate per arm"),
      arms.length ? rateChart(arms, e.control, { id: "experiment-chart", "data-testid": "experiment-chart" }) : el("p", { class: "muted" }, "No arms yet."),
      el("p", { class: "hint" }, "Bars are conversion rates; whiskers are 95% (Wilson) intervals of each rate.")),
    el("section", { class: "card wide" },
      el("h2", {}, "Arms"),
      table({ id: "experiment-arms", class: "data" }, ["Arm", { label: "Weight", class: "num" }, { label: "Exposed", class: "num" },
        { label: "Converted", class: "num" }, { label: "Rate", class: "num" }, { label: "Value / unit", class: "num" },
        { label: "Lift vs control [95%]", class: "num" }, { label: "P(beats control)", class: "num" }], rows),
      srmPanel),
    nodes));
}

function signed(share) {
  if (!Number.isFinite(share)) return "—";
  return `${share >= 0 ? "+" : "−"}${Math.abs(share * 100).toFixed(1)}%`;
}

function fixed(n, digits) {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}
