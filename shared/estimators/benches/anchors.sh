#!/usr/bin/env bash
# Rust estimators vs the Python anchors, same generated data, same session.
#   bash shared/estimators/benches/anchors.sh [twfe cs iv]
# Needs ../shared/bench (the anchors) beside the repository. Installs the anchors into a venv
# under ${LIFTOS_CACHE:-~/.cache/liftos}, writes the data once, runs the anchors (median of 3),
# runs the Rust benchmark (release build, median of 3, one process per benchmark for peak
# memory), and prints a table of ratios; results in $OUT/report.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
ANCHORS=${ANCHORS:-$ROOT/../shared/bench}
CACHE=${LIFTOS_CACHE:-$HOME/.cache/liftos}
VENV=$CACHE/bench-venv
DATA=$CACHE/bench-data
OUT=${OUT:-$CACHE/bench-out}
NAMES=${*:-twfe wild cs iv rd pc aipw synth_fixed synth synth_placebo sdid synth_conformal}
mkdir -p "$DATA" "$OUT"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check numpy pandas pyarrow scipy pyfixest linearmodels csdid rdrobust causal-learn statsmodels pysyncon wildboottest
declare -A FILE=([twfe]=twfe [wild]=twfe [cs]=staggered [iv]=iv [rd]=rd [pc]=dag [aipw]=aipw [synth_fixed]=synth [synth]=synth [synth_placebo]=synth)
declare -A ANCHOR=([twfe]=twfe [wild]=wild [cs]=callaway_santanna [iv]=iv2sls [rd]=rdrobust [pc]=pc [aipw]=aipw [synth_fixed]=pysyncon [synth]=pysyncon [synth_placebo]=pysyncon)
for n in $NAMES; do
  [ "$n" = aipw ] || [ "$n" = wild ] || [ "$n" = sdid ] || [ "$n" = synth_conformal ] && continue
  [ -f "$DATA/${FILE[$n]}.csv" ] || (cd "$ANCHORS" && "$VENV/bin/python" write_data.py "$DATA" "${FILE[$n]}")
done
# AIPW has no anchor in ../shared/bench: our own Python reference (statsmodels Logit + OLS, numpy
# AIPW with its influence-function SE), on data generated here with a fixed seed.
AIPW_PY=$(cat <<'PY'
import json, os, sys, time
import numpy as np, pandas as pd, statsmodels.api as sm
data, out = sys.argv[1], sys.argv[2]
path = os.path.join(data, "aipw.csv")
if not os.path.exists(path):
    rng = np.random.default_rng(12345); n = 1_000_000
    X = rng.normal(size=(n, 10)); e = 1 / (1 + np.exp(-(X @ np.linspace(-0.3, 0.3, 10))))
    d = (rng.random(n) < e).astype(float); y = 1 + 2 * d + X @ np.linspace(0.5, -0.5, 10) + rng.normal(size=n)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)]); df["d"], df["y"] = d, y
    df.to_csv(path, index=False)
if "--time" in sys.argv:
    df = pd.read_csv(path); X = sm.add_constant(df[[f"x{i}" for i in range(10)]].values); d, y = df.d.values, df.y.values
    def fit():
        e = sm.Logit(d, X).fit(disp=0).predict(X)
        mu1 = X @ sm.OLS(y[d == 1], X[d == 1]).fit().params; mu0 = X @ sm.OLS(y[d == 0], X[d == 0]).fit().params
        phi = mu1 - mu0 + d * (y - mu1) / e - (1 - d) * (y - mu0) / (1 - e); tau = phi.mean()
        return tau, np.sqrt(((phi - tau) ** 2).sum()) / len(y)
    ts = []
    for _ in range(3):
        t0 = time.perf_counter(); tau, se = fit(); ts.append(time.perf_counter() - t0)
    tpath = os.path.join(out, "timings.json"); t = json.load(open(tpath)) if os.path.exists(tpath) else {}
    t["aipw"] = {"call": "statsmodels Logit + 2 OLS + numpy AIPW (our reference)", "median_s": float(np.median(ts)), "runs_s": ts, "ate": float(tau), "se": float(se)}
    json.dump(t, open(tpath, "w"), indent=2)
