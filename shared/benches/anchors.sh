#!/usr/bin/env bash
# Rust estimators vs the Python anchors, same generated data, same session.
#   bash shared/benches/anchors.sh [twfe cs iv]
# Needs ../shared/bench (the anchors) beside the repository. Installs the anchors into a venv
# under ${LIFTOS_CACHE:-~/.cache/liftos}, writes the data once, runs the anchors (median of 3),
# runs the Rust benchmark (release build, median of 3, one process per benchmark for peak
# memory), and prints a table of ratios; results in $OUT/report.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ANCHORS=${ANCHORS:-$ROOT/../shared/bench}
CACHE=${LIFTOS_CACHE:-$HOME/.cache/liftos}
VENV=$CACHE/bench-venv
DATA=$CACHE/bench-data
OUT=${OUT:-$CACHE/bench-out}
NAMES=${*:-twfe cs iv rd}
mkdir -p "$DATA" "$OUT"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check numpy pandas scipy pyfixest linearmodels csdid rdrobust
declare -A FILE=([twfe]=twfe [cs]=staggered [iv]=iv [rd]=rd)
declare -A ANCHOR=([twfe]=twfe [cs]=callaway_santanna [iv]=iv2sls [rd]=rdrobust)
for n in $NAMES; do
  [ -f "$DATA/${FILE[$n]}.csv" ] || (cd "$ANCHORS" && "$VENV/bin/python" write_data.py "$DATA" "${FILE[$n]}")
done
# RUST_ONLY=1 reuses the anchors' timings from an earlier run of this script (same data).
[ -n "${RUST_ONLY:-}" ] || rm -f "$OUT/timings.json"
for n in $NAMES; do
  [ -n "${RUST_ONLY:-}" ] && break
  (cd "$ANCHORS" && BENCH_OUT="$OUT" "$VENV/bin/python" bench_run.py "${ANCHOR[$n]}" >/dev/null)
done
cd "$ROOT"
: >"$OUT/rust.jsonl"
for n in $NAMES; do
  cargo bench -q -p liftos --bench anchors -- "$DATA" "$n" | tail -1 >>"$OUT/rust.jsonl"
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
    elif n == "cs":
        anchors = [("csdid", py["callaway_santanna"]["csdid"])]
        ref_est = (py["callaway_santanna"]["csdid"]["simple_att"], py["callaway_santanna"]["csdid"]["simple_se"])
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
