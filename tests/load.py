"""A bounded load test of the HTTP functions on loopback: several orgs at once, each writing its
own records and reading them back, listing experiments and its audit log, through the API
Gateway stand-in (tests/apigw_proxy.py) in front of `cargo lambda watch`.

Checks: no 5xx; no answer ever holds another org's data (every org writes campaigns named after
itself); every record an org wrote is read back. Reports throughput and p50/p95/p99 latency per
route and overall. Bounded: ORGS x ROUNDS x 4 requests, a time limit, loopback only.

    python3 tests/load.py URL ORG=TOKEN [ORG=TOKEN ...] [--rounds N] [--seconds S]
"""
import argparse, json, sys, threading, time, urllib.error, urllib.request
from collections import defaultdict

p = argparse.ArgumentParser()
p.add_argument("url")
p.add_argument("orgs", nargs="+", help="ORG=TOKEN")
p.add_argument("--rounds", type=int, default=15)
p.add_argument("--seconds", type=float, default=240)
a = p.parse_args()
assert a.url.startswith("http://127.0.0.1:"), "loopback only"

lat = defaultdict(list)
problems = []
lock = threading.Lock()
deadline = time.monotonic() + a.seconds


def call(org, token, method, path, body=None, route=None):
    req = urllib.request.Request(a.url + path, method=method, data=body.encode() if body else None,
                                 headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    ms = (time.perf_counter() - t0) * 1000
    with lock:
        lat[route or path].append(ms)
        if status >= 500:
            problems.append(f"{org} {method} {path}: {status} {text[:200]}")
    return status, text


def records(org, n):
    return [{
        "platform": "meta", "campaign_id": f"{org}-cmp-{i % 3}",
        "timestamp": f"2026-09-{1 + i % 28:02d}T00:00:00Z",
        "metrics": {"spend": 100.0 + i, "impressions": 1000, "clicks": 10, "conversions": 2.0, "revenue": 50.0},
    } for i in range(n)]


def worker(org, token):
    written = set()
    for r in range(a.rounds):
        if time.monotonic() > deadline:
            break
        batch = records(org, 28)[r % 28:][:5]
        s, _ = call(org, token, "POST", "/api/v1/marketing/ingest/causal", json.dumps({"records": batch}), "POST ingest")
        if s == 200:
            written.update((b["campaign_id"], b["timestamp"][:10]) for b in batch)
        s, text = call(org, token, "GET", "/api/v1/marketing/records?platform=meta&limit=1000", route="GET records")
        if s == 200:
            items = json.loads(text)["items"]
            foreign = [i for i in items if i["org_id"] != org or not i["campaign_id"].startswith(org + "-")]
            if foreign:
                with lock:
                    problems.append(f"{org} read another org's records: {foreign[:2]}")
            got = {(i["campaign_id"], i["timestamp"][:10]) for i in items}
            missing = written - got
            if missing:
                with lock:
                    problems.append(f"{org}: written records not read back: {sorted(missing)[:3]}")
        s, text = call(org, token, "GET", "/api/v1/marketing/experiments?limit=50", route="GET experiments")
        if s == 200 and any(e["org_id"] != org for e in json.loads(text)["items"]):
            with lock:
                problems.append(f"{org} listed another org's experiments")
        s, text = call(org, token, "GET", "/api/v1/marketing/audit?limit=20", route="GET audit")
        if s == 200 and any(e["org_id"] != org for e in json.loads(text)["items"]):
            with lock:
                problems.append(f"{org} read another org's audit log")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


t0 = time.monotonic()
threads = [threading.Thread(target=worker, args=tuple(o.split("=", 1))) for o in a.orgs]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.monotonic() - t0
every = [x for v in lat.values() for x in v]
print(f"load: {len(a.orgs)} orgs at once, {len(every)} requests in {wall:.1f} s ({len(every) / wall:.1f}/s)")
for route, xs in sorted(lat.items()):
    print(f"  {route:16} n={len(xs):4}  p50 {pct(xs, 50):7.1f} ms  p95 {pct(xs, 95):7.1f} ms  p99 {pct(xs, 99):7.1f} ms")
print(f"  {'all':16} n={len(every):4}  p50 {pct(every, 50):7.1f} ms  p95 {pct(every, 95):7.1f} ms  p99 {pct(every, 99):7.1f} ms")
if problems:
    print("\n".join(problems[:20]))
    sys.exit(1)
print("load: no 5xx, no answer crossed orgs, every written record read back")
