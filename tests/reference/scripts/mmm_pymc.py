"""PyMC-Marketing on the same simulated history as `liftos mmm` (tests/reference/data/mmm_daily.csv, from
mmm_simulate.py): ROI per channel (posterior mean and 90% interval of the contribution over the history divided by
the spend), the adstock and half-saturation recovered, and the wall time. Writes tests/reference/mmm_pymc.json.

Same model family as liftos: geometric adstock (normalised, l_max 21), Michaelis-Menten saturation, yearly Fourier
(2 modes), a trend and weekly sin/cos (3 modes) and the promo column as controls. NUTS, 2 chains x 500 draws after
500 tuning steps. Run with the venv that has pymc-marketing (0.19.2 here): python mmm_pymc.py
"""
import json
import os
import time

import numpy as np
import pandas as pd
import pymc_marketing
from pymc_marketing.mmm import MMM, GeometricAdstock, MichaelisMentenSaturation

here = os.path.dirname(os.path.abspath(__file__))
data = pd.read_csv(os.path.join(here, "..", "data", "mmm_daily.csv"), parse_dates=["date"])
truth = json.load(open(os.path.join(here, "..", "data", "mmm_daily_truth.json")))
channels = ["search", "social", "video", "affiliates", "display"]
t = np.arange(len(data))
data["trend"] = t / len(data) - 0.5
for k in range(1, 4):
    data[f"weekly_sin{k}"] = np.sin(2 * np.pi * k * data["date"].dt.dayofweek / 7)
    data[f"weekly_cos{k}"] = np.cos(2 * np.pi * k * data["date"].dt.dayofweek / 7)
controls = ["promo", "trend"] + [f"weekly_{f}{k}" for k in range(1, 4) for f in ("sin", "cos")]

start = time.time()
mmm = MMM(
    date_column="date",
    channel_columns=channels,
    control_columns=controls,
    adstock=GeometricAdstock(l_max=21, normalize=True),
    saturation=MichaelisMentenSaturation(),
    yearly_seasonality=2,
)
X = data[["date"] + channels + controls]
y = data["kpi"]
mmm.fit(X, y, chains=2, draws=500, tune=500, random_seed=20261201, progressbar=False, cores=2)
fit_s = time.time() - start
contrib = mmm.compute_channel_contribution_original_scale()  # (chain, draw, date, channel)
total = contrib.sum("date")
roi = {}
for c in channels:
    s = total.sel(channel=c).values.ravel() / data[c].sum()
    roi[c] = {"mean": float(s.mean()), "ci_low": float(np.quantile(s, 0.05)), "ci_high": float(np.quantile(s, 0.95)),
              "truth": truth["roi"][c]}
post = mmm.idata.posterior
adstock = {c: float(post["adstock_alpha"].sel(channel=c).mean()) for c in channels}
# Michaelis-Menten lam is on the channel's max-scaled spend: back to spend units.
scale = {c: float(data[c].max()) for c in channels}
half = {c: float(post["saturation_lam"].sel(channel=c).mean()) * scale[c] for c in channels}
out = {
    "_about": f"pymc-marketing {pymc_marketing.__version__}, NUTS 2 chains x 500 draws (500 tune), "
              "on tests/reference/data/mmm_daily.csv; ROI = contribution over the history / spend, 90% quantiles",
    "seconds": fit_s,
    "roi": roi,
    "adstock": adstock,
    "half_saturation": half,
    "divergences": int(mmm.idata.sample_stats["diverging"].sum()),
}
json.dump(out, open(os.path.join(here, "..", "mmm_pymc.json"), "w"), indent=1)
print(json.dumps(out, indent=1))
