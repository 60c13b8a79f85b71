#!/usr/bin/env bash
# Line coverage per module of the causal components: the estimators (every module of
# shared/estimators/src, the surfacing mathematics included: design/, budget/, mmm/) and the
# services (shared/src/service/*.rs), measured with cargo llvm-cov over the estimators' tests
# (the simulations, run in release by tests/run.sh, are left out: instrumented debug builds make them too slow) and the platform's unit and integration tests on the embedded store.
# Installs what it needs (llvm-tools-preview, cargo-llvm-cov). Not part of tests/run.sh: an
# instrumented build of the workspace takes about 40 minutes on 2 cores.
# Usage: bash tests/coverage.sh   (writes target-cov/coverage.json and prints the table)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CACHE=${LIFTOS_CACHE:-$HOME/.cache/liftos}
rustup component add llvm-tools-preview >/dev/null 2>&1 || rustup component add llvm-tools >/dev/null
if ! command -v cargo-llvm-cov >/dev/null; then
  cargo install --locked cargo-llvm-cov
fi
export CARGO_TARGET_DIR=${LIFTOS_COV_TARGET:-$CACHE/cov-target}
# The moto wire tests and fault injection count too: moto and the proxy as tests/run.sh starts
# them, unless the caller already runs them.
if [ -z "${LIFTOS_MOTO_ENDPOINT:-}" ]; then
  VENV=$CACHE/venv
  if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
  port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  MOTO_PORT=$(port)
  "$VENV/bin/python" tests/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT" >"$CACHE/moto-cov.log" 2>&1 &
  MOTO_PID=$!
  FAULT_PORT=$(port)
  "$VENV/bin/python" tests/fault_proxy.py "$FAULT_PORT" "http://127.0.0.1:$MOTO_PORT" --rate 0.05 --rate-other 0.25 >"$CACHE/fault-cov.log" 2>&1 &
  FAULT_PID=$!
  trap 'kill $MOTO_PID $FAULT_PID 2>/dev/null || true' EXIT
  for _ in $(seq 1 60); do
    if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$MOTO_PORT/moto-api/', timeout=1)" 2>/dev/null; then break; fi
    sleep 0.5
  done
  export LIFTOS_MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT" LIFTOS_FAULT_PROXY="http://127.0.0.1:$FAULT_PORT"
fi
cargo llvm-cov clean --workspace >/dev/null 2>&1 || true
cargo llvm-cov --no-report --locked -p liftos-estimators
cargo llvm-cov --no-report --locked -p liftos --features liftos/demo,liftos/lambda
cargo llvm-cov --no-report --locked -p liftos-tests -- --include-ignored
# The command's goldens and the local server's tests: the liftos binary they run is built
# instrumented, and its profiles are collected with the tests'.
cargo llvm-cov --no-report --locked -p liftos-cli
mkdir -p "$ROOT/target-cov"
cargo llvm-cov report --json --summary-only --output-path "$ROOT/target-cov/coverage.json"
python3 - "$ROOT" "$ROOT/target-cov/coverage.json" <<'PY'
import json, os, sys
from collections import defaultdict
root, path = sys.argv[1], sys.argv[2]
files = json.load(open(path))["data"][0]["files"]
groups = defaultdict(lambda: [0, 0])
for f in files:
    rel = os.path.relpath(f["filename"], root)
    lines = f["summary"]["lines"]
    if rel.startswith("shared/estimators/src/"):
        parts = rel[len("shared/estimators/src/"):].split("/")
        key = "estimators/" + (parts[0] if len(parts) > 1 else parts[0].removesuffix(".rs"))
    elif rel.startswith("shared/src/service/"):
        key = "service/" + rel.rsplit("/", 1)[1].removesuffix(".rs")
    else:
        continue
    groups[key][0] += lines["covered"]
    groups[key][1] += lines["count"]
print(f"{'module':32} {'lines':>7} {'covered':>8} {'line coverage':>14}")
tot = [0, 0]
for k in sorted(groups):
    c, n = groups[k]
    tot[0] += c; tot[1] += n
    print(f"{k:32} {n:7d} {c:8d} {100.0 * c / max(n, 1):13.1f}%")
for label, pre in [("estimators (all)", "estimators/"), ("service (all)", "service/")]:
    c = sum(v[0] for k, v in groups.items() if k.startswith(pre)); n = sum(v[1] for k, v in groups.items() if k.startswith(pre))
    print(f"{label:32} {n:7d} {c:8d} {100.0 * c / max(n, 1):13.1f}%")
PY
