"""The 1-df test of a linear pre-trend on mpdta's TWFE event study: pyfixest 0.60 (PyPI), scipy.

The event study: one dummy per event time of the treated counties (reference -1; never-treated
counties all zero), county and year fixed effects, CRV1 by county:
    pf.feols("lemp ~ D_m4 + D_m3 + D_m2 + D_0 + D_1 + D_2 + D_3 | countyreal + year", vcov={"CRV1": "countyreal"})
The slope of the leads on their distance from the reference, c'b with c_e = (e+1)/sum (e+1)^2
over e < -1, its standard error sqrt(c'Vc) from pyfixest's covariance, and the two-sided
p-value from t with G-1 degrees of freedom (scipy.stats.t); pyfixest's own wald_test(R=c) for
the same restriction is recorded too (its F = t^2).

    python pretrend_slope.py OUT_DIR [DATA_DIR]   -> OUT_DIR/pretrend_slope.json
"""
import json, sys, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
import pyfixest as pf
from scipy import stats

warnings.filterwarnings("ignore")
out = sys.argv[1] if len(sys.argv) > 1 else "tests/reference"
here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"
df = pd.read_csv(f"{here}/mpdta.csv").rename(columns={"first.treat": "first_treat"})
rel = np.where(df.first_treat > 0, df.year - df.first_treat, np.nan)
times = sorted(int(e) for e in set(rel[~np.isnan(rel)]) if e != -1)
names = []
for e in times:
    nm = f"D_m{-e}" if e < 0 else f"D_{e}"
    df[nm] = (rel == e).astype(float)
    names.append(nm)
fit = pf.feols(f"lemp ~ {' + '.join(names)} | countyreal + year", data=df, vcov={"CRV1": "countyreal"})
b, V = np.asarray(fit.coef()[names]), np.asarray(fit._vcov)
leads = [j for j, e in enumerate(times) if e < -1]
dd = sum((times[j] + 1) ** 2 for j in leads)
c = np.zeros(len(times))
for j in leads:
    c[j] = (times[j] + 1) / dd
slope, se = float(c @ b), float(np.sqrt(c @ V @ c))
g = df.countyreal.nunique()
wald = fit.wald_test(R=c.reshape(1, -1))
res = {
    "versions": {"pyfixest": version("pyfixest"), "scipy": version("scipy"), "numpy": version("numpy")},
    "call": "pf.feols('lemp ~ event-time dummies (ref -1) | countyreal + year', vcov={'CRV1': 'countyreal'}); slope = c'b",
    "event_study": [{"relative_time": e, "att": float(b[j]), "std_error": float(np.sqrt(V[j, j]))} for j, e in enumerate(times)],
    "slope": slope,
    "std_error": se,
    "df": g - 1,
    "p_value": float(2 * stats.t.sf(abs(slope / se), g - 1)),
    "wald_statistic": float(np.asarray(wald["statistic"]).ravel()[0]),
    "leads": len(leads),
}
json.dump(res, open(f"{out}/pretrend_slope.json", "w"), indent=1)
print(json.dumps({k: v for k, v in res.items() if k != "event_study"}, indent=1))
