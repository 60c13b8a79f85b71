"""The time-series counterfactual with missing periods (`liftos estimate impact` on a series with
absent dates and empty outcome cells) against statsmodels' UnobservedComponents, which filters a
NaN in the outcome as a missing observation. The series of impact_statsmodels.py
(tests/reference/data/impact_sim.csv) with the outcome of days 20, 41, 42, 63 and 87 missing in
the pre-period: for each specification the log-likelihood at fixed parameters (the filter
stepping through the gaps), the maximised log-likelihood, and the post-period forecast mean and
variance at the maximum. Writes tests/reference/impact_statsmodels_gaps.json.

    ~/.cache/liftos/bench-venv/bin/python tests/reference/scripts/impact_statsmodels_gaps.py"""
import json, os, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
from statsmodels.tsa.statespace.structural import UnobservedComponents

warnings.filterwarnings("ignore")
here = os.path.dirname(os.path.abspath(__file__))
df = pd.read_csv(os.path.join(here, "..", "data", "impact_sim.csv"))
n_pre, missing = 100, [20, 41, 42, 63, 87]
y, X = df.sales.to_numpy().copy(), df[["x1", "x2"]].to_numpy()
y[missing] = np.nan
specs = {
    "local_level": dict(level="local level"),
    "local_level_seasonal7": dict(level="local level", seasonal=7),
    "local_linear_trend": dict(level="local linear trend"),
}
out = {"versions": {"statsmodels": version("statsmodels"), "numpy": version("numpy"), "scipy": version("scipy")},
       "n_pre": n_pre, "missing": missing, "specs": {}}
for name, kw in specs.items():
    m = UnobservedComponents(y[:n_pre], exog=X[:n_pre], mle_regression=False, **kw)
    r = m.fit(disp=False, maxiter=2000, method="lbfgs")
    r2 = m.fit(start_params=r.params, disp=False, maxiter=2000, method="nm")
    r3 = m.fit(start_params=r2.params, disp=False, maxiter=2000, method="bfgs")
    best = max([r, r2, r3], key=lambda z: z.llf)
    fixed = np.array(best.params) * 1.1
    fc = best.get_forecast(steps=len(y) - n_pre, exog=X[n_pre:])
    out["specs"][name] = {
        "params": [float(v) for v in best.params],
        "llf": float(best.llf),
        "fixed_params": [float(v) for v in fixed],
        "loglike_at_fixed": float(m.loglike(fixed)),
        "forecast_mean": [float(v) for v in fc.predicted_mean],
        "forecast_var": [float(v) for v in fc.var_pred_mean],
    }
    print(name, best.llf, dict(zip(m.param_names, np.round(best.params, 4))))
with open(os.path.join(here, "..", "impact_statsmodels_gaps.json"), "w") as f:
    json.dump(out, f, indent=1)
