# The hero-banner policy in Rego, evaluated in-process by regorus (Microsoft's Rust Rego
# engine). Same logic as policies/hero-banner: no personalization consent → default; loyalty
# tier → its variant; first matching segment (in the config's order) → its variant; otherwise a
# 50/50 experiment on the unit (see `arm`: not tailor-bucketing's MurmurHash3, so about the
# same share of units but not the same units); creative and TTL from the same config
# document, given as `data.config`.
package hero

import rego.v1

default_variant := data.config.default_variant

consented if input.profile.consent.personalization == true

tier_variant := data.config.tier_variants[input.profile.loyalty.tier]

# Segment priority is the config's document order, which a Rego object does not keep: the
# harness passes it as `data.segment_order`.
segment_hits contains i if {
	some i, segment in data.segment_order
	segment in input.profile.segments
}

segment_variant := data.config.segment_variants[data.segment_order[min(segment_hits)]] if count(segment_hits) > 0

unit := input.profile.customer_id

# regorus has no hash builtin (no crypto.*): the split is the parity of a checksum over the
# salted unit's bytes, read through its hex encoding, one character at a time.
arm := variant if {
	digits := "0123456789abcdef"
	encoded := hex.encode(concat(":", [data.config.experiment.key, unit]))
	checksum := sum([indexof(digits, c) | some c in split(encoded, "")])
	variant := data.arm_order[checksum % 2]
}

choice := {"variant": default_variant, "reason": "DEFAULT"} if {
	not consented
} else := {"variant": tier_variant, "reason": "TARGETING_MATCH"} if {
	tier_variant
} else := {"variant": segment_variant, "reason": "TARGETING_MATCH"} if {
	segment_variant
} else := {"variant": arm, "reason": "SPLIT"} if {
	arm
} else := {"variant": default_variant, "reason": "DEFAULT"}

decision := {
	"variant": choice.variant,
	"reason": choice.reason,
	"render": data.config.variants[choice.variant],
	"ttl_seconds": data.config.ttl_seconds,
}
