"""Fault injection in front of moto: a loopback HTTP proxy that forwards AWS requests (DynamoDB,
S3, SQS) to moto, except that a seeded random share of them is answered with the error the real
service gives under stress instead: DynamoDB `ProvisionedThroughputExceededException` (400) and
`InternalServerError` (500), S3 `SlowDown` (503) and `InternalError` (500), SQS `InternalError`
(500) and `RequestThrottled` (400). Some injected failures happen *after* the request reached
moto (the write is done, the answer is lost), as a timed-out call or a killed Lambda would see.

    python3 tests/fault_proxy.py LISTEN_PORT UPSTREAM_URL [--rate 0.2] [--rate-other 0.3] [--seed 7]

`--rate` applies to DynamoDB, `--rate-other` to S3, SQS and Secrets Manager (a pipeline makes
far fewer of those calls, so a higher share is needed for the faults to be felt). `GET /__faults`
returns the counts; `POST /__faults?rate=0.3&rate_other=0.5` changes the rates.
"""
import argparse, http.client, json, random, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

p = argparse.ArgumentParser()
p.add_argument("port", type=int)
p.add_argument("upstream")
p.add_argument("--rate", type=float, default=0.2, help="share of DynamoDB calls failed")
p.add_argument("--rate-other", type=float, default=None,
               help="share of S3, SQS and Secrets Manager calls failed (default: --rate); these are far fewer")
p.add_argument("--seed", type=int, default=7)
a = p.parse_args()
up = urlsplit(a.upstream)
assert up.hostname in ("127.0.0.1", "localhost"), "loopback only"
rng = random.Random(a.seed)
lock = threading.Lock()
state = {"rate": a.rate, "rate_other": a.rate if a.rate_other is None else a.rate_other, "requests": 0, "by_service": {}, "injected": {}, "after_upstream": 0}


def service(headers, path):
    target = headers.get("x-amz-target", "")
    if target.startswith("DynamoDB_"):
        return "dynamodb"
    if target.startswith("AmazonSQS") or "Action=" in path or headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return "sqs"
    if target.startswith("secretsmanager"):
        return "secretsmanager"
    return "s3"


FAULTS = {
    "dynamodb": [
        (400, "application/x-amz-json-1.0", {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "injected: throughput exceeded"}),
        (500, "application/x-amz-json-1.0", {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "injected"}),
    ],
    "s3": [
        (503, "application/xml", "<Error><Code>SlowDown</Code><Message>injected</Message></Error>"),
        (500, "application/xml", "<Error><Code>InternalError</Code><Message>injected</Message></Error>"),
    ],
    "sqs": [
        (500, "application/x-amz-json-1.0", {"__type": "com.amazonaws.sqs#InternalError", "message": "injected"}),
        (400, "application/x-amz-json-1.0", {"__type": "com.amazonaws.sqs#RequestThrottled", "message": "injected"}),
    ],
    "secretsmanager": [
        (500, "application/x-amz-json-1.1", {"__type": "InternalServiceError", "message": "injected"}),
    ],
}


def error_type(body):
    """The x-amzn-ErrorType header AWS's JSON services send: the error's short name."""
    if isinstance(body, dict):
        return [("x-amzn-errortype", body["__type"].split("#")[-1])]
    return []


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, ctype, body, extra=()):
        data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/__faults"):
            q = parse_qs(urlsplit(self.path).query)
            with lock:
                for k in ("rate", "rate_other"):
                    if k in q:
                        state[k] = float(q[k][0])
                return self.reply(200, "application/json", dict(state))
        svc = service({k.lower(): v for k, v in self.headers.items()}, self.path)
        with lock:
            state["requests"] += 1
            state["by_service"][svc] = state["by_service"].get(svc, 0) + 1
            inject = rng.random() < (state["rate"] if svc == "dynamodb" else state["rate_other"])
            after = inject and rng.random() < 0.3
            fault = rng.choice(FAULTS[svc]) if inject else None
        if fault and not after:
            with lock:
                state["injected"][svc] = state["injected"].get(svc, 0) + 1
            return self.reply(fault[0], fault[1], fault[2], error_type(fault[2]))
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if fault:
            # The request was carried out; its answer is lost on the way back.
            with lock:
                state["injected"][svc] = state["injected"].get(svc, 0) + 1
                state["after_upstream"] += 1
            return self.reply(fault[0], fault[1], fault[2], error_type(fault[2]))
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = handle_any


ThreadingHTTPServer(("127.0.0.1", a.port), Proxy).serve_forever()
