"""Request bodies and peer set-up for bench/compare-http.sh, from tailor's own sample snapshot.

    http_requests.py SNAPSHOT CONFIG OUT_DIR

Writes, for the same customers in the same order:
  tailor.txt    one /v1/decide body per line (the profile comes from tailor's store)
  wasmtime.txt  one body per line for the wasi:http component, carrying the profile fields
                tailor would read from its store (consent, tier, segments)
  unleash.txt   one query string per line for Unleash Edge's frontend API (the same fields as
                Unleash context properties)
  unleash-features.json   the hero-banner policy as an Unleash feature (offline bootstrap)
  expected.tsv  customer, variant tailor's logic gives when it does not depend on the
                experiment's hash (Unleash hashes units its own way), or "*"
"""

import json
import sys
from urllib.parse import urlencode

snapshot, config_path, out = sys.argv[1:4]
config = json.load(open(config_path))
CUSTOMERS = 10_000

profiles = []
with open(snapshot) as f:
    next(f)  # header line
    for line in f:
        p = json.loads(line)
        loyalty = p.get("loyalty") or {}
        profiles.append(
            {
                "id": p["customer_id"],
                "consent": bool((p.get("consent") or {}).get("personalization")),
                "tier": loyalty.get("tier"),
                "segments": p.get("segments") or [],
            }
        )
        if len(profiles) == CUSTOMERS:
            break


def expected(p):
    if not p["consent"]:
        return config["default_variant"]
    if p["tier"] in config["tier_variants"]:
        return config["tier_variants"][p["tier"]]
    for segment, variant in config["segment_variants"].items():
        if segment in p["segments"]:
            return variant
    return "*"


with open(f"{out}/tailor.txt", "w") as t, open(f"{out}/wasmtime.txt", "w") as w, open(
    f"{out}/unleash.txt", "w"
) as u, open(f"{out}/expected.tsv", "w") as e:
    for p in profiles:
        t.write(
            json.dumps(
                {
                    "channel": "web",
                    "unit": {"customer_id": p["id"]},
                    "slots": [{"id": "hero", "policy": "hero-banner"}],
                },
                separators=(",", ":"),
            )
            + "\n"
        )
        w.write(
            json.dumps(
                {
                    "unit": {"customer_id": p["id"]},
                    "slot": "hero",
                    "profile": {"consent": p["consent"], "tier": p["tier"], "segments": p["segments"]},
                },
                separators=(",", ":"),
            )
            + "\n"
        )
        query = {"userId": p["id"], "consent": str(p["consent"]).lower()}
        if p["tier"]:
            query["tier"] = p["tier"]
        if p["segments"]:
            query["segments"] = ",".join(p["segments"])
        u.write(urlencode(query) + "\n")
        e.write(f"{p['id']}\t{expected(p)}\n")


def variant(name, weight=1000, stickiness="default"):
    creative = config["variants"][name]
    return {
        "name": name,
        "weight": weight,
        "weightType": "variable",
        "stickiness": stickiness,
        "payload": {"type": "json", "value": json.dumps(creative)},
    }


def targeted(constraints, name):
    return {"name": "default", "parameters": {}, "constraints": constraints, "variants": [variant(name)]}


# Unleash evaluates strategies in order and answers with the variants of the first one that
# matches: the same priority as the policy (consent, tier, segment, experiment).
strategies = [
    targeted([{"contextName": "consent", "operator": "NOT_IN", "values": ["true"]}], config["default_variant"])
]
for tier, name in config["tier_variants"].items():
    strategies.append(targeted([{"contextName": "tier", "operator": "IN", "values": [tier]}], name))
for segment, name in config["segment_variants"].items():
    # Segments travel as one comma-joined property; no segment name contains another.
    strategies.append(
        targeted([{"contextName": "segments", "operator": "STR_CONTAINS", "values": [segment]}], name)
    )
experiment = config["experiment"]
arms = experiment["arms"]
total = sum(arms.values())
strategies.append(
    {
        "name": "flexibleRollout",
        "parameters": {"rollout": "100", "stickiness": "userId", "groupId": experiment["key"]},
        "constraints": [],
        "variants": [variant(a, round(1000 * w / total), "userId") for a, w in arms.items()],
    }
)
features = {
    "version": 2,
    "features": [
        {
            "name": "hero-banner",
            "type": "experiment",
            "enabled": True,
            "project": "default",
            "strategies": strategies,
        }
    ],
}
json.dump(features, open(f"{out}/unleash-features.json", "w"), indent=1)
print(len(profiles))