PY
)
case " $NAMES " in *" aipw "*) "$VENV/bin/python" -c "$AIPW_PY" "$DATA" "$OUT" ;; esac
# The wild cluster bootstrap's anchor: wildboottest (PyPI) on the same panel, 50 clusters, 9,999
# Rademacher draws. wildboottest takes a statsmodels OLS, and 10,100 dummies on 1,000,000 rows
# do not fit in memory, so it runs on the two-way within-transformed data (balanced panel: exact
# FWL), as fwildclusterboot's `fe` does; the same coefficient and clustered SE up to the dof.
WILD_PY=$(cat <<'PY'
import json, os, sys, time
import numpy as np, pandas as pd, statsmodels.api as sm
from wildboottest.wildboottest import wildboottest
data, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(os.path.join(data, "twfe.csv"))
def within(v):
    return v - v.groupby(df.unit).transform("mean") - v.groupby(df.time).transform("mean") + v.mean()
y, d = within(df.y), within(df.D)
cl = (df.unit % 50).to_numpy()
ts = []
for _ in range(3):
    t0 = time.perf_counter()
    r = wildboottest(sm.OLS(y.to_numpy(), pd.DataFrame({"D": d})), param="D", cluster=cl, B=9999, seed=1, show=False)
    ts.append(time.perf_counter() - t0)
tpath = os.path.join(out, "timings.json"); t = json.load(open(tpath)) if os.path.exists(tpath) else {}
t["wild"] = {"call": "wildboottest(OLS(within y, within D), param='D', cluster=unit % 50, B=9999) (p-value only, no interval)", "median_s": float(np.median(ts)), "runs_s": ts, "p_value": float(r["p-value"].iloc[0])}
json.dump(t, open(tpath, "w"), indent=2)
PY
)
# Synthetic DiD's anchor: the synthdid PyPI package (a port of R synthdid; numpy 1.23, so its own
# venv) on Prop 99, the fit and its placebo standard error (the package draws 50 placebos whatever
# n_reps says; we time 200). Conformal synthetic control's: pysyncon's ConformalInference on Prop 99
# at 90% (per-period intervals only; its own SLSQP weights, as a user runs it).
SDID_PY=$(cat <<'PY'
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
from synthdid.synthdid import Synthdid
root, out = sys.argv[1], sys.argv[2]
d = pd.read_csv(os.path.join(root, "tests/reference/data/prop99_sdid.csv"))[["state", "year", "cigsale", "treated"]]
ts, fit_ts = [], []
for _ in range(3):
    np.random.seed(1)
    t0 = time.perf_counter(); m = Synthdid(d, unit="state", time="year", treatment="treated", outcome="cigsale").fit()
    t1 = time.perf_counter(); se = m.vcov(method="placebo").se; ts.append(time.perf_counter() - t0); fit_ts.append(t1 - t0)
tpath = os.path.join(out, "timings.json"); t = json.load(open(tpath)) if os.path.exists(tpath) else {}
t["sdid"] = {"call": "Synthdid(...).fit() + vcov(method='placebo') (50 placebo draws)", "median_s": float(np.median(ts)), "fit_only_median_s": float(np.median(fit_ts)), "runs_s": ts, "att": float(m.att), "se": float(se)}
json.dump(t, open(tpath, "w"), indent=2)
PY
)
CONF_PY=$(cat <<'PY'
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
from pysyncon import Synth
from pysyncon.inference import ConformalInference
root, out = sys.argv[1], sys.argv[2]
d = pd.read_csv(os.path.join(root, "tests/reference/data/smoking_prop99.csv")); d["year"] = d.year.astype(int)
w = d.pivot(index="year", columns="state", values="cigsale"); Z1 = w["California"].astype(float); Z0 = w.drop(columns="California").astype(float)
pre, post = list(range(1970, 1989)), list(range(1989, 2001))
class OutcomeSynth(Synth):
    def fit(self, Z0, Z1, **_):
        v = pd.concat([Z0, Z1], axis=1).std(axis=1).to_numpy() ** 2
        super().fit(X0=Z0, X1=Z1, Z0=Z0, Z1=Z1, custom_V=v / v.sum())
t0 = time.perf_counter()
s = OutcomeSynth(); s.fit(Z0.loc[pre], Z1.loc[pre])
ConformalInference().confidence_intervals(alpha=0.1, scm=s, Z0=Z0, Z1=Z1, pre_periods=pre, post_periods=post, tol=0.01, verbose=False)
el = time.perf_counter() - t0
tpath = os.path.join(out, "timings.json"); t = json.load(open(tpath)) if os.path.exists(tpath) else {}
t["synth_conformal"] = {"call": "pysyncon ConformalInference.confidence_intervals (per-period, tol 0.01), one run", "median_s": el, "runs_s": [el]}
json.dump(t, open(tpath, "w"), indent=2)
PY
)
# RUST_ONLY=1 reuses the anchors' timings from an earlier run of this script (same data).
[ -n "${RUST_ONLY:-}" ] || rm -f "$OUT/timings.json"
for n in $NAMES; do
  [ -n "${RUST_ONLY:-}" ] && break
  if [ "$n" = aipw ]; then "$VENV/bin/python" -c "$AIPW_PY" "$DATA" "$OUT" --time; continue; fi
  if [ "$n" = wild ]; then "$VENV/bin/python" -c "$WILD_PY" "$DATA" "$OUT"; continue; fi
  if [ "$n" = sdid ]; then
    SVENV=$CACHE/sdid-venv
    [ -x "$SVENV/bin/python" ] || { python3 -m venv "$SVENV" && "$SVENV/bin/pip" install --quiet --disable-pip-version-check synthdid==0.10.1; }
    "$SVENV/bin/python" -c "$SDID_PY" "$ROOT" "$OUT"; continue
  fi
  if [ "$n" = synth_conformal ]; then "$VENV/bin/python" -c "$CONF_PY" "$ROOT" "$OUT"; continue; fi
  # the three synthetic-control benchmarks share one anchor run
  if [ "$n" = synth ] || [ "$n" = synth_placebo ]; then case " $NAMES " in *" synth_fixed "*) continue ;; esac; fi
  (cd "$ANCHORS" && BENCH_OUT="$OUT" "$VENV/bin/python" bench_run.py "${ANCHOR[$n]}" >/dev/null)
