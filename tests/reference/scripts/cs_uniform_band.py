"""Callaway-Sant'Anna uniform (sup-t) band for the event study on mpdta: csdid 0.4.3 (PyPI),
ATTgt(..., cband=True, biters=B).aggte("dynamic"): the critical value and the bootstrap
standard errors per event time. Monte Carlo: B = 99,999 draws so the reference's own error
is small (sd of the critical value about 0.005).

    python cs_uniform_band.py OUT_DIR   -> OUT_DIR/cs_uniform_band.json
"""
import json, sys, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
from csdid.att_gt import ATTgt

warnings.filterwarnings("ignore")
here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"
df = pd.read_csv(f"{here}/mpdta.csv").rename(columns={"first.treat": "first_treat"})
B = 99999
np.random.seed(20261201)
out = ATTgt(yname="lemp", gname="first_treat", idname="countyreal", tname="year", data=df,
            control_group="nevertreated", cband=True, biters=B, alp=0.05).fit(est_method="dr")
agg = out.aggte("dynamic", cband=True, biters=B)
r = agg.atte if hasattr(agg, "atte") else agg
res = {"versions": {"csdid": version("csdid"), "numpy": version("numpy")}, "biters": B,
       "call": "ATTgt(lemp ~ first_treat | countyreal, year; nevertreated, dr, cband=True, biters=99999).aggte('dynamic')",
       "crit_val": float(np.asarray(r["crit_val_egt"]).ravel()[0]),
       "event_times": [int(e) for e in np.asarray(r["egt"]).ravel()],
       "att": [float(v) for v in np.asarray(r["att_egt"]).ravel()],
       "se": [float(v) for v in np.asarray(r["se_egt"]).ravel()]}
json.dump(res, open(f"{sys.argv[1]}/cs_uniform_band.json", "w"), indent=2)
print(json.dumps(res, indent=2))
