"""HonestDiD relative-magnitude bounds: honestdid 0.1.1 (PyPI, the Python port of Rambachan &
Roth's R package) on the TWFE event study of mpdta (pyfixest 0.60: lemp on event-time dummies of
the treated counties, reference -1, county and year effects, CRV1 by county), for the average of
the post-period effects and for the first one, M-bar in {0.5, 1, 2}, method C-LF (the default),
alpha 0.05, 1,000-point grid. Also the original (M-bar = 0 style) confidence set.

    python honestdid_rm.py OUT_DIR   (honestdid needs torch and cvxpy, and numpy 2.2: 0.1.1
    converts 1x1 arrays with float(), an error from numpy 2.4; its own venv)
"""
import json, sys, time, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
import pyfixest as pf
import honestdid

warnings.filterwarnings("ignore")
here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"
df = pd.read_csv(f"{here}/mpdta.csv").rename(columns={"first.treat": "g"})
df["rel"] = np.where(df.g > 0, df.year - df.g, -1000)
for r in [-4, -3, -2, 0, 1, 2, 3]:
    df[f"e{r + 10}"] = (df.rel == r).astype(float)
names = [f"e{r + 10}" for r in [-4, -3, -2, 0, 1, 2, 3]]
fit = pf.feols("lemp ~ " + " + ".join(names) + " | countyreal + year", data=df, vcov={"CRV1": "countyreal"})
beta = np.asarray(fit.coef()[names], dtype=float)
sigma = np.asarray(fit._vcov, dtype=float)
res = {"versions": {"honestdid": version("honestdid"), "pyfixest": version("pyfixest"), "numpy": version("numpy")},
       "event_times": [-4, -3, -2, 0, 1, 2, 3], "betahat": beta.tolist(), "sigma": sigma.tolist(),
       "call": "createSensitivityResults_relativeMagnitudes(betahat, sigma, 3, 4, Mbarvec=[0.5,1,2], l_vec=..., alpha=0.05) (method C-LF, gridPoints 1000)"}
for name, l in [("average", np.full(4, 0.25)), ("first", np.array([1.0, 0, 0, 0]))]:
    t0 = time.time()
    out = honestdid.createSensitivityResults_relativeMagnitudes(beta, sigma, numPrePeriods=3, numPostPeriods=4,
                                                               Mbarvec=[0.5, 1.0, 2.0], l_vec=l, alpha=0.05)
    orig = honestdid.constructOriginalCS(beta, sigma, numPrePeriods=3, numPostPeriods=4, l_vec=l, alpha=0.05)
    res[name] = {"l_vec": l.tolist(), "seconds": time.time() - t0,
                 "relative_magnitudes": [{"mbar": float(r.Mbar), "ci_low": float(r.lb), "ci_high": float(r.ub)} for r in out.itertuples()],
                 "original": {"ci_low": float(np.asarray(orig["lb"]).ravel()[0]), "ci_high": float(np.asarray(orig["ub"]).ravel()[0])}}
    print(name, res[name], flush=True)
json.dump(res, open(f"{sys.argv[1]}/honestdid_rm.json", "w"), indent=2)
