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
  cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$PORT" --env-file "$1" >"$WORK/watch-$PORT.log" 2>&1 &
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
cargo build --workspace --bins --features liftos/lambda

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
check "get-experiment-causal.ok (404: experiment not created yet)" 404 "$(invoke get-experiment-causal get-experiment-causal.ok.json)"
# The memory service's samples, in an order that makes each meaningful: the sample experiment
# is created first (from shared/samples), then read, listed, moved to completed.
python3 -c 'import json,sys; ev=json.load(open("events/create-experiment.ok.json")); ev["body"]=open("shared/samples/experiment.json").read(); json.dump(ev, open(sys.argv[1], "w"))' "$WORK/create-sample.json"
check "create-experiment (the sample experiment) (201)" 201 "$(timeout 300 cargo lambda invoke create-experiment --invoke-address 127.0.0.1 --invoke-port "$PORT" --data-file "$WORK/create-sample.json" --output-format json)"
check "create-experiment.ok (201)" 201 "$(invoke create-experiment create-experiment.ok.json)"
check "create-experiment.ok again, idempotent (200)" 200 "$(invoke create-experiment create-experiment.ok.json)"
check "create-experiment.bad-dates (400 names end)" 400 "$(invoke create-experiment create-experiment.bad-dates.json)" "end"
check "create-experiment.forbidden (403)" 403 "$(invoke create-experiment create-experiment.forbidden.json)"
check "get-experiment.ok (200)" 200 "$(invoke get-experiment get-experiment.ok.json)"
check "get-experiment.not-found (404)" 404 "$(invoke get-experiment get-experiment.not-found.json)"
check "get-experiment-causal.ok (200)" 200 "$(invoke get-experiment-causal get-experiment-causal.ok.json)"
check "list-experiments.ok (200)" 200 "$(invoke list-experiments list-experiments.ok.json)"
check "list-experiments.bad-status (400)" 400 "$(invoke list-experiments list-experiments.bad-status.json)" "status"
check "update-experiment-status.bad-transition (400)" 400 "$(invoke update-experiment-status update-experiment-status.bad-transition.json)" "status"
check "update-experiment-status.ok (200)" 200 "$(invoke update-experiment-status update-experiment-status.ok.json)"
check "query-records.ok (200)" 200 "$(invoke query-records query-records.ok.json)"
check "query-records.bad-date (400)" 400 "$(invoke query-records query-records.bad-date.json)" "start"
check "list-confounders.ok (200)" 200 "$(invoke list-confounders list-confounders.ok.json)"
check "list-confounders.bad-platform (400)" 400 "$(invoke list-confounders list-confounders.bad-platform.json)" "platform"
check "query-audit-log.ok (200)" 200 "$(invoke query-audit-log query-audit-log.ok.json)"
check "query-audit-log.forbidden (403)" 403 "$(invoke query-audit-log query-audit-log.forbidden.json)"
check "design-experiment.ok (200)" 200 "$(invoke design-experiment design-experiment.ok.json)"
check "design-experiment.bad-query (400)" 400 "$(invoke design-experiment design-experiment.bad-query.json)" "power.query"
check "design-experiment.forbidden (403)" 403 "$(invoke design-experiment design-experiment.forbidden.json)"
check "readout-experiment.ok (200: the geo test's lift with its intervals)" 200 "$(invoke readout-experiment readout-experiment.ok.json)"
check "readout-experiment.bad-market (400 names treated_markets)" 400 "$(invoke readout-experiment readout-experiment.bad-market.json)" "treated_markets"
# The bundled sample data for org acme (the samples' caller), then the surfacing functions on it.
check "sync-now.ok (200: no connections configured yet)" 200 "$(invoke sync-now sync-now.ok.json)"
check "sync-now.bad-period (400)" 400 "$(invoke sync-now sync-now.bad-period.json)" "end"
check "sync-now.unknown-connection (400)" 400 "$(invoke sync-now sync-now.unknown-connection.json)" "connection_id"
cargo run -q -p liftos-cli --bin liftos -- pipeline --data-dir "$WORK/data" --org acme --out "$WORK/out" >/dev/null
out=$(timeout 300 cargo lambda invoke sync-connections --invoke-address 127.0.0.1 --invoke-port "$PORT" --data-file events/sync-connections.export-dropped.json --output-format json)
if python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r.get('queued')==['orgs/acme/drop/linkedin-export/linkedin_campaigns.csv'] else 1)" "$out"; then
  echo "ok   sync-connections.export-dropped (the export went through transform, quality and store)"; passed=$((passed+1))
