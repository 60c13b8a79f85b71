"""Wild cluster restricted bootstrap reference: wildboottest 0.3.2 (PyPI) on a small panel with
few treated clusters, TWFE as OLS with unit and time dummies (statsmodels), clustered by unit.

    python wild_bootstrap.py OUT_DIR   -> OUT_DIR/wild_panel.csv, OUT_DIR/wild_wildboottest.json
"""
import json, sys
from importlib.metadata import version
import numpy as np, pandas as pd, statsmodels.formula.api as smf
from wildboottest.wildboottest import wildboottest

out = sys.argv[1]
rng = np.random.default_rng(20261130)
rows = []
for u in range(12):
    a = rng.normal() * 2
    e = 0.0
    for t in range(8):
        e = 0.5 * e + rng.normal()
        d = int(u < 3 and t >= 5)
        rows.append({"unit": f"u{u:02d}", "time": t, "y": round(10 + a + 0.3 * t + 0.8 * d + e, 6), "d": d})
df = pd.DataFrame(rows)
df.to_csv(f"{out}/wild_panel.csv", index=False)
m = smf.ols("y ~ d + C(unit) + C(time)", data=df)
res = {"versions": {"wildboottest": version("wildboottest"), "statsmodels": version("statsmodels"), "numpy": version("numpy")},
       "call": "wildboottest(smf.ols('y ~ d + C(unit) + C(time)'), param='d', cluster=codes(df.unit), B=B, weights_type=W, seed=S)",
       "estimate": float(m.fit().params["d"])}
for w, b in [("rademacher", 9999), ("webb", 99999)]:
    r = wildboottest(m, param="d", cluster=pd.factorize(df.unit)[0], B=b, weights_type=w, seed=12345, show=False)
    res[w] = {"B": b, "p_value": float(r["p-value"].iloc[0]), "t_stat": float(np.asarray(r["statistic"].iloc[0]).ravel()[0])}
json.dump(res, open(f"{out}/wild_wildboottest.json", "w"), indent=2)
print(json.dumps(res, indent=2))
