"""HonestDiD smoothness bounds: honestdid 0.1.1 (PyPI, the Python port of Rambachan & Roth's R
package) on the same mpdta TWFE event study as honestdid_rm.py (its betahat and sigma, read back
from honestdid_rm.json: 3 leads, 4 lags), for the average of the post-period effects and for the
first one: createSensitivityResults with Delta^SD and method FLCI (the default without sign or
monotonicity restrictions), alpha 0.05, the default M grid (ten values from 0 to
DeltaSD_upperBound_Mpre) and M = 0.05; also find_optimal_flci's estimator weights and the
half-length at each M.

    python honestdid_sd.py OUT_DIR [DATA_DIR]   (honestdid needs torch and cvxpy, and numpy 2.2;
    its own venv: pip install honestdid==0.1.1 pyfixest==0.60.0 "numpy<2.3")
"""
import json, sys, time, warnings
from importlib.metadata import version
import numpy as np
import honestdid

warnings.filterwarnings("ignore")
out_dir = sys.argv[1]
rm = json.load(open(f"{out_dir}/honestdid_rm.json"))
beta, sigma = np.array(rm["betahat"]), np.array(rm["sigma"])
res = {"versions": {"honestdid": version("honestdid"), "numpy": version("numpy"), "cvxpy": version("cvxpy")},
       "event_times": rm["event_times"], "betahat": beta.tolist(), "sigma": sigma.tolist(),
       "call": "createSensitivityResults(betahat, sigma, 3, 4, Mvec=None (default) and [0.05], l_vec=..., alpha=0.05) (Delta^SD, method FLCI)",
       "default_mvec": None,
       # honestdid's |N(0,1)| quantile, from 10^6 simulated draws (seed 0): its M = 0 half-length
       # is this times the smallest standard deviation
       "qfoldednormal_095_0": float(honestdid.core._qfoldednormal(0.95, 0.0))}
for name, l in [("average", np.full(4, 0.25)), ("first", np.array([1.0, 0, 0, 0]))]:
    t0 = time.time()
    out = honestdid.createSensitivityResults(beta, sigma, numPrePeriods=3, numPostPeriods=4, l_vec=l, alpha=0.05)
    extra = honestdid.createSensitivityResults(beta, sigma, numPrePeriods=3, numPostPeriods=4, l_vec=l, alpha=0.05, Mvec=[0.05])
    secs = time.time() - t0
    rows = [{"m": float(r.M), "ci_low": float(r.lb), "ci_high": float(r.ub)} for r in out.itertuples()]
    rows += [{"m": float(r.M), "ci_low": float(r.lb), "ci_high": float(r.ub)} for r in extra.itertuples()]
    res["default_mvec"] = [float(m) for m in out.M]
    detail = []
    for m in [0.0, float(out.M.iloc[-1])]:
        f = honestdid.find_optimal_flci(beta, sigma, M=m, numPrePeriods=3, numPostPeriods=4, l_vec=l, alpha=0.05)
        detail.append({"m": m, "half_length": float(f["optimalHalfLength"]), "weights": [float(v) for v in f["optimalVec"]]})
    res[name] = {"l_vec": l.tolist(), "seconds": secs, "smoothness": rows, "flci": detail}
    print(name, json.dumps(res[name]), flush=True)
json.dump(res, open(f"{out_dir}/honestdid_sd.json", "w"), indent=2)
