"""Cold start of a function's release binary, measured against a local Lambda Runtime API.

The binary is started as Lambda starts it (AWS_LAMBDA_RUNTIME_API and the usual variables);
this script serves the Runtime API on loopback and records, per start:

- init_ms: from exec to the binary's first `GET /runtime/invocation/next` (configuration, store
  and SDK set-up: what Lambda bills as Init Duration, less the sandbox's own start);
- first_invoke_ms: from handing it the event to its response (the first, cold request).

    python3 shared/benches/cold_start.py target/release/analyze-advanced events/analyze-advanced.ok.json [runs] [--aws]

With --aws the function is configured for DynamoDB/S3 (the SDK's configuration is loaded at
init; no call is made before the first request): set LIFTOS_MOTO_ENDPOINT, BENCH_TABLE and
BENCH_BUCKET (made by `liftos init-aws`) for the first request to succeed. Prints one
JSON object with the medians and every run.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def run_once(binary, event, aws):
    marks = {}
    done = threading.Event()
    served = {"n": 0}

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.endswith("/runtime/invocation/next"):
                if served["n"] == 0:
                    marks["next"] = time.perf_counter()
                    served["n"] = 1
                    body = json.dumps(event).encode()
                    self.send_response(200)
                    self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
                    self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                    self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
                    self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    marks["sent"] = time.perf_counter()
                    self.wfile.write(body)
                else:
                    # The second poll: the cold request is over.
                    done.wait(5)
                    self.send_response(500)
                    self.end_headers()
            else:
                self.send_response(404)
                self.end_headers()

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            payload = self.rfile.read(n)
            if "/response" in self.path:
                marks["response"] = time.perf_counter()
                marks["status"] = json.loads(payload).get("statusCode")
            elif "/error" in self.path:
                marks["error"] = payload.decode(errors="replace")
            self.send_response(202)
            self.end_headers()
            done.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    data = tempfile.mkdtemp()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "RUST_LOG": "warn",
        "LIFTOS_AUTH": "apigw",
    }
    if aws:
        # The first request writes its audit entry to DynamoDB: give it moto (and a table made
        # with `liftos init-aws`) through LIFTOS_MOTO_ENDPOINT, BENCH_TABLE and BENCH_BUCKET.
        env.update({"LIFTOS_BACKEND": "aws", "LIFTOS_TABLE": os.environ.get("BENCH_TABLE", "bench"),
                    "LIFTOS_BUCKET": os.environ.get("BENCH_BUCKET", "bench"),
                    "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    # Every function signs cursors with the same key (required with aws).
                    "LIFTOS_CURSOR_KEY": "cold-start-bench-cursor-key-0123456789abcdef",
                    "AWS_ENDPOINT_URL": os.environ.get("LIFTOS_MOTO_ENDPOINT", "http://127.0.0.1:9")})
    else:
        env.update({"LIFTOS_BACKEND": "embedded", "LIFTOS_DATA_DIR": data})
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done.wait(60)
    proc.kill()
    proc.wait()
    server.shutdown()
    if "next" not in marks or "response" not in marks:
        raise SystemExit(f"no response: {marks} {proc.stderr.read().decode(errors='replace')[-2000:]}")
    return {
        "init_ms": (marks["next"] - start) * 1e3,
        "first_invoke_ms": (marks["response"] - marks["sent"]) * 1e3,
        "status": marks.get("status"),
    }


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    binary, event_path = args[0], args[1]
    runs = int(args[2]) if len(args) > 2 else 10
    aws = "--aws" in sys.argv
    event = json.load(open(event_path))
    results = [run_once(binary, event, aws) for _ in range(runs)]
    out = {
        "binary": binary,
        "binary_bytes": os.path.getsize(binary),
        "backend": "aws" if aws else "embedded",
        "event": os.path.basename(event_path),
        "runs": runs,
        "init_ms_median": statistics.median(r["init_ms"] for r in results),
        "init_ms_max": max(r["init_ms"] for r in results),
        "first_invoke_ms_median": statistics.median(r["first_invoke_ms"] for r in results),
        "statuses": sorted({r["status"] for r in results}),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
