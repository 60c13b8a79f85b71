"""Synthetic difference-in-differences on Prop 99 with the `synthdid` PyPI package (0.10.1, a port
of R synthdid; needs numpy 1.23, so its own venv): the estimate (R synthdid and the paper:
-15.6038), the unit and time weights, and its placebo standard error. Writes
tests/reference/sdid_prop99.json, read by shared/estimators/tests/sdid_reference.rs.

    python -m venv sdid-venv && sdid-venv/bin/pip install synthdid==0.10.1
    sdid-venv/bin/python tests/reference/scripts/sdid_prop99.py

Note: the package's placebo_se ignores n_reps and always draws 50 placebos."""
import json, os, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
from synthdid.synthdid import Synthdid

warnings.filterwarnings("ignore")
here = os.path.dirname(os.path.abspath(__file__))
d = pd.read_csv(os.path.join(here, "..", "data", "smoking_prop99.csv"))
d = d[["state", "year", "cigsale"]].copy()
d["treated"] = ((d.state == "California") & (d.year >= 1989)).astype(int)
m = Synthdid(d, unit="state", time="year", treatment="treated", outcome="cigsale").fit()
res = {
    "versions": {"synthdid": version("synthdid"), "numpy": version("numpy"), "pandas": version("pandas")},
    "att_rounded": float(m.att),
    "att": float(np.dot(m.att_info.att_time, m.att_info.att_wt)),
    "units": [str(u) for u in m.Y_units[0]],
}
ses = []
for seed in range(5):
    np.random.seed(20261201 + seed)
    ses.append(float(m.vcov(method="placebo").se))
res["se_placebo_50_draws"] = ses
res["omega"] = np.asarray(m.weights["omega"][0]).ravel().tolist()
res["lambda"] = np.asarray(m.weights["lambda"][0]).ravel().tolist()
with open(os.path.join(here, "..", "sdid_prop99.json"), "w") as f:
    json.dump(res, f, indent=1)
print(json.dumps({k: v for k, v in res.items() if k not in ("omega", "lambda", "units")}))
