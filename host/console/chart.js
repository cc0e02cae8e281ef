// The experiment chart: conversion rate per arm as SVG bars with 95% interval whiskers.

import { svg } from "./dom.js";

/** The 95% Wilson score interval of `successes` out of `trials`, as `[low, high]`. */
export function wilson(successes, trials) {
  if (!trials) return [0, 0];
  const z = 1.959963984540054;
  const p = successes / trials;
  const z2 = z * z;
  const centre = (p + z2 / (2 * trials)) / (1 + z2 / trials);
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / (1 + z2 / trials);
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** A tick step that gives about five ticks up to `max`. */
function step(max) {
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
}

const pct = (v, digits) => `${(v * 100).toFixed(digits)}%`;

/** The chart for `arms` (`{variant, exposures, conversions, conversion_rate}`), control marked. */
export function rateChart(arms, control, attributes = {}) {
  // Room on the left for the longest label (about 7 units a character at this size).
  const longest = Math.max(...arms.map((a) => a.variant.length + (a.variant === control ? 10 : 0)));
  const left = Math.min(320, Math.max(120, 20 + longest * 7.5));
  const width = 570 + left;
  const barArea = 44;
  const right = 90;
  const top = 28;
  const height = top + arms.length * barArea + 36;
  const plotWidth = width - left - right;
  const intervals = arms.map((a) => wilson(a.conversions, a.exposures));
  const highest = Math.max(0.001, ...intervals.map((i) => i[1]), ...arms.map((a) => a.conversion_rate));
  const tick = step(highest);
  const max = Math.ceil(highest / tick) * tick;
  const x = (v) => left + (v / max) * plotWidth;
  const digits = max < 0.05 ? 2 : 1;

  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "aria-label": "Conversion rate per arm with 95% intervals",
    ...attributes,
  });
  chart.append(svg("title", {}, "Conversion rate per arm with 95% intervals"));

  for (let v = 0; v <= max + tick / 2; v += tick) {
    chart.append(
      svg("line", { x1: x(v), x2: x(v), y1: top - 6, y2: height - 30, class: "gridline" }),
      svg("text", { x: x(v), y: height - 12, class: "axis", "text-anchor": "middle" }, pct(v, digits)),
    );
  }

  arms.forEach((arm, index) => {
    const y = top + index * barArea;
    const [low, high] = intervals[index];
    const mid = y + barArea / 2 - 4;
    const isControl = arm.variant === control;
    const group = svg("g", { class: isControl ? "arm control" : "arm", "data-testid": `chart-arm-${arm.variant}` });
    group.append(
      svg("title", {}, `${arm.variant}: ${pct(arm.conversion_rate, 2)} (95% interval ${pct(low, 2)}–${pct(high, 2)}), ` +
        `${arm.conversions} of ${arm.exposures} units`),
      svg("text", { x: left - 10, y: mid + 4, class: "label", "text-anchor": "end" },
        isControl ? `${arm.variant} (control)` : arm.variant),
      svg("rect", { x: left, y: mid - 11, width: Math.max(0, x(arm.conversion_rate) - left), height: 22, rx: 2, class: "bar" }),
      svg("line", { x1: x(low), x2: x(high), y1: mid, y2: mid, class: "whisker" }),
      svg("line", { x1: x(low), x2: x(low), y1: mid - 7, y2: mid + 7, class: "whisker" }),
      svg("line", { x1: x(high), x2: x(high), y1: mid - 7, y2: mid + 7, class: "whisker" }),
      svg("text", { x: Math.max(x(high), x(arm.conversion_rate)) + 8, y: mid + 4, class: "value" }, pct(arm.conversion_rate, 2)),
    );
    chart.append(group);
  });
  chart.append(svg("line", { x1: left, x2: left, y1: top - 6, y2: height - 30, class: "axis-line" }));
  return chart;
}
