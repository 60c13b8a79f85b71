"""Callaway-Sant'Anna clustered above the unit: csdid 0.4.3 (PyPI) on mpdta with the state
(countyreal // 1000: 29 states, 15 to 230 rows each) as `clustervar`, est_method "dr", never
treated controls. Analytic (bstrap=False): every ATT(g,t) and its cluster-robust standard error
(sqrt(sum_c S_c^2) / n), the simple and dynamic aggregations and their errors, and the Wald
pre-test. Multiplier bootstrap (bstrap=True, 99,999 draws, one Rademacher weight per state): the
per-cell bootstrap errors and the uniform critical value, for a Monte Carlo comparison.

    python cs_cluster.py OUT_DIR [DATA_DIR]   -> OUT_DIR/cs_cluster.json
"""
import json, sys, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
from csdid.att_gt import ATTgt

warnings.filterwarnings("ignore")
here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"
df = pd.read_csv(f"{here}/mpdta.csv").rename(columns={"first.treat": "first_treat"})
df["state"] = df.countyreal // 1000
res = {"versions": {"csdid": version("csdid"), "numpy": version("numpy"), "pandas": version("pandas")},
       "call": "ATTgt(lemp ~ first_treat | countyreal, year, clustervar='state').fit('dr', bstrap=False | True) and aggte('simple' | 'dynamic')",
       "n_clusters": int(df.state.nunique())}
fit = ATTgt(yname="lemp", gname="first_treat", idname="countyreal", tname="year", data=df,
            clustervar="state").fit(est_method="dr", bstrap=False)
r = fit.results
res["analytic"] = {"group": [int(g) for g in r["group"]], "time": [int(t) for t in r["year"]],
                   "att": [float(a) for a in r["att"]], "se": [float(s) for s in r["se"]],
                   "wald": None if fit.MP["W"] is None else float(fit.MP["W"]),
                   "wald_p": None if fit.MP["Wpval"] is None else float(fit.MP["Wpval"])}
for agg in ["simple", "dynamic"]:
    a = fit.aggte(typec=agg, bstrap=False)
    out = a.atte if hasattr(a, "atte") else a
    res["analytic"][agg] = {"att": float(out["overall_att"]), "se": float(out["overall_se"])}
    if agg == "dynamic":
        res["analytic"][agg]["egt"] = [int(e) for e in out["egt"]]
        res["analytic"][agg]["att_egt"] = [float(v) for v in out["att_egt"]]
        res["analytic"][agg]["se_egt"] = [float(v) for v in np.asarray(out["se_egt"]).ravel()]
np.random.seed(20261202)
B = 99999
bfit = ATTgt(yname="lemp", gname="first_treat", idname="countyreal", tname="year", data=df,
             clustervar="state", biters=B, cband=True).fit(est_method="dr", bstrap=True)
agg = bfit.aggte("dynamic", cband=True, biters=B)
r = agg.atte if hasattr(agg, "atte") else agg
res["bootstrap"] = {"draws": B, "cell_se": [float(s) for s in bfit.results["se"]],
                    "crit_val": float(np.asarray(r["crit_val_egt"]).ravel()[0]),
                    "event_times": [int(e) for e in np.asarray(r["egt"]).ravel()],
                    "se_egt": [float(v) for v in np.asarray(r["se_egt"]).ravel()]}
json.dump(res, open(f"{sys.argv[1]}/cs_cluster.json", "w"), indent=2)
print(json.dumps({k: v for k, v in res.items() if k != "bootstrap"})[:3000])
