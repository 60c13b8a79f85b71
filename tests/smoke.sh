#!/usr/bin/env bash
# Smoke test of the real Lambda binaries under cargo-lambda: `cargo lambda watch` builds the
# functions and emulates the Lambda runtime API; `cargo lambda invoke` sends the samples in
# events/; curl calls the HTTP functions the way a user does against `cargo lambda watch`.
# Called by tests/run.sh (which puts cargo-lambda on PATH). Embedded store; no AWS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
WORK=$(mktemp -d)
WATCH_PID=""
passed=0
failed=0

stop_watch() {
  if [ -n "$WATCH_PID" ]; then
    kill -- -"$WATCH_PID" 2>/dev/null || kill "$WATCH_PID" 2>/dev/null || true
    wait "$WATCH_PID" 2>/dev/null || true
    WATCH_PID=""
  fi
}
trap 'stop_watch; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_watch ENV_FILE: cargo lambda watch on a free loopback port, in its own process group.
start_watch() {
  PORT=$(free_port)
  set -m
  cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$PORT" --env-file "$1" >"$WORK/watch-$PORT.log" 2>&1 &
  WATCH_PID=$!
  set +m
  for _ in $(seq 1 120); do
    if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$PORT)))"; then return 0; fi
    sleep 1
  done
  echo "cargo lambda watch did not start"; cat "$WORK/watch-$PORT.log"; return 1
}

# check NAME EXPECTED_STATUS JSON_RESPONSE [FIELD]
check() {
  local name=$1 want=$2 resp=$3 field=${4:-}
  if python3 - "$want" "$field" "$resp" <<'PY'
import json, sys
want, field, raw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
r = json.loads(raw)
status = r.get("statusCode", r.get("status"))
body = json.loads(r["body"]) if isinstance(r.get("body"), str) else r.get("body", r)
ok = status == want and (not field or body.get("field") == field)
if not ok:
    print(f"   got status {status}, body {body}")
sys.exit(0 if ok else 1)
PY
  then echo "ok   $name"; passed=$((passed+1)); else echo "FAIL $name"; failed=$((failed+1)); fi
}

invoke() { timeout 300 cargo lambda invoke "$1" --invoke-address 127.0.0.1 --invoke-port "$PORT" --data-file "events/$2" --output-format json; }

# Build the function binaries first so watch starts them at once (it runs them with cargo run).
cargo build -p ingest-causal -p get-experiment-causal -p store-records -p liftos --features liftos/lambda

# 1. The samples, as API Gateway (with its verified JWT claims) and SQS deliver them.
cat >"$WORK/apigw.env" <<ENV
LIFTOS_BACKEND=embedded
LIFTOS_DATA_DIR=$WORK/data
LIFTOS_AUTH=apigw
RUST_LOG=warn
ENV
start_watch "$WORK/apigw.env"
check "ingest-causal.ok (200)" 200 "$(invoke ingest-causal ingest-causal.ok.json)"
check "ingest-causal.ok again, idempotent (200)" 200 "$(invoke ingest-causal ingest-causal.ok.json)"
check "ingest-causal.bad-spend (400 names the field)" 400 "$(invoke ingest-causal ingest-causal.bad-spend.json)" "records[1].metrics.spend"
check "ingest-causal.forbidden (403)" 403 "$(invoke ingest-causal ingest-causal.forbidden.json)"
check "ingest-causal.no-token (401)" 401 "$(invoke ingest-causal ingest-causal.no-token.json)"
check "get-experiment-causal.ok (404: experiment not created)" 404 "$(invoke get-experiment-causal get-experiment-causal.ok.json)"
out=$(invoke store-records store-records.batch.json)
if python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r.get('batchItemFailures')==[{'itemIdentifier':'0f6c1a2e-0000-4000-8000-000000000001'}] else 1)" "$out"; then
  # No DLQ is configured locally, so the poison message is reported back for SQS's redrive.
  echo "ok   store-records.batch (poison reported as a batch item failure)"; passed=$((passed+1))
else echo "FAIL store-records.batch: $out"; failed=$((failed+1)); fi
stop_watch

# 2. curl with a locally signed token, as the README shows.
SECRET=smoke-test-secret-0123456789abcdef0123
cat >"$WORK/local.env" <<ENV
LIFTOS_BACKEND=embedded
LIFTOS_DATA_DIR=$WORK/data
LIFTOS_AUTH=local
LIFTOS_JWT_SECRET=$SECRET
RUST_LOG=warn
ENV
start_watch "$WORK/local.env"
TOKEN=$(LIFTOS_JWT_SECRET=$SECRET cargo run -q -p liftos --features lambda --bin liftos -- token --org acme --user smoke --role causal_admin | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
BODY=$(python3 -c 'import json; print(json.load(open("events/ingest-causal.ok.json"))["body"])')
curl_json() { # METHOD PATH [BODY] -> {"statusCode":..,"body":..}
  local code body
  body=$(curl -sS -o "$WORK/curl.out" -w '%{http_code}' -X "$1" "http://127.0.0.1:$PORT/lambda-url/$2" \
    -H "authorization: Bearer ${CURL_TOKEN:-$TOKEN}" -H 'content-type: application/json' ${3:+--data "$3"})
  python3 -c 'import json,sys; print(json.dumps({"statusCode": int(sys.argv[1]), "body": open(sys.argv[2]).read()}))' "$body" "$WORK/curl.out"
}
check "curl POST ingest (200)" 200 "$(curl_json POST ingest-causal/api/v1/marketing/ingest/causal "$BODY")"
check "curl GET experiment, bad limit (400)" 400 "$(curl_json GET 'get-experiment-causal/api/v1/marketing/causal/exp-1?limit=0')" "limit"
check "curl forged token (401)" 401 "$(CURL_TOKEN=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. curl_json POST ingest-causal/api/v1/marketing/ingest/causal "$BODY")"
stop_watch

# 3. The same binaries on the AWS adapters, against moto through AWS_ENDPOINT_URL (run.sh starts it).
if [ -n "${LIFTOS_MOTO_ENDPOINT:-}" ]; then
  TABLE=smoke-$RANDOM$RANDOM; BUCKET=smoke-$RANDOM$RANDOM
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
  AWS_ENDPOINT_URL=$LIFTOS_MOTO_ENDPOINT cargo run -q -p liftos --features lambda --bin liftos -- init-aws --table "$TABLE" --bucket "$BUCKET"
  cat >"$WORK/aws.env" <<ENV
LIFTOS_BACKEND=aws
LIFTOS_TABLE=$TABLE
LIFTOS_BUCKET=$BUCKET
LIFTOS_AUTH=apigw
AWS_ENDPOINT_URL=$LIFTOS_MOTO_ENDPOINT
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_REGION=us-east-1
RUST_LOG=warn
ENV
  start_watch "$WORK/aws.env"
  check "aws/moto: ingest-causal.ok (200)" 200 "$(invoke ingest-causal ingest-causal.ok.json)"
  check "aws/moto: ingest-causal.bad-spend (400)" 400 "$(invoke ingest-causal ingest-causal.bad-spend.json)" "records[1].metrics.spend"
  check "aws/moto: get-experiment-causal.ok (404: no such experiment in DynamoDB)" 404 "$(invoke get-experiment-causal get-experiment-causal.ok.json)"
  stop_watch
else
  echo "FAIL aws/moto part: LIFTOS_MOTO_ENDPOINT is not set (run tests/run.sh)"; failed=$((failed+1))
fi

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
