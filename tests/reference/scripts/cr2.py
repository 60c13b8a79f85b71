"""CR2 / Bell-McCaffrey reference, computed directly from the documented formulas on the full
dummy model (no absorption): Bell & McCaffrey (2002), Imbens & Kolesar (2016, the degrees of
freedom as (sum lambda)^2 / sum lambda^2 over the eigenvalues of G'G, G's column g being
(I - H)[:, g] A_g X_g (X'X)^-1 c), with A_g the symmetric (Moore-Penrose) inverse square root of
(I - H)_gg, as R clubSandwich's vcovCR(type = "CR2") with working model I and coef_test(test =
"Satterthwaite") document them (Pustejovsky & Tipton 2018). No Python package implements CR2,
so this is the "documented formula" reference: dense n x n algebra with numpy.

    python cr2.py OUT_DIR   -> OUT_DIR/cr2_reference.json
Data: data/wild_panel.csv (12 units x 8 periods) and data/mpdta.csv.
"""
import json, sys
from importlib.metadata import version
import numpy as np, pandas as pd

here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"


def pinv_sqrt(b):
    w, v = np.linalg.eigh(b)
    inv = np.where(w > 1e-10, 1.0 / np.sqrt(np.clip(w, 1e-300, None)), 0.0)
    return (v * inv) @ v.T


def cr2(y, X, cl, cols):
    n = len(y)
    xtx_inv = np.linalg.pinv(X.T @ X)
    beta = xtx_inv @ X.T @ y
    e = y - X @ beta
    H = X @ xtx_inv @ X.T
    IH = np.eye(n) - H
    groups = [np.flatnonzero(cl == g) for g in np.unique(cl)]
    A = [pinv_sqrt(IH[np.ix_(ix, ix)]) for ix in groups]
    meat = np.zeros((X.shape[1], X.shape[1]))
    for ix, a in zip(groups, A):
        s = X[ix].T @ a @ e[ix]
        meat += np.outer(s, s)
    V = xtx_inv @ meat @ xtx_inv
    out = []
    for j in cols:
        c = np.zeros(X.shape[1]); c[j] = 1.0
        G = np.zeros((n, len(groups)))
        for k, (ix, a) in enumerate(zip(groups, A)):
            G[:, k] = IH[:, ix] @ a @ X[ix] @ xtx_inv @ c
        lam = np.linalg.eigvalsh(G.T @ G)
        out.append({"estimate": float(beta[j]), "std_error": float(np.sqrt(V[j, j])),
                    "df": float(lam.sum() ** 2 / (lam ** 2).sum())})
    return out


def design(df, unit, time, regs):
    parts = [np.ones((len(df), 1))] + [df[r].to_numpy(float)[:, None] for r in regs]
    parts.append(pd.get_dummies(df[unit], drop_first=True).to_numpy(float))
    parts.append(pd.get_dummies(df[time], drop_first=True).to_numpy(float))
    return np.hstack(parts)


res = {"versions": {"numpy": version("numpy"), "pandas": version("pandas")},
       "method": "full dummy model, A_g = pinv-sqrt((I-H)_gg), BM df from eig(G'G) (clubSandwich CR2 + Satterthwaite, working model I)"}
w = pd.read_csv(f"{here}/wild_panel.csv")
X = design(w, "unit", "time", ["d"])
res["wild_panel_by_unit"] = cr2(w.y.to_numpy(float), X, pd.factorize(w.unit)[0], [1])[0]
res["wild_panel_by_time"] = cr2(w.y.to_numpy(float), X, w.time.to_numpy(), [1])[0]
m = pd.read_csv(f"{here}/mpdta.csv")
m["d"] = ((m["first.treat"] > 0) & (m["year"] >= m["first.treat"])).astype(float)
X = design(m, "countyreal", "year", ["d"])
res["mpdta_by_county"] = cr2(m.lemp.to_numpy(float), X, m.countyreal.to_numpy(), [1])[0]
m["state"] = m.countyreal % 23
res["mpdta_by_state23"] = cr2(m.lemp.to_numpy(float), X, m.state.to_numpy(), [1])[0]
# Event study on the small panel: event-time dummies for the treated units (reference -1).
w["first"] = np.where(w.unit.isin(["u00", "u01", "u02"]), 5, np.nan)
rel = w.time - w["first"]
names = []
for r in sorted(rel.dropna().unique()):
    if r == -1:
        continue
    w[f"e{int(r)}"] = (rel == r).astype(float); names.append(int(r))
X = design(w, "unit", "time", [f"e{r}" for r in names])
pts = cr2(w.y.to_numpy(float), X, pd.factorize(w.unit)[0], list(range(1, 1 + len(names))))
res["wild_panel_event_study"] = [dict(relative_time=r, **p) for r, p in zip(names, pts)]
json.dump(res, open(f"{sys.argv[1]}/cr2_reference.json", "w"), indent=2)
print(json.dumps(res, indent=2))
