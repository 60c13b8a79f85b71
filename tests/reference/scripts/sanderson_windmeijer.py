"""Sanderson-Windmeijer conditional first-stage F, computed by its documented recipe
(Sanderson & Windmeijer 2016, eq. 8; ivreg2's SW F): for endogenous x_j, 2SLS of x_j on the other
endogenous regressors and the controls with the excluded instruments (linearmodels IV2SLS), then
the classical F test that the excluded instruments' coefficients are zero in the OLS regression
of its residual on controls and instruments (statsmodels), with degrees of freedom
(q - p + 1, n - l). Two designs: instruments that move x1 and x2 separately, and ones that move
them together (the regressor-specific F stays high, SW's collapses).

    python sanderson_windmeijer.py DATA_DIR OUT.json
"""
import json, sys
from importlib.metadata import version
import numpy as np, pandas as pd, statsmodels.api as sm
from linearmodels.iv import IV2SLS

data, out = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(20261203)
n = 600
z = rng.normal(size=(n, 3))
w1, u = rng.normal(size=n), rng.normal(size=n)
rows = {}
for name, (a, b) in {"separate": ([1.0, 0.0, 0.3], [0.0, 1.0, 0.3]), "together": ([0.6, 0.6, 0.0], [0.6, 0.62, 0.0])}.items():
    x1 = z @ np.array(a) + 0.4 * w1 + u + rng.normal(size=n)
    x2 = z @ np.array(b) - 0.3 * w1 + 0.5 * u + rng.normal(size=n)
    y = 1.0 + 2.0 * x1 - 1.0 * x2 + 0.3 * w1 + u + rng.normal(size=n)
    d = pd.DataFrame({"y": y, "x1": x1, "x2": x2, "z1": z[:, 0], "z2": z[:, 1], "z3": z[:, 2], "w1": w1}).round(8)
    d.to_csv(f"{data}/iv_sw_{name}.csv", index=False)
    d = pd.read_csv(f"{data}/iv_sw_{name}.csv")
    d["const"] = 1.0
    r = {}
    for j, other in [("x1", "x2"), ("x2", "x1")]:
        fit = IV2SLS(d[j], d[["const", "w1"]], d[[other]], d[["z1", "z2", "z3"]]).fit(cov_type="unadjusted")
        e = fit.resids
        ols = sm.OLS(e, d[["const", "w1", "z1", "z2", "z3"]]).fit()
        ft = ols.f_test("z1 = 0, z2 = 0, z3 = 0")
        q, p = 3, 2
        # statsmodels' F has q numerator df; SW's has q - p + 1 (one nuisance regressor estimated).
        F_sw = float(ft.fvalue) * q / (q - p + 1)
        r[j] = {"sw_f": F_sw}
    rows[name] = r
res = {"versions": {"linearmodels": version("linearmodels"), "statsmodels": version("statsmodels")}, **rows}
json.dump(res, open(out, "w"), indent=2)
print(json.dumps(res, indent=2))
