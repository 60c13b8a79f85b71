"""Callaway-Sant'Anna on an unbalanced panel: csdid 0.4.3 (PyPI) with allow_unbalanced_panel=True
(R did's option: the repeated-cross-section estimators on the rows observed in each period, the
influence function summed per unit) on mpdta with 10% of its rows dropped at random (numpy seed
20261202; written to data/mpdta_unbalanced.csv), doubly robust without covariates: never-treated
controls, not-yet-treated controls, and never-treated clustered by state; with the covariate lpop
(DRDID's drdid_rc, std_ipw_did_rc and reg_did_rc). Every ATT(g,t) and its
analytic standard error, the simple and dynamic aggregations, and the Wald pre-test.

    python cs_unbalanced.py OUT_DIR [DATA_DIR]   -> OUT_DIR/cs_unbalanced.json
"""
import json, sys, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
from csdid.att_gt import ATTgt

warnings.filterwarnings("ignore")
here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"
df = pd.read_csv(f"{here}/mpdta.csv")
rng = np.random.default_rng(20261202)
df = df.loc[rng.random(len(df)) >= 0.10].reset_index(drop=True)
df.to_csv(f"{here}/mpdta_unbalanced.csv", index=False)
df = df.rename(columns={"first.treat": "first_treat"})
df["state"] = df.countyreal // 1000
res = {"versions": {"csdid": version("csdid"), "numpy": version("numpy"), "pandas": version("pandas")},
       "rows": int(len(df)), "units": int(df.countyreal.nunique()),
       "call": "ATTgt(lemp ~ first_treat | countyreal, year, allow_unbalanced_panel=True, control_group=C[, clustervar='state'][, xformla='~ lpop']).fit(M, bstrap=False); aggte('simple' | 'dynamic', bstrap=False)"}
cases = [("never", "nevertreated", None, None, "dr"), ("notyet", "notyettreated", None, None, "dr"),
         ("never_state", "nevertreated", "state", None, "dr"),
         ("dr_lpop", "nevertreated", None, "~ lpop", "dr"), ("ipw_lpop", "nevertreated", None, "~ lpop", "ipw"),
         ("reg_lpop_notyet", "notyettreated", None, "~ lpop", "reg")]
for name, ctrl, cl, xf, method in cases:
    fit = ATTgt(yname="lemp", gname="first_treat", idname="countyreal", tname="year", data=df, xformla=xf,
                control_group=ctrl, allow_unbalanced_panel=True, clustervar=cl).fit(est_method=method, bstrap=False)
    r = fit.results
    out = {"group": [int(g) for g in r["group"]], "time": [int(t) for t in r["year"]],
           "att": [float(a) for a in r["att"]], "se": [float(s) for s in r["se"]],
           "wald": None if fit.MP["W"] is None else float(fit.MP["W"])}
    for agg in ["simple", "dynamic"]:
        a = fit.aggte(typec=agg, bstrap=False)
        a = a.atte if hasattr(a, "atte") else a
        out[agg] = {"att": float(a["overall_att"]), "se": float(a["overall_se"])}
        if agg == "dynamic":
            out[agg]["egt"] = [int(e) for e in a["egt"]]
            out[agg]["att_egt"] = [float(v) for v in a["att_egt"]]
            out[agg]["se_egt"] = [float(v) for v in np.asarray(a["se_egt"]).ravel()]
    res[name] = out
json.dump(res, open(f"{sys.argv[1]}/cs_unbalanced.json", "w"), indent=2)
print(json.dumps({k: (v if not isinstance(v, dict) or "att" not in v else {"att": v["att"][:4], "se": v["se"][:4], "simple": v["simple"]}) for k, v in res.items()}))
