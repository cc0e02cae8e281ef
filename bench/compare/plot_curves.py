"""Plots the cost curves `curves` prints (CSV: curve,x,ns_per_op) into one PNG.

    python plot_curves.py curves.csv out.png
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TITLES = {
    "profiles_in_store": ("profiles in the store", "lookup + decision, µs"),
    "traits_per_profile": ("traits per profile", "decision, µs"),
    "policies_loaded": ("policies loaded", "resolve + decision, µs"),
    "slots_per_request": ("slots per request", "whole request, µs"),
    "policy_size": ("policy component size, bytes", "decision, µs"),
}

rows = list(csv.DictReader(open(sys.argv[1])))
curves = [c for c in TITLES if any(r["curve"] == c for r in rows)]
fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.4))
for ax, curve in zip(axes, curves):
    xlabel, ylabel = TITLES[curve]
    points = [(float(r["x"]), float(r["ns_per_op"]) / 1000) for r in rows if r["curve"] == curve]
    xs, ys = zip(*points)
    ax.plot(xs, ys, marker="o")
    if curve != "slots_per_request":  # slots grow linearly by design: a linear axis shows it
        ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
fig.suptitle(
    "tailor: cost as things grow (fresh instance per decision; hero-banner, and a policy of graded"
    " size for the last)"
)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
