"""Simulate a 2-year daily marketing history with known curves (the MMM's benchmark and example data).

KPI = base + trend + yearly and weekly demand + promotions + sum over channels of
beta * a / (a + kappa), a the channel's geometric adstock (normalised, carry-over theta),
plus AR(1) noise. Spend is paced to the seasonal demand, with dark days; `display` has no effect.
Writes the CSV and the true ROI per channel (JSON) next to it. Deterministic (seed 20261201).
"""
import json
import sys

import numpy as np

rng = np.random.default_rng(20261201)
n = 730
days = np.arange(n)
dates = np.datetime64("2024-01-01") + days
w = 2 * np.pi * days / 365.25
demand = 600 * np.sin(w) + 300 * np.cos(2 * w) + 250 * np.sin(2 * np.pi * days / 7)
promo = (rng.uniform(size=n) < 0.06).astype(float)
truth = {
    "search": dict(beta=3000.0, kappa=8000.0, theta=0.5, level=6000.0),
    "social": dict(beta=1500.0, kappa=3000.0, theta=0.3, level=3000.0),
    "video": dict(beta=2000.0, kappa=6000.0, theta=0.7, level=4000.0),
    "affiliates": dict(beta=800.0, kappa=1500.0, theta=0.1, level=1500.0),
    "display": dict(beta=0.0, kappa=4000.0, theta=0.3, level=4000.0),
}
e = 0.0
noise = np.empty(n)
for t in range(n):
    e = 0.3 * e + 150 * rng.normal()
    noise[t] = e
kpi = 10000 + 2 * days + demand + 700 * promo + noise
cols = {"date": [str(d) for d in dates]}
roi = {}
for name, p in truth.items():
    x = p["level"] * (1 + 0.3 * demand / 600) * (0.5 + rng.uniform(size=n))
    x[rng.uniform(size=n) < 0.08] = 0.0
    a = np.empty(n)
    s = x[0]
    for t in range(n):
        s = p["theta"] * s + (1 - p["theta"]) * x[t]
        a[t] = s
    contrib = p["beta"] * a / (a + p["kappa"])
    kpi += contrib
    roi[name] = float(contrib.sum() / x.sum())
    cols[name] = np.round(x, 2)
cols["kpi"] = np.round(kpi, 2)
cols["promo"] = promo
out = sys.argv[1] if len(sys.argv) > 1 else "mmm_daily.csv"
import csv

with open(out, "w", newline="") as f:
    wr = csv.writer(f)
    keys = ["date", "kpi", "search", "social", "video", "affiliates", "display", "promo"]
    wr.writerow(keys)
    for t in range(n):
        wr.writerow([cols[k][t] for k in keys])
with open(out.replace(".csv", "_truth.json"), "w") as f:
    json.dump({"roi": roi, "curves": truth}, f, indent=1, sort_keys=True)
print(json.dumps(roi))
