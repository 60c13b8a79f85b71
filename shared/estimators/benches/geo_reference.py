"""R-free Python reference for geo market selection (the same algorithm as
liftos::surfacing::geo::design): each market divided by its mean, for every set of up to 3
markets the pooled treated series is fitted on 52 pre-periods by simplex-constrained least
squares (scipy SLSQP, as pysyncon fits synthetic-control weights) in 6 replay windows, and the
placebo lifts over 2, 4 and 6 weeks give the MDE. Times the first N sets and extrapolates to all
20,875 (it would take too long to run them all).

    python geo_reference.py DATA_DIR/geo.csv [N]
"""
import itertools, json, sys, time
import numpy as np, pandas as pd
from scipy.optimize import minimize
from scipy.stats import norm

path = sys.argv[1]
n_sets = int(sys.argv[2]) if len(sys.argv) > 2 else 200
df = pd.read_csv(path)
Y = df.pivot(index="market", columns="week", values="conversions").values  # markets x weeks
S = Y / Y.mean(axis=1, keepdims=True)
k, T = S.shape
durations, windows, pre, dmax = [2, 4, 6], 6, 52, 6
step = max(1, min(dmax, (T - dmax - 8) // windows))
starts = [T - dmax - w * step for w in range(windows)]
sets = [c for r in (1, 2, 3) for c in itertools.combinations(range(k), r)]


def simplex_ls(A, b):  # A: periods x donors
    n = A.shape[1]
    P, q = A.T @ A, A.T @ b
    res = minimize(lambda w: 0.5 * w @ P @ w - q @ w, np.full(n, 1 / n), jac=lambda w: P @ w - q, method="SLSQP",
                   bounds=[(0, 1)] * n, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1, "jac": lambda w: np.ones(n)}],
                   options={"maxiter": 1000, "ftol": 1e-12})
    return res.x


def evaluate(s):
    donors = [m for m in range(k) if m not in s]
    tr = S[list(s)].mean(axis=0)
    lifts = {d: [] for d in durations}
    for st in starts:
        p0 = max(0, st - pre)
        w = simplex_ls(S[donors, p0:st].T, tr[p0:st])
        synth = w @ S[donors]
        for d in durations:
            lifts[d].append((tr[st:st + d] - synth[st:st + d]).sum() / synth[st:st + d].sum())
    z = norm.ppf(0.95) + norm.ppf(0.8)
    return {d: z * np.sqrt(np.mean(np.square(v))) for d, v in lifts.items()}


t0 = time.perf_counter()
out = [evaluate(s) for s in sets[:n_sets]]
el = time.perf_counter() - t0
print(json.dumps({"reference": "scipy SLSQP simplex least squares, same algorithm", "sets_timed": n_sets, "seconds": el,
                  "seconds_per_set": el / n_sets, "sets_total": len(sets), "extrapolated_total_s": el / n_sets * len(sets),
                  "first_set_mde": {str(d): float(v) for d, v in out[0].items()}}))
