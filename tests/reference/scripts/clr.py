"""Conditional likelihood-ratio reference: ivmodels (PyPI) conditional_likelihood_ratio_test on
the IV reference data with two instruments (one endogenous regressor, the control partialled
out with the intercept; for one regressor its p-value is the exact conditional one by numerical
integration), at several beta0, and a weaker design with three instruments.

    python clr.py DATA_DIR OUT.json
"""
import json, sys
from importlib.metadata import version
import numpy as np, pandas as pd
from ivmodels.tests import conditional_likelihood_ratio_test

data, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(f"{data}/iv_sim.csv")
rng = np.random.default_rng(20261202)
n = 400
z = rng.normal(size=(n, 3))
w1, u = rng.normal(size=n), rng.normal(size=n)
x = z @ np.array([0.08, 0.05, 0.0]) + 0.5 * w1 + u + rng.normal(size=n)
y = 1.0 * x + 0.3 * w1 + 0.8 * u + rng.normal(size=n)
weak = pd.DataFrame({"y": y.round(8), "x": x.round(8), "z1": z[:, 0].round(8), "z2": z[:, 1].round(8),
                     "z3": z[:, 2].round(8), "w1": w1.round(8)})
weak.to_csv(f"{data}/iv_weak3.csv", index=False)
weak = pd.read_csv(f"{data}/iv_weak3.csv")
res = {"versions": {"ivmodels": version("ivmodels"), "numpy": version("numpy"), "scipy": version("scipy")},
       "call": "conditional_likelihood_ratio_test(Z, X, y, beta=[b0], C=W, fit_intercept=True, tol=1e-10)"}
for name, zs, d in [("strong", ["z1", "z2"], df), ("weak3", ["z1", "z2", "z3"], weak)]:
    yy, X, C, Z = d.y.to_numpy(), d[["x"]].to_numpy(), d[["w1"]].to_numpy(), d[zs].to_numpy()
    r = {}
    for b0 in [0.0, 1.0, 1.5, 2.0, 3.0]:
        stat, p = conditional_likelihood_ratio_test(Z, X, yy, beta=np.array([b0]), C=C, fit_intercept=True, tol=1e-10)
        r[f"beta_{b0}"] = {"statistic": float(stat), "p_value": float(p)}
    res[name] = r
json.dump(res, open(out, "w"), indent=2)
print(json.dumps(res, indent=2))