done
cd "$ROOT"
: >"$OUT/rust.jsonl"
for n in $NAMES; do
  cargo bench -q -p liftos-estimators --bench anchors -- "$DATA" "$n" | tail -1 >>"$OUT/rust.jsonl"
done
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
py = json.load(open(f"{out}/timings.json"))
rows, report = [], {"python": py, "rust": []}
for line in open(f"{out}/rust.jsonl"):
    r = json.loads(line); report["rust"].append(r)
    n = r["benchmark"]
    if n == "twfe":
        anchors = [("pyfixest feols", py["twfe"]["pyfixest_feols"]), ("linearmodels PanelOLS", py["twfe"]["linearmodels_PanelOLS"])]
        ref_est = (py["twfe"]["pyfixest_feols"]["coef"], py["twfe"]["pyfixest_feols"]["se"])
    elif n == "wild":
        anchors = [("wildboottest (p only)", py["wild"])]
        ref_est = (py["wild"]["p_value"], float("nan"))
    elif n == "cs":
        anchors = [("csdid", py["callaway_santanna"]["csdid"])]
        ref_est = (py["callaway_santanna"]["csdid"]["simple_att"], py["callaway_santanna"]["csdid"]["simple_se"])
    elif n == "pc":
        anchors = [("causal-learn pc", py["pc"])]
        ref_est = (py["pc"]["n_est_edges"], float("nan"))
    elif n == "aipw":
        anchors = [("statsmodels AIPW (ours)", py["aipw"])]
        ref_est = (py["aipw"]["ate"], py["aipw"]["se"])
    elif n == "synth_fixed":
        a = py["pysyncon"]["fixed_V_equal"]
        anchors = [("pysyncon fixed V", a)]
        ref_est = (float("nan"), float("nan"))
    elif n in ("synth", "synth_placebo"):
        # pysyncon's full nested fit is not timed (~20+ min): compare the time per inner QP
        # solve, and report the whole fit's time.
        a = py["pysyncon"]["nelder_mead_equal_maxiter25"]
        per_qp = r["fit_median_s"] / r["std_error"]
        print(f"{n}: {r['std_error']:.0f} inner QP solves, {per_qp*1e6:.1f} us each vs pysyncon {a['seconds_per_inner_qp']*1e3:.1f} ms ({a['seconds_per_inner_qp']/per_qp:.0f}x); whole fit {r['fit_median_s']:.3f} s")
        anchors = [("pysyncon NM 25 iters", a)]
        ref_est = (float("nan"), float("nan"))
    elif n == "sdid":
        anchors = [("synthdid (PyPI), 50 placebos", py["sdid"])]
        ref_est = (py["sdid"]["att"], py["sdid"]["se"])
    elif n == "synth_conformal":
        anchors = [("pysyncon ConformalInference", py["synth_conformal"])]
        ref_est = (float("nan"), float("nan"))
    elif n == "iv":
        anchors = [("linearmodels IV2SLS", py["iv2sls"])]
        ref_est = (py["iv2sls"]["coef_x"], py["iv2sls"]["se_x"])
    else:
        anchors = [("rdrobust", py["rdrobust"])]
        ref_est = (py["rdrobust"]["coef_conventional"], float("nan"))
    for label, a in anchors:
        rows.append((n, label, a["median_s"], r["fit_median_s"], r["end_to_end_s"], a["median_s"] / r["fit_median_s"], a["median_s"] / r["end_to_end_s"]))
    r["anchor_estimate"], r["anchor_std_error"] = ref_est
    rows_mem = (n, r["peak_rss_mb"], r["data_in_memory_mb"])
    print(f"{n}: estimate {r['estimate']:.10g} (anchor {ref_est[0]:.10g}), se {r['std_error']:.10g} (anchor {ref_est[1]:.10g}); peak RSS {r['peak_rss_mb']:.0f} MB for {r['data_in_memory_mb']:.0f} MB of data ({r['peak_rss_mb']/r['data_in_memory_mb']:.1f}x)")
