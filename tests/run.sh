#!/usr/bin/env bash
# Every test, from a clean clone: installs what the tests need (a Python venv with moto, cfn-lint
# and cargo-lambda), starts moto on a free loopback port, lints the SAM template, runs the whole
# cargo test suite including the moto wire tests and fault injection, renders every kind of report
# in headless Chromium (installed from Debian's packages), then the cargo-lambda smoke test
# (schemathesis and a load test) and a short cargo fuzz run of every target.
#
# Env: LIFTOS_CACHE (default ~/.cache/liftos) holds the venv and, unless CARGO_TARGET_DIR is set,
# the cargo target directory, so repeated runs (and CI on the same machine) reuse builds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CACHE=${LIFTOS_CACHE:-$HOME/.cache/liftos}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
VENV=$CACHE/venv
mkdir -p "$CACHE"
# The target directories outside the clone are reused from run to run, and rustc's incremental
# caches in them only grow (36 GB after a day of runs here filled the disk and failed the fuzz
# builds): with less than 20 GB free they are dropped before building (our own crates' next build
# is slower; the dependencies stay built).
free_kb=$(df -Pk "$CACHE" 2>/dev/null | awk 'NR == 2 {print $4}' || true)
if [ -n "$free_kb" ] && [ "$free_kb" -lt 20000000 ]; then
  echo "less than 20 GB free where the builds are kept: dropping rustc's incremental caches"
  rm -rf "$CARGO_TARGET_DIR"/*/incremental "$CACHE"/fuzz-target/*/incremental "$CACHE"/fuzz-target/*/*/incremental
fi

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "tools: python venv with moto, cfn-lint, cargo-lambda, schemathesis"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
  'moto[server]==5.2.5' 'cfn-lint==1.51.0' 'cargo-lambda==1.9.2' 'schemathesis==4.32.5'
export PATH="$VENV/bin:$PATH"

step "moto server"
MOTO_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 tests/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT" >"$CACHE/moto.log" 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null || true; wait $MOTO_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$MOTO_PORT/moto-api/', timeout=1)" 2>/dev/null; then break; fi
  sleep 0.5
done
export LIFTOS_MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
echo "moto on $LIFTOS_MOTO_ENDPOINT"

step "fault-injection proxy in front of moto"
FAULT_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 tests/fault_proxy.py "$FAULT_PORT" "$LIFTOS_MOTO_ENDPOINT" --rate 0.05 --rate-other 0.25 >"$CACHE/fault-proxy.log" 2>&1 &
FAULT_PID=$!
trap 'kill $MOTO_PID $FAULT_PID 2>/dev/null || true; wait $MOTO_PID $FAULT_PID 2>/dev/null || true' EXIT
export LIFTOS_FAULT_PROXY="http://127.0.0.1:$FAULT_PORT"
echo "faults injected by $LIFTOS_FAULT_PROXY (5% of DynamoDB calls, 25% of S3, SQS and Secrets Manager calls)"

step "cfn-lint infra/template.yaml"
cfn-lint infra/template.yaml
echo "template ok"

step "cargo fmt --check, cargo clippy -D warnings"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The Lambdas built on their own, as `cargo lambda build -p liftos-functions` builds them, and the
# platform crate with its default features: without the `demo` feature that the command line and
# the tests turn on, which a workspace build unifies in for every crate (so it never shows code
# that needs it: a Lambda build broke that way unseen).
cargo clippy -p liftos-functions --locked -- -D warnings
cargo clippy -p liftos --locked -- -D warnings

step "cargo test --workspace (unit, embedded, moto wire tests, fault injection)"
cargo test --workspace --locked -- --include-ignored
cat "$CARGO_TARGET_DIR/tmp/faults-report.txt" "$CARGO_TARGET_DIR/tmp/faults-chain-report.txt" 2>/dev/null && echo

step "every pinned answer matches the generated OpenAPI document"
python3 tests/contract/answers_match_openapi.py
if python3 tests/contract/answers_match_openapi.py --self-test >/dev/null; then
  echo "the schema check did not notice corrupted answers"; exit 1
fi

step "every kind of report rendered in headless Chromium (Debian's package), screenshots kept"
if ! command -v chromium >/dev/null; then
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
fi
python3 tests/browser_reports.py "$CARGO_TARGET_DIR/debug/liftos" "$CARGO_TARGET_DIR/tmp/reports"

step "cargo-lambda smoke test"
bash tests/smoke.sh

step "cargo fuzz: a short run of every libFuzzer target (tests/fuzz.sh)"
FUZZ_SECONDS=${FUZZ_SECONDS:-10} bash tests/fuzz.sh

step "done"
