"""rdrobust's covariate adjustment and cluster-robust variance: rdrobust 2.1.1 (PyPI) on
data/rdd_covs.csv, which this script writes (numpy default_rng(20261202), n = 4000, 80 markets).

The running variable x ~ U(-1, 1); z1 is correlated with x and with the outcome, z2 is a 0/1
covariate; markets (the cluster column, strings) share a random effect; the fuzzy take-up d jumps
from 0.25 to 0.8 at the cutoff 0; the true effect of crossing is 1 (sharp) and of d is 2 (fuzzy
outcome yf).  Each case records rdrobust's coef, se (conventional, bias-corrected, robust), h, b,
the covariates' coefficients and the number of clusters; fuzzy cases also the first stage.

    python rdd_covariates_cluster.py OUT_DIR [DATA_DIR]   -> OUT_DIR/rdd_covariates_cluster.json
"""
import json, sys, os, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
from rdrobust import rdrobust

here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"
path = f"{here}/rdd_covs.csv"
if not os.path.exists(path):
    rng = np.random.default_rng(20261202)
    n, g = 4000, 80
    x = rng.uniform(-1, 1, n)
    market = rng.integers(0, g, n)
    u = rng.normal(0, 0.6, g)[market]
    z1 = 0.5 * x + rng.normal(0, 1, n)
    z2 = (rng.uniform(size=n) < 0.4).astype(float)
    above = (x >= 0).astype(float)
    y = 0.5 + 1.2 * x - 0.4 * x**2 + 1.0 * above + 0.8 * z1 - 0.5 * z2 + u + rng.normal(0, 0.7, n)
    d = (rng.uniform(size=n) < np.where(above > 0, 0.8, 0.25)).astype(float)
    yf = 0.5 + 1.2 * x + 2.0 * d + 0.8 * z1 - 0.5 * z2 + u + rng.normal(0, 0.7, n)
    pd.DataFrame({"x": x, "y": y, "yf": yf, "d": d, "z1": z1, "z2": z2,
                  "market": [f"m{m:02d}" for m in market]}).to_csv(path, index=False, float_format="%.17g")
df = pd.read_csv(path)
codes = pd.factorize(df.market)[0]
cases = {
    "sharp_covs": dict(y="y", covs=["z1", "z2"]),
    "sharp_cluster": dict(y="y", cluster=True),
    "sharp_covs_cluster": dict(y="y", covs=["z1", "z2"], cluster=True),
    "sharp_covs_msetwo": dict(y="y", covs=["z1", "z2"], bwselect="msetwo"),
    "sharp_covs_cluster_uniform_p2": dict(y="y", covs=["z1"], cluster=True, kernel="uniform", p=2),
    "sharp_manual_h04_covs_cluster": dict(y="y", covs=["z1", "z2"], cluster=True, h=0.4),
    "fuzzy_covs": dict(y="yf", fuzzy=True, covs=["z1", "z2"]),
    "fuzzy_cluster": dict(y="yf", fuzzy=True, cluster=True),
    "fuzzy_covs_cluster": dict(y="yf", fuzzy=True, covs=["z1", "z2"], cluster=True),
}
res = {"versions": {"rdrobust": version("rdrobust")}, "data": "data/rdd_covs.csv", "cutoff": 0}
for name, k in cases.items():
    kw = {}
    if "covs" in k: kw["covs"] = df[k["covs"]]
    if k.get("cluster"): kw["cluster"] = codes
    if k.get("fuzzy"): kw["fuzzy"] = df.d
    for o in ("bwselect", "kernel", "p", "h"):
        if o in k: kw[o] = k[o]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = rdrobust(df[k["y"]], df.x, **kw)
    out = {"call": {kk: (v if not isinstance(v, bool) else v) for kk, v in k.items()},
           "coef": [float(v) for v in r.coef.iloc[:, 0]], "se": [float(v) for v in r.se.iloc[:, 0]],
           "h": [float(v) for v in r.bws.iloc[0]], "b": [float(v) for v in r.bws.iloc[1]],
           "n_h": [int(v) for v in r.N_h]}
    if r.coef_covs is not None:
        out["coef_covs"] = [float(v) for v in np.asarray(r.coef_covs).reshape(-1)]
    if k.get("cluster"):
        out["n_clust"] = int(r.n_clust)
    if k.get("fuzzy"):
        out["tau_T"] = [float(v) for v in r.tau_T.iloc[:, 0]]
        out["se_T"] = [float(v) for v in r.se_T.iloc[:, 0]]
    res[name] = out
json.dump(res, open(f"{sys.argv[1]}/rdd_covariates_cluster.json", "w"), indent=2)
print(json.dumps(res, indent=1)[:3000])