else echo "FAIL sync-connections.export-dropped: $out"; failed=$((failed+1)); fi
out=$(timeout 300 cargo lambda invoke sync-connections --invoke-address 127.0.0.1 --invoke-port "$PORT" --data-file events/sync-connections.schedule.json --output-format json)
if python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r=={'globex': []} else 1)" "$out"; then
  echo "ok   sync-connections.schedule (an org without connections)"; passed=$((passed+1))
else echo "FAIL sync-connections.schedule: $out"; failed=$((failed+1)); fi
out=$(invoke transform-records transform-records.export.json)
if python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r.get('batchItemFailures')==[{'itemIdentifier':'5b2f1c00-0000-4000-8000-000000000002'}] else 1)" "$out"; then
  echo "ok   transform-records.export (the export lands; the missing object is reported)"; passed=$((passed+1))
else echo "FAIL transform-records.export: $out"; failed=$((failed+1)); fi
out=$(invoke score-quality score-quality.missing-batch.json)
if python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if len(r.get('batchItemFailures',[]))==1 else 1)" "$out"; then
  echo "ok   score-quality.missing-batch (poison reported)"; passed=$((passed+1))
else echo "FAIL score-quality.missing-batch: $out"; failed=$((failed+1)); fi
check "optimize-budget.ok (200)" 200 "$(invoke optimize-budget optimize-budget.ok.json)"
check "optimize-budget.bad-history (400)" 400 "$(invoke optimize-budget optimize-budget.bad-history.json)" "history.outcome"
check "optimize-budget.kpi (200)" 200 "$(invoke optimize-budget optimize-budget.kpi.json)"
check "optimize-budget.kpi-too-many-draws (400)" 400 "$(invoke optimize-budget optimize-budget.kpi-too-many-draws.json)" "kpi.draws"
check "recommend-treatments.ok (200)" 200 "$(invoke recommend-treatments recommend-treatments.ok.json)"
check "recommend-treatments.bad-objective (400)" 400 "$(invoke recommend-treatments recommend-treatments.bad-objective.json)" "objective"
check "causal-discover.ok (200)" 200 "$(invoke causal-discover causal-discover.ok.json)"
check "causal-discover.bad-method (400)" 400 "$(invoke causal-discover causal-discover.bad-method.json)" "method"
check "treatment-effect.ok (200)" 200 "$(invoke treatment-effect treatment-effect.ok.json)"
check "treatment-effect.missing-column (400)" 400 "$(invoke treatment-effect treatment-effect.missing-column.json)" "x9"
check "analyze-advanced.ok (200)" 200 "$(invoke analyze-advanced analyze-advanced.ok.json)"
check "analyze-advanced.unknown-method (400)" 400 "$(invoke analyze-advanced analyze-advanced.unknown-method.json)" "methods[0].method"
check "analyze-advanced.records (200: the pipeline's records, with the report)" 200 "$(invoke analyze-advanced analyze-advanced.records.json)"
check "analyze-advanced.short-pre-period (400)" 400 "$(invoke analyze-advanced analyze-advanced.short-pre-period.json)" "methods[0].treatment_time"
check "analyze-advanced.panel-outside-org (400)" 400 "$(invoke analyze-advanced analyze-advanced.panel-outside-org.json)" "panel.key"
check "analyze-advanced.missing-roles (400)" 400 "$(invoke analyze-advanced analyze-advanced.missing-roles.json)" "methods[0].outcome"
check "llm-insights.ok (200: the analysis explained, grounded)" 200 "$(invoke llm-insights llm-insights.ok.json)"
check "llm-insights.bad-level (400 names confidence_level)" 400 "$(invoke llm-insights llm-insights.bad-level.json)" "confidence_level"
check "llm-insights.async (202: a job, run in process on the embedded default)" 202 "$(invoke llm-insights llm-insights.async.json)"
check "llm-insights.budget (200: the media mix model's plan explained)" 200 "$(invoke llm-insights llm-insights.budget.json)"
check "llm-insights.design (200: the test design explained, at its own 90% level)" 200 "$(invoke llm-insights llm-insights.design.json)"
check "llm-insights.readout (200: the geo readout explained, at its own level)" 200 "$(invoke llm-insights llm-insights.readout.json)"
check "llm-counterfactual.ok (200: paths, what-ifs, reconciliation)" 200 "$(invoke llm-counterfactual llm-counterfactual.ok.json)"
check "llm-counterfactual.bad-factor (400 names scenarios[0].factor)" 400 "$(invoke llm-counterfactual llm-counterfactual.bad-factor.json)" "scenarios[0].factor"
check "kse-concepts-map.ok (200: concepts with roles, formulas, methods)" 200 "$(invoke kse-concepts-map kse-concepts-map.ok.json)"
check "kse-concepts-map.empty-text (400 names text)" 400 "$(invoke kse-concepts-map kse-concepts-map.empty-text.json)" "text"
check "kse-search.ok before a build (404: no graph yet)" 404 "$(invoke kse-search kse-search.ok.json)"
check "kse-graph-build.ok (200: the org's graph built)" 200 "$(invoke kse-graph-build kse-graph-build.ok.json)"
check "kse-search.ok (200: causal paths with their evidence)" 200 "$(invoke kse-search kse-search.ok.json)"
check "kse-search.no-evidence (200: says there is none)" 200 "$(invoke kse-search kse-search.no-evidence.json)"
check "kse-search.bad-limit (400 names limit)" 400 "$(invoke kse-search kse-search.bad-limit.json)" "limit"
check "kse-graph.ok (200: a neighbourhood)" 200 "$(invoke kse-graph kse-graph.ok.json)"
check "kse-graph.unknown-node (404)" 404 "$(invoke kse-graph kse-graph.unknown-node.json)"
check "kse-similar.ok (200: nearest channels by carry-over)" 200 "$(invoke kse-similar kse-similar.ok.json)"
check "kse-similar.bad-profile (400 names profile)" 400 "$(invoke kse-similar kse-similar.bad-profile.json)" "profile"
out=$(invoke kse-build kse-build.poison.json)
if python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if len(r.get('batchItemFailures',[]))==1 else 1)" "$out"; then
  echo "ok   kse-build.poison (reported as a batch item failure)"; passed=$((passed+1))
