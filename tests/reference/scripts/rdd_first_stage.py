"""The fuzzy RDD's first stage: rdrobust 2.1.1 (PyPI) on data/rdd_sim.csv, rdrobust(y, x, fuzzy=d)
with its defaults: the first-stage jump tau_T and its conventional standard error se_T.

    python rdd_first_stage.py OUT_DIR   -> OUT_DIR/rdd_first_stage_rdrobust.json
"""
import json, sys
from importlib.metadata import version
import pandas as pd
from rdrobust import rdrobust

here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"
d = pd.read_csv(f"{here}/rdd_sim.csv")
r = rdrobust(d.y, d.x, fuzzy=d.d)
res = {"versions": {"rdrobust": version("rdrobust")}, "call": "rdrobust(y, x, fuzzy=d)",
       "tau_T": [float(v) for v in r.tau_T.iloc[:, 0]], "se_T": [float(v) for v in r.se_T.iloc[:, 0]]}
json.dump(res, open(f"{sys.argv[1]}/rdd_first_stage_rdrobust.json", "w"), indent=2)
print(json.dumps(res, indent=2))
