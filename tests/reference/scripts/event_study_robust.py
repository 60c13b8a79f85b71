"""Heterogeneity-robust event studies on mpdta: pyfixest 0.60 (PyPI).

- Sun-Abraham: pf.event_study(estimator="saturated") (cohort x event-time TWFE, CRV1 by county)
  and its aggregate() by event time (cohort-share weights); the overall ATT weights the post-period
  cohort x event-time coefficients by their treated observations (fixest sunab agg = "ATT"),
  computed here from pyfixest's coefficients and covariance.
- Imputation: pf.did2s (Gardner's two-stage, GMM cluster-robust errors) with first stage
  "~ 0 | countyreal + year" and second stage "~ 0 + is_treated" (the ATT) or
  "~ i(rel_time, ref=-1.0)" (the event study). pyfixest 0.60 drops singleton fixed effects in
  the first stage by default, which removes the 2004 cohort (one untreated year); the estimator
  keeps them, so the first stage is run with fixef_rm="none".

    python event_study_robust.py OUT_DIR   -> OUT_DIR/event_study_pyfixest.json
"""
import functools, json, re, sys, warnings
from importlib.metadata import version
import numpy as np, pandas as pd
import pyfixest as pf
import pyfixest.did.did2s
d2 = sys.modules["pyfixest.did.did2s"]

warnings.filterwarnings("ignore")
here = sys.argv[2] if len(sys.argv) > 2 else "tests/reference/data"
df = pd.read_csv(f"{here}/mpdta.csv").rename(columns={"first.treat": "first_treat"})
res = {"versions": {"pyfixest": version("pyfixest"), "numpy": version("numpy"), "pandas": version("pandas")}}

# Sun-Abraham
fit = pf.event_study(df, yname="lemp", idname="countyreal", tname="year", gname="first_treat", estimator="saturated")
agg = fit.aggregate()
res["sun_abraham"] = {"event_study": [
    {"relative_time": int(t), "att": float(r["Estimate"]), "std_error": float(r["Std. Error"])}
    for t, r in agg.iterrows()]}
coefs, V, names = np.asarray(fit._beta_hat), np.asarray(fit._vcov), list(fit._coefnames)
d = fit._data
w = np.zeros(len(coefs))
for j, nm in enumerate(names):
    m = re.match(r".+::(.+):.+::(.+)$", nm)
    rt, g = float(m.group(1)), int(m.group(2))
    if rt >= 0:
        w[j] = ((d.first_treated_period == g) & (d.rel_time == rt)).sum()
w /= w.sum()
res["sun_abraham"]["att"] = float(w @ coefs)
res["sun_abraham"]["std_error"] = float(np.sqrt(w @ V @ w))
res["sun_abraham"]["call"] = "pf.event_study(mpdta, 'lemp', 'countyreal', 'year', 'first_treat', estimator='saturated').aggregate(); ATT = treated-share-weighted post coefficients"

# Imputation (did2s) with singletons kept in the first stage.
d2.feols = functools.partial(d2.feols, fixef_rm="none")
df["is_treated"] = ((df.year >= df.first_treat) & (df.first_treat > 0)).astype(int)
df["rel_time"] = np.where(df.first_treat > 0, df.year - df.first_treat, np.inf)
att = pf.did2s(df, yname="lemp", first_stage="~ 0 | countyreal + year", second_stage="~ 0 + is_treated",
               treatment="is_treated", cluster="countyreal")
es = pf.did2s(df, yname="lemp", first_stage="~ 0 | countyreal + year", second_stage="~ i(rel_time, ref=-1.0)",
              treatment="is_treated", cluster="countyreal")
t = es.tidy()
pts = []
for nm, r in t.iterrows():
    m = re.search(r"rel_time::(-?[0-9.]+|inf)$", str(nm))
    if m and m.group(1) != "inf":
        pts.append({"relative_time": int(float(m.group(1))), "att": float(r["Estimate"]), "std_error": float(r["Std. Error"])})
res["imputation"] = {"att": float(att.coef().iloc[0]), "std_error": float(att.se().iloc[0]),
                     "event_study": sorted(pts, key=lambda p: p["relative_time"]),
                     "call": "pf.did2s(first_stage='~ 0 | countyreal + year', second_stage='~ 0 + is_treated' | '~ i(rel_time, ref=-1.0)', treatment='is_treated', cluster='countyreal'), first stage fixef_rm='none'"}
json.dump(res, open(f"{sys.argv[1]}/event_study_pyfixest.json", "w"), indent=2)
print(json.dumps(res, indent=2))