else echo "FAIL kse-build.poison: $out"; failed=$((failed+1)); fi
out=$(invoke kse-build kse-build.data-ready.json)
if python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r.get('batchItemFailures')==[] else 1)" "$out"; then
  echo "ok   kse-build.data-ready (the org rebuilt; the same data writes nothing new)"; passed=$((passed+1))
else echo "FAIL kse-build.data-ready: $out"; failed=$((failed+1)); fi
check "analyze-advanced.async (202: a job, run in the same call without a queue)" 202 "$(invoke analyze-advanced analyze-advanced.async.json)"
check "get-causal-job.not-found (404)" 404 "$(invoke get-causal-job get-causal-job.not-found.json)"
out=$(invoke batch-analysis batch-analysis.jobs.json)
if python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if len(r.get('batchItemFailures',[]))==2 else 1)" "$out"; then
  echo "ok   batch-analysis.jobs (both poison messages reported as batch item failures)"; passed=$((passed+1))
else echo "FAIL batch-analysis.jobs: $out"; failed=$((failed+1)); fi
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
TOKEN=$(LIFTOS_JWT_SECRET=$SECRET cargo run -q -p liftos-cli --bin liftos -- token --org acme --user smoke --role causal_admin | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
BODY=$(python3 -c 'import json; print(json.load(open("events/ingest-causal.ok.json"))["body"])')
curl_json() { # METHOD PATH [BODY] -> {"statusCode":..,"body":..}, PATH under $BASE
  local code body
  body=$(curl -sS -o "$WORK/curl.out" -w '%{http_code}' -X "$1" "${BASE:-http://127.0.0.1:$PORT/lambda-url/}$2" \
    -H "authorization: Bearer ${CURL_TOKEN:-$TOKEN}" -H 'content-type: application/json' ${3:+--data "$3"})
  python3 -c 'import json,sys; print(json.dumps({"statusCode": int(sys.argv[1]), "body": open(sys.argv[2]).read()}))' "$body" "$WORK/curl.out"
}
check "curl POST ingest (200)" 200 "$(curl_json POST ingest-causal/api/v1/marketing/ingest/causal "$BODY")"
check "curl GET experiment, bad limit (400)" 400 "$(curl_json GET 'get-experiment-causal/api/v1/marketing/causal/exp-1?limit=0')" "limit"
check "curl forged token (401)" 401 "$(CURL_TOKEN=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. curl_json POST ingest-causal/api/v1/marketing/ingest/causal "$BODY")"
stop_watch

# 2b. `liftos serve`: every route from one process, the same handlers, tokens and errors; the
# same curl scenario and schemathesis straight at it (no gateway in front: it routes by path).
SERVE_PORT=$(free_port)
set -m
LIFTOS_AUTH=local LIFTOS_JWT_SECRET=$SECRET RUST_LOG=warn cargo run -q -p liftos-cli --bin liftos -- serve --port "$SERVE_PORT" --data-dir "$WORK/serve-data" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
set +m
for _ in $(seq 1 60); do
  if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$SERVE_PORT)))"; then break; fi
  sleep 1
