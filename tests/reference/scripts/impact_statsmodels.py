"""The time-series counterfactual (`liftos estimate impact`) against statsmodels'
UnobservedComponents (mle_regression=False: the coefficients in the state; approximate diffuse
initialisation, its defaults) on a
simulated daily series: 100 pre-periods, 30 post-periods, two control series, weekly seasonality,
an effect of +3 from day 100. For each specification: the maximum-likelihood parameters and
log-likelihood, the log-likelihood at fixed parameters (to check the filter alone), and the
forecast mean and variance over the post-period given the controls. Writes
tests/reference/impact_statsmodels.json and tests/reference/data/impact_sim.csv.

    ~/.cache/liftos/wb-venv/bin/python tests/reference/scripts/impact_statsmodels.py"""
import json, os, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
from statsmodels.tsa.statespace.structural import UnobservedComponents

warnings.filterwarnings("ignore")
here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261201)
n, n_pre = 130, 100
x1 = 50 + np.cumsum(rng.normal(0, 1, n))
x2 = 20 + np.cumsum(rng.normal(0, 0.5, n))
season = np.tile([2.0, 1.0, 0.5, 0.0, -0.5, -1.0, -2.0], n // 7 + 1)[:n]
level = 10 + np.cumsum(rng.normal(0, 0.3, n))
y = level + season + 1.5 * x1 - 0.7 * x2 + rng.normal(0, 1.0, n)
y[n_pre:] += 3.0
df = pd.DataFrame({"day": np.arange(n), "sales": y, "x1": x1, "x2": x2})
df.to_csv(os.path.join(here, "..", "data", "impact_sim.csv"), index=False, float_format="%.10g")
df = pd.read_csv(os.path.join(here, "..", "data", "impact_sim.csv"))
y, X = df.sales.to_numpy(), df[["x1", "x2"]].to_numpy()

specs = {
    "local_level": dict(level="local level"),
    "local_level_seasonal7": dict(level="local level", seasonal=7),
    "local_linear_trend": dict(level="local linear trend"),
}
out = {"versions": {"statsmodels": version("statsmodels"), "numpy": version("numpy"), "scipy": version("scipy")},
       "n_pre": n_pre, "specs": {}}
for name, kw in specs.items():
    m = UnobservedComponents(y[:n_pre], exog=X[:n_pre], mle_regression=False, **kw)
    r = m.fit(disp=False, maxiter=2000, method="lbfgs")
    # A second optimiser from the first's optimum, to make sure the maximum is reached.
    r2 = m.fit(start_params=r.params, disp=False, maxiter=2000, method="nm")
    r3 = m.fit(start_params=r2.params, disp=False, maxiter=2000, method="bfgs")
    best = max([r, r2, r3], key=lambda z: z.llf)
    fixed = np.array(best.params) * 1.1
    fc = best.get_forecast(steps=n - n_pre, exog=X[n_pre:])
    out["specs"][name] = {
        "kwargs": kw,
        "param_names": list(m.param_names),
        "params": [float(v) for v in best.params],
        "llf": float(best.llf),
        "llf_lbfgs_default": float(r.llf),
        "loglikelihood_burn": int(best.filter_results.loglikelihood_burn),
        "fixed_params": [float(v) for v in fixed],
        "loglike_at_fixed": float(m.loglike(fixed)),
        "forecast_mean": [float(v) for v in fc.predicted_mean],
        "forecast_var": [float(v) for v in fc.var_pred_mean],
        "beta": [float(v) for v in best.filtered_state[-2:, -1]],
        "beta_var": [float(best.filtered_state_cov[i, i, -1]) for i in (-2, -1)],
    }
    print(name, best.llf, r.llf, dict(zip(m.param_names, np.round(best.params, 4))))
with open(os.path.join(here, "..", "impact_statsmodels.json"), "w") as f:
    json.dump(out, f, indent=1)
