"""Conformal inference for synthetic control (Chernozhukov, Wuthrich and Zhu 2021) on Prop 99 with
pysyncon 1.7's ConformalInference (per-period intervals by test inversion, its root search to
`tol`; weights by exact simplex least squares, NNLS, in place of its SLSQP), the synthetic control matching the outcomes with V = I (as augsynth's conformal_inf).
The average effect's p-value and interval use the same re-fits with moving-block permutations
(augsynth's type="block", q = 1), written out here with numpy since pysyncon has no average test.
Writes tests/reference/synth_conformal.json, read by shared/estimators/tests/synth_reference.rs.

    ~/.cache/liftos/bench-venv/bin/python tests/reference/scripts/synth_conformal.py"""
import json, os, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
from scipy.optimize import nnls
from pysyncon import Synth
from pysyncon.inference import ConformalInference

warnings.filterwarnings("ignore")
here = os.path.dirname(os.path.abspath(__file__))
d = pd.read_csv(os.path.join(here, "..", "data", "smoking_prop99.csv"))
d["year"] = d["year"].astype(int)
wide = d.pivot(index="year", columns="state", values="cigsale")
Z1 = wide["California"].astype(float)
Z0 = wide.drop(columns="California").astype(float)
pre = list(range(1970, 1989))
post = list(range(1989, 2001))
ALPHA = 0.1


class OutcomeSynth(Synth):
    """Synth on the outcome path with V = I on the raw outcomes (pysyncon scales each row by its
    standard deviation across units, so V = sd^2 undoes it)."""

    def w_optimize(self, V_mat, X0, X1):
        # pysyncon's SLSQP stops early (its weights differ in the third digit); the exact simplex
        # least squares instead: NNLS with the sum-to-one row weighted heavily.
        sv = np.sqrt(np.diag(V_mat))
        A, b = X0 * sv[:, None], X1 * sv
        c = 1e4 * max(1.0, np.abs(A).max())
        w, _ = nnls(np.vstack([A, np.full(A.shape[1], c)]), np.append(b, c), maxiter=10000)
        return w, float(np.sum((b - A @ w) ** 2))

    def fit(self, Z0, Z1, **_):
        X = pd.concat([Z0, Z1], axis=1)
        v = X.std(axis=1).to_numpy() ** 2
        super().fit(X0=Z0, X1=Z1, Z0=Z0, Z1=Z1, custom_V=v / v.sum())


scm = OutcomeSynth()
scm.fit(Z0.loc[pre], Z1.loc[pre])
gaps = Z1 - Z0 @ scm.W
ci = ConformalInference().confidence_intervals(
    alpha=ALPHA, scm=scm, Z0=Z0, Z1=Z1, pre_periods=pre, post_periods=post, tol=0.01, max_iter=200, verbose=False
)


def block_p(h):
    """augsynth's compute_permute_pval: constant effect h in every post period, moving blocks."""
    z1 = Z1.copy()
    z1.loc[post] = z1.loc[post] - h
    s = OutcomeSynth()
    s.fit(Z0, z1)
    u = (z1 - Z0 @ s.W).to_numpy()
    n, t1 = len(u), len(post)
    stat = lambda x: np.sum(np.abs(x)) / np.sqrt(len(x))
    obs = stat(u[n - t1:])
    shifts = [stat(np.roll(u, -j)[n - t1:]) for j in range(n)]
    return float(np.mean(np.array(shifts) >= obs - 1e-12 * abs(obs)))


est = float(gaps.loc[post].mean())
post_sd = float(np.sqrt(np.mean(gaps.loc[post] ** 2)))
grid = np.linspace(est - 4 * post_sd, est + 4 * post_sd, 401)
acc = [h for h in grid if block_p(h) > ALPHA]
res = {
    "versions": {"pysyncon": version("pysyncon"), "numpy": version("numpy"), "pandas": version("pandas"), "scipy": version("scipy")},
    "alpha": ALPHA,
    "weights": {k: float(v) for k, v in zip(Z0.columns, scm.W)},
    "estimate": est,
    "p_value_no_effect": block_p(0.0),
    "average_ci_grid_step": float(grid[1] - grid[0]),
    "average_ci": [float(min(acc)), float(max(acc))] if acc else None,
    "per_period": [
        {"time": int(t), "gap": float(r["value"]), "ci_low": float(r["lower_ci"]), "ci_high": float(r["upper_ci"])}
        for t, r in ci.iterrows()
    ],
}
with open(os.path.join(here, "..", "synth_conformal.json"), "w") as f:
    json.dump(res, f, indent=1)
print(json.dumps({k: v for k, v in res.items() if k not in ("weights", "per_period")}))
print(ci)
