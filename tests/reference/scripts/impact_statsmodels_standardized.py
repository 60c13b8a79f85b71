"""The time-series counterfactual's fit (`liftos estimate impact`) standardises the outcome and
the controls as CausalImpact's `standardize.data` does: each centred and scaled by its
pre-period mean and standard deviation (ddof 0; over the periods that have a value), the model
fitted on that scale and every output mapped back. This script fits statsmodels'
UnobservedComponents (mle_regression=False, approximate diffuse initialisation, its defaults) on
the standardised data of tests/reference/data/impact_sim.csv, in full and with the gaps of
impact_statsmodels_gaps.py (days 20, 63 and 110 absent, the outcome of 41, 42, 87 and 120 empty),
and writes per specification the standardisation, the maximised log-likelihood, the
maximum-likelihood variances and the forecast at them to
tests/reference/impact_statsmodels_standardized.json.

    python tests/reference/scripts/impact_statsmodels_standardized.py   (statsmodels 0.15.0)"""
import json, os, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
from statsmodels.tsa.statespace.structural import UnobservedComponents

warnings.filterwarnings("ignore")
here = os.path.dirname(os.path.abspath(__file__))
df = pd.read_csv(os.path.join(here, "..", "data", "impact_sim.csv"))
n_pre = 100
specs = {
    "local_level": dict(level="local level"),
    "local_level_seasonal7": dict(level="local level", seasonal=7),
    "local_linear_trend": dict(level="local linear trend"),
}


def standardise(v):
    pre = v[:n_pre][np.isfinite(v[:n_pre])]
    mean, sd = pre.mean(), pre.std()
    return (v - mean) / sd, float(mean), float(sd)


out = {"versions": {"statsmodels": version("statsmodels"), "numpy": version("numpy"), "scipy": version("scipy")},
       "n_pre": n_pre, "cases": {}}
for case, (absent, empty) in {"full": ([], []), "gaps": ([20, 63, 110], [41, 42, 87, 120])}.items():
    y = df.sales.to_numpy().copy()
    X = df[["x1", "x2"]].to_numpy().copy()
    y[absent + empty] = np.nan
    X[absent, :] = np.nan  # an absent day has no row: no control value either
    ys, my, sy = standardise(y)
    cols = [standardise(X[:, j]) for j in range(X.shape[1])]
    Xs = np.column_stack([c[0] for c in cols])
    # statsmodels needs the exogenous values everywhere: an absent day's outcome is missing, so its
    # controls do not enter the filter; any finite value stands in.
    Xs_filled = np.where(np.isfinite(Xs), Xs, 0.0)
    out["cases"][case] = {"y_mean": my, "y_sd": sy, "x_mean": [c[1] for c in cols], "x_sd": [c[2] for c in cols], "specs": {}}
    for name, kw in specs.items():
        m = UnobservedComponents(ys[:n_pre], exog=Xs_filled[:n_pre], mle_regression=False, **kw)
        r = m.fit(disp=False, maxiter=2000, method="lbfgs")
        r2 = m.fit(start_params=r.params, disp=False, maxiter=2000, method="nm")
        r3 = m.fit(start_params=r2.params, disp=False, maxiter=2000, method="bfgs")
        best = max([r, r2, r3], key=lambda z: z.llf)
        fc = best.get_forecast(steps=len(ys) - n_pre, exog=Xs_filled[n_pre:])
        out["cases"][case]["specs"][name] = {
            "params": [float(v) for v in best.params],
            "llf": float(best.llf),
            "forecast_mean": [float(v) for v in fc.predicted_mean],
            "forecast_var": [float(v) for v in fc.var_pred_mean],
        }
        print(case, name, best.llf, dict(zip(m.param_names, np.round(best.params, 5))))
with open(os.path.join(here, "..", "impact_statsmodels_standardized.json"), "w") as f:
    json.dump(out, f, indent=1)
