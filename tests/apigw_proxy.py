"""A local stand-in for API Gateway's HTTP API in front of `cargo lambda watch`: routes each
request by the OpenAPI document's paths (x-liftos-function), builds the payload-v2 event API
Gateway would send (path parameters, query parameters, lower-case headers, a base64 body when it
is not UTF-8), invokes the function through cargo-lambda's invoke endpoint, and returns its
response. Used to fuzz the API with schemathesis exactly as deployed.

    python apigw_proxy.py OPENAPI_JSON LISTEN_PORT WATCH_PORT
"""
import base64, json, re, sys, time, urllib.error, urllib.request, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

spec, port, watch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CTL = re.compile(r"[\x00-\x1f\x7f]")
routes = []  # (regex, template, method, function)
for path, item in json.load(open(spec))["paths"].items():
    rx = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
    for method, op in item.items():
        routes.append((rx, path, method.upper(), op["x-liftos-function"]))


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        url = urlsplit(self.path)
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        matched = [(rx.match(url.path), tpl, m, f) for rx, tpl, m, f in routes if rx.match(url.path)]
        exact = [r for r in matched if r[2] == self.command]
        if not matched:
            return self.reply(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
        if not exact:
            # No route for this method: the gateway answers (the functions answer 405 themselves
            # when reached directly through a function URL).
            allow = ", ".join(sorted({r[2] for r in matched}))
            body = json.dumps({"error": "method_not_allowed", "message": f"{self.command} is not allowed here; use {allow}"})
            return self.reply(405, {"content-type": "application/json", "allow": allow}, body.encode())
        m, tpl, method, function = exact[0]
        # A request line or header value with control characters is not HTTP (RFC 9112: no CTL
        # in the request target; RFC 9110: none but HTAB in a field value). Gateways and function
        # URLs refuse it at their front end with a 400 and never invoke the function (lambda_http
        # could not build a request from it either).
        if CTL.search(self.path) or any(CTL.search(v.replace("\t", "")) for v in self.headers.values()):
            return self.reply(400, {"content-type": "application/json"}, b'{"message":"Bad Request"}')
        try:
            body, is_b64 = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            body, is_b64 = base64.b64encode(raw).decode(), True
        query = {}
        for k, v in parse_qsl(url.query, keep_blank_values=True):
            query[k] = f"{query[k]},{v}" if k in query else v  # API Gateway joins repeats with commas
        event = {
            "version": "2.0", "routeKey": f"{method} {tpl}", "rawPath": url.path, "rawQueryString": url.query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "requestContext": {"accountId": "local", "apiId": "local", "domainName": "localhost", "domainPrefix": "local",
                "http": {"method": self.command, "path": url.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": self.headers.get("user-agent", "")},
                "requestId": str(uuid.uuid4()), "routeKey": f"{method} {tpl}", "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()), "timeEpoch": int(time.time() * 1000)},
            "isBase64Encoded": is_b64,
        }
        if m.groupdict():
            event["pathParameters"] = m.groupdict()
        if query:
            event["queryStringParameters"] = query
        if raw:
            event["body"] = body
        req = urllib.request.Request(f"http://127.0.0.1:{watch}/2015-03-31/functions/{function}/invocations",
                                     data=json.dumps(event).encode(), method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                raw_out = r.read()
            # A synchronous invocation may answer at most 6 MB: Lambda fails a larger response.
            if len(raw_out) > 6 * 1024 * 1024:
                raise ValueError(f"the function's response is {len(raw_out)} bytes, more than Lambda's 6 MB")
            out = json.loads(raw_out or b"{}")
        except Exception as e:
            # As API Gateway does when the function fails (an error, a crash, a timeout): a 502,
            # which schemathesis reports as a server error with the request that caused it. The
            # function's own error goes to this proxy's log for the smoke test to print.
            detail = e.read()[:2000].decode("utf-8", "replace") if isinstance(e, urllib.error.HTTPError) else ""
            print(f"{function} {self.command} {url.path} failed after {time.monotonic() - started:.1f} s: {e!r} {detail}",
                  file=sys.stderr, flush=True)
            return self.reply(502, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
        took = time.monotonic() - started
        if took > 10:
            print(f"{function} {self.command} {url.path}: slow, {took:.1f} s", file=sys.stderr, flush=True)
        payload = out.get("body") or ""
        data = base64.b64decode(payload) if out.get("isBase64Encoded") else payload.encode()
        self.reply(int(out.get("statusCode", 502)), out.get("headers") or {}, data)

    def reply(self, status, headers, data):
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def __getattr__(self, name):
        # Every method (GET, TRACE, QUERY, ...) goes the same way.
        if name.startswith("do_"):
            return self.handle_any
        raise AttributeError(name)


ThreadingHTTPServer(("127.0.0.1", port), Proxy).serve_forever()
