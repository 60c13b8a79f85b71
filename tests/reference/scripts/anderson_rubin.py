"""Anderson-Rubin reference: ivmodels (PyPI) on the IV reference data, classical errors, F
critical values, controls partialled out with the intercept.

    python anderson_rubin.py DATA_DIR OUT.json
"""
import json, sys
from importlib.metadata import version
import numpy as np, pandas as pd
from ivmodels.tests import anderson_rubin_test, inverse_anderson_rubin_test

data, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(f"{data}/iv_sim.csv")
# A weak instrument (first-stage coefficient 0.05, n = 300), written beside it.
rng = np.random.default_rng(20261201)
n = 300
zw, w1 = rng.normal(size=n), rng.normal(size=n)
u = rng.normal(size=n)
xw = 0.05 * zw + 0.5 * w1 + u + rng.normal(size=n)
yw = 1.0 * xw + 0.3 * w1 + 0.8 * u + rng.normal(size=n)
weak = pd.DataFrame({"y": yw.round(8), "x": xw.round(8), "z": zw.round(8), "w1": w1.round(8)})
weak.to_csv(f"{data}/iv_weak.csv", index=False)
weak = pd.read_csv(f"{data}/iv_weak.csv")
res = {"versions": {"ivmodels": version("ivmodels"), "numpy": version("numpy")},
       "call": "anderson_rubin_test(Z, X, y, beta=[b0], C=W, critical_values='f', fit_intercept=True); inverse_anderson_rubin_test(Z, X, y, alpha, C=W, critical_values='f')"}
for name, zs, d in [("strong", ["z1", "z2"], df), ("z2_only", ["z2"], df), ("weak", ["z"], weak)]:
    y, X, C = d.y.to_numpy(), d[["x"]].to_numpy(), d[["w1"]].to_numpy()
    Z = d[zs].to_numpy()
    r = {}
    for b0 in [0.0, 1.0, 2.0]:
        stat, p = anderson_rubin_test(Z, X, y, beta=np.array([b0]), C=C, critical_values="f", fit_intercept=True)
        r[f"beta_{b0}"] = {"statistic": float(stat), "p_value": float(p)}
    for alpha in [0.05, 0.1]:
        q = inverse_anderson_rubin_test(Z, X, y, alpha=alpha, C=C, critical_values="f", fit_intercept=True)
        r[f"ci_{alpha}"] = {"boundary": [float(v) for v in np.asarray(q._boundary()).ravel()], "A": float(np.asarray(q.A).ravel()[0])}
    res[name] = r
json.dump(res, open(out, "w"), indent=2)
print(json.dumps(res, indent=2))
