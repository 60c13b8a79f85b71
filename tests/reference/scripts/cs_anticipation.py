"""Callaway-Sant'Anna with anticipation and a universal base period: csdid 0.4.3 (PyPI)
ATTgt(..., anticipation=A).fit(est_method="dr", base_period=B) on mpdta, never and not-yet
treated controls: every ATT(g,t) and its analytic standard error.

    python cs_anticipation.py OUT_DIR   -> OUT_DIR/cs_anticipation.json
"""
import json, sys, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
from csdid.att_gt import ATTgt

warnings.filterwarnings("ignore")
here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"
df = pd.read_csv(f"{here}/mpdta.csv").rename(columns={"first.treat": "first_treat"})
res = {"versions": {"csdid": version("csdid")}, "call": "ATTgt(lemp ~ first_treat | countyreal, year, control_group=C, anticipation=A).fit('dr', base_period=B, bstrap=False)"}
for name, ant, base, ctrl in [("ant1_varying_never", 1, "varying", "nevertreated"),
                              ("ant0_universal_never", 0, "universal", "nevertreated"),
                              ("ant1_universal_notyet", 1, "universal", "notyettreated")]:
    out = ATTgt(yname="lemp", gname="first_treat", idname="countyreal", tname="year", data=df,
                control_group=ctrl, anticipation=ant).fit(est_method="dr", base_period=base, bstrap=False)
    r = out.results
    res[name] = {"group": [int(g) for g in r["group"]], "time": [int(t) for t in r["year"]],
                 "att": [float(a) for a in r["att"]], "se": [None if np.isnan(s) else float(s) for s in r["se"]]}
json.dump(res, open(f"{sys.argv[1]}/cs_anticipation.json", "w"), indent=2)
print(json.dumps({k: (len(v["att"]) if isinstance(v, dict) and "att" in v else v) for k, v in res.items()}))
