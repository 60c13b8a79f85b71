"""rdplot's IMSE-optimal evenly spaced bins: rdrobust 2.1.1 (PyPI) rdplot(y, x, binselect="es",
hide=True) on the Senate data and on data/rdd_sim.csv: the number of bins on each side (J_star)
and every bin's mean x, mean y and count.

    python rdplot_bins.py OUT_DIR   -> OUT_DIR/rdplot_bins.json
"""
import json, sys
from importlib.metadata import version
import numpy as np, pandas as pd
from rdrobust import rdplot

here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"
res = {"versions": {"rdrobust": version("rdrobust")}, "call": "rdplot(y, x, c=0, binselect='es', hide=True)"}
for name, f, yc, xc in [("senate", "rdrobust_senate.csv", "vote", "margin"), ("sim", "rdd_sim.csv", "y", "x")]:
    d = pd.read_csv(f"{here}/{f}").dropna(subset=[yc, xc])
    r = rdplot(d[yc], d[xc], c=0, binselect="es", hide=True)
    vb = r.vars_bins
    res[name] = {"J": [int(v) for v in r.J], "mean_x": vb.rdplot_mean_x.tolist(), "mean_y": vb.rdplot_mean_y.tolist(),
                 "n": [int(v) for v in vb.rdplot_N]}
json.dump(res, open(f"{sys.argv[1]}/rdplot_bins.json", "w"), indent=2)
print(json.dumps({k: (v["J"] if isinstance(v, dict) and "J" in v else v) for k, v in res.items()}))
