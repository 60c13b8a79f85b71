"""DRDID's trimming of controls with propensity >= 0.995: csdid 0.4.3's drdid_trim.drdid_panel
and std_ipw_did_panel (R DRDID's estimators with trim.level = 0.995) on a 2x2 panel where a
covariate pushes some controls' propensity past 0.995.

    python drdid_trim.py OUT_DIR   -> OUT_DIR/drdid_trim.json, OUT_DIR/data/drdid_trim.csv
"""
import json, sys
from importlib.metadata import version
import numpy as np, pandas as pd
from csdid.attgt_fnc import drdid_trim

out = sys.argv[1]
rng = np.random.default_rng(20261204)
n = 20000
x = rng.normal(size=n) * 2.5
p = 1 / (1 + np.exp(-(0.3 + 2.0 * x)))
d = (rng.uniform(size=n) < p).astype(float)
y0 = 1.0 + 0.5 * x + rng.normal(size=n)
y1 = y0 + 0.3 + 0.2 * x + 1.0 * d + rng.normal(size=n)
df = pd.DataFrame({"y0": y0, "y1": y1, "d": d, "x": x}).round(8)
df.to_csv(f"{out}/data/drdid_trim.csv", index=False)
df = pd.read_csv(f"{out}/data/drdid_trim.csv")
res = {"versions": {"csdid": version("csdid")}, "call": "drdid_trim.drdid_panel / std_ipw_did_panel(y1, y0, D, covariates=x)"}
for name, f in [("dr", drdid_trim.drdid_panel), ("ipw", drdid_trim.std_ipw_did_panel)]:
    att, inf = f(df.y1.to_numpy(), df.y0.to_numpy(), df.d.to_numpy(), covariates=df[["x"]].to_numpy())
    res[name] = {"att": float(att)}
    res[name]["inf_sq_mean"] = float(np.mean(np.asarray(inf) ** 2))
from scipy.special import expit
import statsmodels.api as sm
ps = sm.GLM(df.d, sm.add_constant(df[["x"]]), family=sm.families.Binomial()).fit().predict()
res["controls_trimmed"] = int(((df.d == 0) & (ps >= 0.995)).sum())
json.dump(res, open(f"{out}/drdid_trim.json", "w"), indent=2)
print(json.dumps(res, indent=2))