print(f"{'benchmark':<6} {'anchor':<24} {'anchor s':>9} {'rust fit s':>11} {'rust e2e s':>11} {'x fit':>8} {'x e2e':>8}")
for n, label, a, f, e, rf, re in rows:
    print(f"{n:<6} {label:<24} {a:>9.3f} {f:>11.4f} {e:>11.3f} {rf:>8.1f} {re:>8.1f}")
json.dump(report, open(f"{out}/report.json", "w"), indent=1)
PY
# End to end as a user runs it (issue 20): the whole `liftos` process (release build) reading the
# CSV, fitting and printing, against the anchor reading the same CSV with pandas and fitting, each
# in fresh processes, with peak memory; e2e.py writes $OUT/e2e.json and prints its table.
E2E=""
# (with TWFE, the same panel with named units and dated periods, as a geo panel is written)
for n in $NAMES; do case " twfe cs iv rd pc aipw " in *" $n "*) E2E="$E2E $n" ;; esac; done
case " $E2E " in *" twfe "*) E2E="$E2E twfe_named" ;; esac
if [ -n "$E2E" ]; then
  [ -f "$DATA/aipw.csv" ] || "$VENV/bin/python" -c "$AIPW_PY" "$DATA" "$OUT"
  cargo build -q --release --locked -p liftos-cli --bin liftos
  "$VENV/bin/python" "$ROOT/shared/estimators/benches/e2e.py" "$DATA" "$OUT" "${CARGO_TARGET_DIR:-$ROOT/target}/release/liftos" $E2E
  # reading alone, CSV against the Parquet copies e2e.py wrote
  STEMS=$(for n in $E2E; do case $n in cs) echo staggered ;; pc) echo dag ;; *) echo "$n" ;; esac; done)
  cargo bench -q -p liftos --bench read -- "$DATA" $STEMS | tee "$OUT/read.jsonl"
fi
