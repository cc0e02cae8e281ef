#!/usr/bin/env python3
"""Drives a bandit simulation through `tailor serve` over HTTP (used by bench/bandit.sh).

    bandit.py ADDR POLICY VISITORS SEED

Each visitor is a new anonymous unit: one /v1/decide for the `home-hero` slot of POLICY, then,
with the chosen creative's true conversion rate, a click posted to /v1/events naming the
decision. Prints one JSON line per checkpoint: visitors so far, expected regret (the sum over
visitors of the best rate minus the chosen arm's rate), the best arm's share of all traffic and
of the last 10% of visitors, and each arm's count.
"""
import http.client
import json
import random
import sys

RATES = {"spring-brand": 0.03, "spring-lifestyle": 0.035, "summer-preview": 0.05}
BEST = max(RATES, key=RATES.get)
CHECKPOINTS = (10_000, 50_000, 100_000)


def main():
    addr, policy, visitors, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    host, port = addr.replace("http://", "").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    rng = random.Random(seed)
    headers = {"content-type": "application/json"}
    regret = 0.0
    counts = {arm: 0 for arm in RATES}
    chosen = []
    for n in range(1, visitors + 1):
        unit = f"sim-{seed}-{n}"
        body = {
            "channel": "web",
            "unit": {"anonymous_id": unit},
            "consent": {"personalization": True, "analytics": True},
            "slots": [{"id": "home-hero", "policy": policy}],
        }
        conn.request("POST", "/v1/decide", json.dumps(body), headers)
        reply = conn.getresponse()
        answer = json.loads(reply.read())
        if reply.status != 200:
            sys.exit(f"decide answered {reply.status}: {answer}")
        slot = answer["slots"][0]
        arm = slot.get("variant")
        if arm not in RATES or "error" in slot:
            sys.exit(f"unexpected slot: {slot}")
        counts[arm] += 1
        chosen.append(arm)
        regret += RATES[BEST] - RATES[arm]
        if rng.random() < RATES[arm]:
            event = {
                "events": [{
                    "event_id": f"click-{seed}-{n}",
                    "customer_id": unit,
                    "kind": "click",
                    "at_ms": answer_time_ms(),
                    "decision_id": answer["decision_id"],
                    "slot": "home-hero",
                }]
            }
            conn.request("POST", "/v1/events", json.dumps(event), headers)
            reply = conn.getresponse()
            text = reply.read()
            if reply.status != 202:
                sys.exit(f"events answered {reply.status}: {text!r}")
        if n in CHECKPOINTS or n == visitors:
            window = chosen[-max(1, n // 10):]
            print(json.dumps({
                "visitors": n,
                "regret": round(regret, 2),
                "best_share": round(counts[BEST] / n, 4),
                "best_share_recent": round(window.count(BEST) / len(window), 4),
                "counts": counts,
            }), flush=True)


def answer_time_ms():
    import time
    return int(time.time() * 1000)


if __name__ == "__main__":
    main()
