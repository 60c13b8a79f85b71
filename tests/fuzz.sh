#!/usr/bin/env bash
# libFuzzer (cargo fuzz) over every parser of outside input: panel readers, the connectors'
# response parsers, every endpoint's request body and query through the real handlers, cursors,
# time ranges, column-role strings, and every estimator on small panels. Each target runs
# FUZZ_SECONDS (default 10: the short run of tests/run.sh); the corpus is kept in
# $LIFTOS_CACHE/fuzz-corpus and grows run after run.
#
#   FUZZ_SECONDS=600 FUZZ_PROFILE=release bash tests/fuzz.sh   # the longer run (10 minutes a target)
#   FUZZ_SECONDS=60 bash tests/fuzz.sh request_bodies            # one target
#
# The short run builds in the dev profile (FUZZ_PROFILE=dev, the default; the numerical crates
# optimised, see fuzz/Cargo.toml): from cold about a third of the release build's CPU time, at
# a half (panels) to a fifteenth (connector pages) of its executions a second. The fuzz crate
# uses the handlers without the AWS SDK, which it would otherwise compile and instrument too.
#
# Works on the stable toolchain (RUSTC_BOOTSTRAP lets cargo fuzz pass its -Z flags); no
# sanitizer (the code forbids `unsafe`), with debug assertions and overflow checks on. A crash
# fails the script and leaves the input in fuzz/artifacts/<target>/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${LIFTOS_CACHE:-$HOME/.cache/liftos}
SECONDS_EACH=${FUZZ_SECONDS:-10}
case "${FUZZ_PROFILE:-dev}" in
  dev) PROFILE=--dev ;;
  release) PROFILE=--release ;;
  *) echo "FUZZ_PROFILE is dev or release"; exit 2 ;;
esac
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(panels connector_pages request_bodies cursors time_ranges column_roles estimators)
fi
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=$CACHE/fuzz-target
if ! "$CACHE/cargo-fuzz/bin/cargo-fuzz" --version >/dev/null 2>&1; then
  cargo install --quiet --locked cargo-fuzz@0.13.2 --root "$CACHE/cargo-fuzz"
fi
FUZZ="$CACHE/cargo-fuzz/bin/cargo-fuzz"
cd "$ROOT"

# Seeds: the sample requests, the replay server's pages, the sample exports.
CORPUS=$CACHE/fuzz-corpus
mkdir -p "$CORPUS"
python3 - "$ROOT" "$CORPUS" <<'PY'
import json, os, sys, glob
root, corpus = sys.argv[1], sys.argv[2]
def put(target, name, data):
    d = os.path.join(corpus, target); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f: f.write(data)
routes = [l.split('"')[1] for l in open(os.path.join(root, "shared/src/api/routes.rs")) if l.strip().startswith("function: \"")]
for path in glob.glob(os.path.join(root, "events/*.json")):
    ev = json.load(open(path)); name = os.path.basename(path)[:-5]; fn = name.split(".")[0]
    if "body" in ev and fn in routes:
        q = ev.get("rawQueryString", "")
        put("request_bodies", name, bytes([routes.index(fn)]) + q.encode() + b"\n" + (ev.get("body") or "").encode())
    elif "rawQueryString" in ev and fn in routes:
        put("request_bodies", name, bytes([routes.index(fn)]) + ev["rawQueryString"].encode() + b"\n")
for i, csv in enumerate(glob.glob(os.path.join(root, "shared/src/**/*.csv"), recursive=True)[:5]):
    put("panels", f"csv{i}", b"\x00" + open(csv, "rb").read()[:20000])
put("panels", "tiny", b"\x00day,campaign,cost\n2026-09-01,c1,1.5\n")
put("panels", "xlsx", b"\x00" + open(os.path.join(root, "tests/fixtures/exports/google_ads_campaign_report.xlsx"), "rb").read())
put("panels", "xls", b"\x00" + open(os.path.join(root, "tests/fixtures/exports/google_ads_campaign_report.xls"), "rb").read())
put("cursors", "plain", b"eyJrIjpbImEiLCJiIl0sIm0iOiJ4In0")
# inputs that once crashed a target (tests/fixtures/fuzz/<target>-<what>.bin): replayed every run
for path in glob.glob(os.path.join(root, "tests/fixtures/fuzz/*.bin")):
    name = os.path.basename(path)
    put(name.split("-")[0], name, open(path, "rb").read())
put("time_ranges", "ok", b"2026-09-01|2026-09-30")
# a balanced panel of 6 units over 10 periods, units 0 and 1 treated from period 6 (cohort 6)
put("estimators", "balanced", bytes([0x25]) + b"".join(
    bytes([u, t, (128 + 8 * u + 4 * t + (16 if u < 2 and t >= 6 else 0) + (t * 7 + u * 3) % 5) % 255,
           (1 if u < 2 and t >= 6 else 0) | ((5 if u < 2 else 0) << 1), (u * 37 + t * 11) % 256, (u + t) % 7])
    for u in range(6) for t in range(10)))
put("column_roles", "ok", b"spend:1980-1988,outcome:1975")
put("connector_pages", "meta", b"\x00" + json.dumps([{"data": [{"campaign_id": "1", "date_start": "2026-09-01", "spend": "1.5", "actions": [{"action_type": "purchase", "value": "2"}]}]}, {"data": [{"event_type": "update_campaign_budget", "event_time": "2026-09-02T10:00:00+0000", "object_id": "1", "extra_data": "{\"old_value\":100,\"new_value\":130}"}]}]).encode())
put("connector_pages", "google", b"\x01" + json.dumps([[{"results": [{"campaign": {"id": "1"}, "segments": {"date": "2026-09-01"}, "metrics": {"costMicros": "1500000", "conversions": 2}}]}]]).encode())
put("connector_pages", "tiktok", b"\x02" + json.dumps([{"code": 0, "data": {"list": [{"dimensions": {"campaign_id": "1", "stat_time_day": "2026-09-01 00:00:00"}, "metrics": {"spend": "1.5"}}], "page_info": {"total_page": 1}}}]).encode())
PY

status=0
summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$CORPUS/$t"
  log=$CACHE/fuzz-$t.log
  if (cd fuzz && "$FUZZ" run "$PROFILE" --sanitizer none --debug-assertions "$t" "$CORPUS/$t" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -timeout=20 -print_final_stats=1) >"$log" 2>&1; then
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
    summary+=("$t: ${runs:-?} executions in ${SECONDS_EACH}s, no crash")
  else
    status=1
    summary+=("$t: FAILED (see $log and fuzz/artifacts/$t/)")
    tail -40 "$log"
  fi
done
printf '%s\n' "${summary[@]}"
exit $status