done
serve_json() { BASE="http://127.0.0.1:$SERVE_PORT" curl_json "$@"; }
check "serve: POST ingest (200)" 200 "$(serve_json POST /api/v1/marketing/ingest/causal "$BODY")"
check "serve: GET experiment, bad limit (400)" 400 "$(serve_json GET '/api/v1/marketing/causal/exp-1?limit=0')" "limit"
check "serve: forged token (401)" 401 "$(CURL_TOKEN=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. serve_json POST /api/v1/marketing/ingest/causal "$BODY")"
check "serve: unknown route (404)" 404 "$(serve_json GET /api/v1/nowhere)"
check "serve: wrong method (405)" 405 "$(serve_json DELETE /api/v1/marketing/experiments)"
if command -v st >/dev/null; then
  SADMIN=$(LIFTOS_JWT_SECRET=$SECRET cargo run -q -p liftos-cli --bin liftos -- token --org fuzz --user fuzzer --role causal_admin | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  if (cd "$WORK" && st run "$ROOT/infra/openapi.json" --url "http://127.0.0.1:$SERVE_PORT" \
        -H "Authorization: Bearer $SADMIN" --max-examples "${LIFTOS_SERVE_FUZZ_EXAMPLES:-5}" --workers 1 \
        --request-timeout 60 --exclude-checks positive_data_acceptance >"$WORK/serve-fuzz.log" 2>&1); then
    echo "ok   serve: schemathesis: $(grep -E 'generated' "$WORK/serve-fuzz.log" | tail -1 | sed 's/^ *//')"; passed=$((passed+1))
  else
    echo "FAIL serve: schemathesis"; sed -n '/= ERRORS =\|= FAILURES =/,/= SUMMARY =/p' "$WORK/serve-fuzz.log" | head -150; tail -30 "$WORK/serve-fuzz.log"; failed=$((failed+1))
  fi
fi
kill -- -"$SERVE_PID" 2>/dev/null || kill "$SERVE_PID" 2>/dev/null || true
wait "$SERVE_PID" 2>/dev/null || true

# 3. Fuzzing: schemathesis generates requests from infra/openapi.json (valid and invalid ones,
# every operation, undeclared methods, missing auth) and sends them through tests/apigw_proxy.py
# (API Gateway's routing and payload v2 events) to the functions; no response may be a 5xx,
# and every response must match the document (status codes, content type, schemas).
# `positive_data_acceptance` is left out: the schema cannot say that a cursor must come from
# this API or that start <= end, so schema-valid requests are rightly refused with a 400.
if command -v st >/dev/null; then
  start_watch "$WORK/local.env"
  PROXY_PORT=$(free_port)
  python3 tests/apigw_proxy.py infra/openapi.json "$PROXY_PORT" "$PORT" >"$WORK/proxy.log" 2>&1 &
  PROXY_PID=$!
  ADMIN=$(LIFTOS_JWT_SECRET=$SECRET cargo run -q -p liftos-cli --bin liftos -- token --org fuzz --user fuzzer --role causal_admin | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  sleep 1
  # From the scratch folder: hypothesis writes its example database in the working directory.
  if (cd "$WORK" && st run "$ROOT/infra/openapi.json" --url "http://127.0.0.1:$PROXY_PORT" \
        -H "Authorization: Bearer $ADMIN" --max-examples "${LIFTOS_FUZZ_EXAMPLES:-15}" --workers 1 \
        --request-timeout 60 --exclude-checks positive_data_acceptance >"$WORK/fuzz.log" 2>&1); then
    echo "ok   schemathesis: $(grep -E 'generated' "$WORK/fuzz.log" | tail -1 | sed 's/^ *//')"; passed=$((passed+1))
  else
    echo "FAIL schemathesis"; cp "$WORK/fuzz.log" "${TMPDIR:-/tmp}/liftos-fuzz.log"
    # The errors and failures themselves (each with its reproducing curl), the summary, and what
    # the gateway saw fail or run slow (with the function's own error).
    sed -n '/= ERRORS =\|= FAILURES =/,/= SUMMARY =/p' "$WORK/fuzz.log" | head -150; tail -30 "$WORK/fuzz.log"
    echo "gateway log:"; tail -40 "$WORK/proxy.log"; failed=$((failed+1))
  fi
  # A bounded load test through the same gateway: four orgs at once writing and reading.
  LOAD_ORGS=()
  for o in load-a load-b load-c load-d; do
    LOAD_ORGS+=("$o=$(LIFTOS_JWT_SECRET=$SECRET cargo run -q -p liftos-cli --bin liftos -- token --org $o --user loader --role causal_admin | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')")
  done
  if python3 tests/load.py "http://127.0.0.1:$PROXY_PORT" "${LOAD_ORGS[@]}" --rounds "${LIFTOS_LOAD_ROUNDS:-15}" >"$WORK/load.log" 2>&1; then
    echo "ok   $(head -1 "$WORK/load.log")"; sed -n '2,6p' "$WORK/load.log"; passed=$((passed+1))
  else
    echo "FAIL load test"; cat "$WORK/load.log"; failed=$((failed+1))
  fi
  kill "$PROXY_PID" 2>/dev/null || true
  stop_watch
else
  echo "FAIL fuzzing: schemathesis (st) is not installed (run tests/run.sh)"; failed=$((failed+1))
fi

# 4. The same binaries on the AWS adapters, against moto through AWS_ENDPOINT_URL (run.sh starts it).
if [ -n "${LIFTOS_MOTO_ENDPOINT:-}" ]; then
  TABLE=smoke-$RANDOM$RANDOM; BUCKET=smoke-$RANDOM$RANDOM; AUDIT=smoke-audit-$RANDOM$RANDOM
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
  AWS_ENDPOINT_URL=$LIFTOS_MOTO_ENDPOINT cargo run -q -p liftos-cli --bin liftos -- init-aws --table "$TABLE" --bucket "$BUCKET" --audit-table "$AUDIT"
  JOBS=$(python3 -c "import boto3,sys; print(boto3.client('sqs', endpoint_url='$LIFTOS_MOTO_ENDPOINT', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').create_queue(QueueName='smoke-jobs-$RANDOM$RANDOM')['QueueUrl'])")
  cat >"$WORK/aws.env" <<ENV
LIFTOS_NEXT_QUEUE_URL=$JOBS
LIFTOS_BACKEND=aws
LIFTOS_TABLE=$TABLE
LIFTOS_BUCKET=$BUCKET
LIFTOS_AUDIT_TABLE=$AUDIT
LIFTOS_AUTH=apigw
LIFTOS_CURSOR_KEY=smoke-cursor-key-$RANDOM$RANDOM-0123456789abcdef
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
  check "aws/moto: create-experiment.ok (201)" 201 "$(invoke create-experiment create-experiment.ok.json)"
  check "aws/moto: list-experiments.ok (200)" 200 "$(invoke list-experiments list-experiments.ok.json)"
  check "aws/moto: query-records.ok (200)" 200 "$(invoke query-records query-records.ok.json)"
  check "aws/moto: list-confounders.ok (200)" 200 "$(invoke list-confounders list-confounders.ok.json)"
  check "aws/moto: query-audit-log.ok (200)" 200 "$(invoke query-audit-log query-audit-log.ok.json)"
  check "aws/moto: analyze-advanced.async (202: job in DynamoDB, request in S3, message on the jobs queue)" 202 "$(invoke analyze-advanced analyze-advanced.async.json)"
  check "aws/moto: analyze-advanced.records (400: two stored records leave no pre-period)" 400 "$(invoke analyze-advanced analyze-advanced.records.json)" "methods[0].treatment"
  check "aws/moto: get-causal-job.not-found (404)" 404 "$(invoke get-causal-job get-causal-job.not-found.json)"
  stop_watch
else
  echo "FAIL aws/moto part: LIFTOS_MOTO_ENDPOINT is not set (run tests/run.sh)"; failed=$((failed+1))
fi

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
