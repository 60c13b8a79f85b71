"""The sample org's first-party KPI (shared/samples/config/kpi.csv): daily shop revenue for the sample exports'
dates, from their daily spend per platform through known response curves, a weekday pattern and noise.
TikTok has no incremental effect (its platform still attributes revenue to it). Deterministic (seed 20261201).

Run after the main job has stored the sample records: python sample_kpi.py /path/to/.liftos/liftos.db
"""
import collections
import json
import sqlite3
import sys

import random

db = sys.argv[1] if len(sys.argv) > 1 else ".liftos/liftos.db"
c = sqlite3.connect(db)
spend = collections.defaultdict(lambda: collections.defaultdict(float))
for platform, ts, body in c.execute("select platform, ts, body from records"):
    spend[platform][ts[:10]] += json.loads(body)["metrics"]["spend"]
days = sorted({d for p in spend.values() for d in p})
truth = {  # beta (revenue per day at saturation), half-saturation, carry-over
    "meta": (9000.0, 1500.0, 0.4),
    "google_ads": (8000.0, 2500.0, 0.2),
    "linkedin": (1500.0, 500.0, 0.3),
    "tiktok": (0.0, 1000.0, 0.3),
}
rng = random.Random(20261201)
weekday = [0, 300, 400, 350, 600, 900, -500]
out = ["date,revenue"]
ad = {p: None for p in truth}
for i, d in enumerate(days):
    y = 12000.0 + 20.0 * i + weekday[i % 7] + rng.gauss(0, 250)
    for p, (beta, kappa, theta) in truth.items():
        x = spend[p].get(d, 0.0)
        ad[p] = x if ad[p] is None else theta * ad[p] + (1 - theta) * x
        y += beta * ad[p] / (ad[p] + kappa)
    out.append(f"{d},{y:.2f}")
open(sys.argv[2] if len(sys.argv) > 2 else "kpi.csv", "w").write("\n".join(out) + "\n")
print(len(days), "days")
