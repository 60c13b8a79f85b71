"""Augmented (ridge) synthetic control on Prop 99 with pysyncon's AugSynth (augsynth's
progfunc="Ridge", no covariates): writes tests/reference/augsynth_pysyncon.json.
Run: python augsynth_pysyncon.py  (pysyncon 1.7.0, scipy, numpy, pandas)"""
import json, os
import numpy as np, pandas as pd
import pysyncon
from pysyncon import AugSynth, Dataprep

here = os.path.dirname(os.path.abspath(__file__))
df = pd.read_csv(os.path.join(here, "..", "data", "smoking_prop99.csv"))
df["year"] = df["year"].astype(int)
controls = sorted(s for s in df.state.unique() if s != "California")
dp = Dataprep(foo=df, predictors=["retprice"], predictors_op="mean", time_predictors_prior=range(1980, 1989),
              dependent="cigsale", unit_variable="state", time_variable="year", treatment_identifier="California",
              controls_identifier=controls, time_optimize_ssr=range(1970, 1989))
out = {"_about": f"pysyncon {pysyncon.__version__ if hasattr(pysyncon, '__version__') else '1.7.0'} AugSynth().fit(dataprep, "
       "lambda_=L, use_covariates=False) on data/smoking_prop99.csv, cigsale, California, pre 1970-1988; "
       "weights W (augmented), synw (plain SCM, SLSQP), att = mean post gap 1989-2000"}
post = list(range(1989, 2001))
Y = df.pivot(index="year", columns="state", values="cigsale")
for name, lam in [("cv", None), ("lambda_1000", 1000.0), ("lambda_50", 50.0)]:
    a = AugSynth()
    a.fit(dp, lambda_=lam, use_covariates=False)
    w = dict(zip(controls, map(float, a.W)))
    synth = Y.loc[post, controls].values @ a.W
    gap = Y.loc[post, "California"].values - synth
    out[name] = {"lambda": float(a.lambda_), "weights": w, "scm_weights": dict(zip(controls, map(float, a.synw))),
                 "att": float(gap.mean())}
    if lam is None:
        out[name]["cv_lambdas"] = list(map(float, a.cv_result.lambdas))
        out[name]["cv_errors_mean"] = list(map(float, a.cv_result.errors_mean))
json.dump(out, open(os.path.join(here, "..", "augsynth_pysyncon.json"), "w"), indent=1)
print({k: (v["lambda"], v["att"]) for k, v in out.items() if k != "_about"})
