// The hero-banner policy as GrowthBook features, evaluated in-process by the GrowthBook
// JavaScript SDK (GrowthBookClient, the multi-user server-side client) on Node.
//
// Same logic as policies/hero-banner: no personalization consent → default; loyalty tier →
// its variant; first matching segment → its variant; otherwise a 50/50 experiment on the unit
// (GrowthBook hashes with its own FNV-based scheme, not tailor-bucketing, so the two split the
// same share of units but not the same units); the creative comes from the same config.
//
//   node hero-banner.mjs <iterations>     prints one JSON line: {"system", "ns_per_decision"}
import { GrowthBookClient } from "@growthbook/growthbook";
import { readFileSync } from "node:fs";

const config = JSON.parse(readFileSync(new URL("../../policies/hero-banner/config.json", import.meta.url)));
const rules = [{ condition: { consent: { $ne: true } }, force: config.default_variant }];
for (const [tier, variant] of Object.entries(config.tier_variants)) {
  rules.push({ condition: { tier }, force: variant });
}
for (const [segment, variant] of Object.entries(config.segment_variants)) {
  rules.push({ condition: { segments: { $elemMatch: { $eq: segment } } }, force: variant });
}
const arms = Object.entries(config.experiment.arms);
const total = arms.reduce((sum, [, w]) => sum + w, 0);
rules.push({
  key: config.experiment.key,
  hashAttribute: "id",
  variations: arms.map(([variant]) => variant),
  weights: arms.map(([, w]) => w / total),
});
const client = new GrowthBookClient();
client.initSync({ payload: { features: { "hero-banner": { defaultValue: config.default_variant, rules } } } });

/// One decision: what tailor's hero-banner returns (variant, reason, creative, ttl).
function decide(profile) {
  const attributes = {
    id: profile.customer_id,
    consent: profile.consent.personalization,
    tier: profile.loyalty ? profile.loyalty.tier : null,
    segments: profile.segments,
  };
  const result = client.evalFeature("hero-banner", { attributes });
  const variant = result.value;
  const reason = result.source === "experiment" ? "SPLIT" : result.source === "force" && attributes.consent === true ? "TARGETING_MATCH" : "DEFAULT";
  return { variant, reason, render: config.variants[variant], ttl_seconds: config.ttl_seconds };
}

// The same mix of profiles as the Rust harness: platinum, gold, a segment, untargeted, no consent.
const profiles = [
  { customer_id: "cust-000871", consent: { personalization: true }, loyalty: { tier: "platinum" }, segments: [] },
  { customer_id: "cust-000412", consent: { personalization: true }, loyalty: { tier: "gold" }, segments: [] },
  { customer_id: "cust-000033", consent: { personalization: true }, loyalty: null, segments: ["cart_abandoner"] },
  { customer_id: "cust-000123", consent: { personalization: true }, loyalty: null, segments: [] },
  { customer_id: "cust-000999", consent: { personalization: false }, loyalty: { tier: "platinum" }, segments: [] },
];
const expected = ["vip-early-access", "gold-double-points", "cart-reminder", null, config.default_variant];
profiles.forEach((p, i) => {
  const got = decide(p).variant;
  if (expected[i] !== null && got !== expected[i]) throw new Error(`profile ${i}: ${got} != ${expected[i]}`);
});
const iterations = Number(process.argv[2] || 200000);
for (let i = 0; i < 20000; i++) decide(profiles[i % profiles.length]);
let sink = 0;
const started = process.hrtime.bigint();
for (let i = 0; i < iterations; i++) sink += decide(profiles[i % profiles.length]).variant.length;
const elapsed = Number(process.hrtime.bigint() - started);
console.log(JSON.stringify({ system: "growthbook-js", policy: "hero-banner", ns_per_decision: elapsed / iterations, sink }));
