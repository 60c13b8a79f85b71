"""How often the event study's headline 95% interval excludes zero under a true null, with CR1
(the default) and CR2 errors, for few treated clusters: the figures the README gives beside the
rule that withholds significance from a CR1 interval over few clusters.

Each panel: MARKETS markets, 14 periods, the first TREATED markets treated from period 12, market
and period effects, AR(1) errors (0.5), no effect. Runs the `liftos` binary given.

Usage: python cr1_few_clusters_size.py LIFTOS_BINARY REPS TREATED MARKETS
(the README's figures: 400 reps for 1 10, 2 10, 3 12, 5 20 and 5 10; numpy needed)
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

liftos, reps, treated, markets = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(20261204)
rejected = {"cr1": 0, "cr2": 0}
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "panel.csv")
    for _ in range(reps):
        period_fx = rng.normal(size=14)
        rows = ["market,period,sales,promo"]
        for u in range(markets):
            a, e = 2 * rng.normal(), rng.normal()
            for t in range(14):
                e = 0.5 * e + rng.normal()
                rows.append(f"m{u},{t},{100 + a + period_fx[t] + e},{int(u < treated and t >= 12)}")
        with open(path, "w") as f:
            f.write("\n".join(rows) + "\n")
        for se in rejected:
            args = [liftos, "estimate", "did", "--input", path, "--unit", "market", "--time", "period",
                    "--outcome", "sales", "--treatment", "promo", "--event-study", "--alpha", "0.05", "--quiet"]
            if se == "cr2":
                args += ["--se", "cr2"]
            out = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
            rejected[se] += out["ci_low"] > 0 or out["ci_high"] < 0
print(json.dumps({"treated": treated, "markets": markets, "reps": reps,
                  **{se: round(n / reps, 4) for se, n in rejected.items()}}))
