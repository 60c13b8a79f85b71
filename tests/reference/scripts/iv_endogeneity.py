"""The endogeneity test under the chosen errors: linearmodels 7.1 IV2SLS(...).wooldridge_regression
(the control-function regression test, with the model's covariance: robust or clustered) on
data/iv_sim.csv, and the tF inputs (2SLS with one instrument, z1).

    python iv_endogeneity.py OUT_DIR   -> OUT_DIR/iv_endogeneity_linearmodels.json
"""
import json, sys
from importlib.metadata import version
import pandas as pd
from linearmodels.iv import IV2SLS

here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"
d = pd.read_csv(f"{here}/iv_sim.csv")
d["const"] = 1.0
res = {"versions": {"linearmodels": version("linearmodels"), "pandas": version("pandas")},
       "call": "IV2SLS(y, [const, w1], [x], [z1, z2]).fit(cov_type=..., debiased=True).wooldridge_regression"}
for key, kw in [("robust", {"cov_type": "robust"}), ("clustered", {"cov_type": "clustered", "clusters": d.g})]:
    fit = IV2SLS(d.y, d[["const", "w1"]], d.x, d[["z1", "z2"]]).fit(debiased=True, **kw)
    w = fit.wooldridge_regression
    res[key] = {"stat": float(w.stat), "pval": float(w.pval), "df": int(w.df), "dist": str(w.dist_name)}
json.dump(res, open(f"{sys.argv[1]}/iv_endogeneity_linearmodels.json", "w"), indent=2)
print(json.dumps(res, indent=2))
