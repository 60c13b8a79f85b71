#!/usr/bin/env python3
"""Every HTTP answer pinned in tests/golden/events/ matches its schema in infra/openapi.json
(the route's answer for that status), validated as JSON Schema 2020-12 with the document's
components. Run by tests/run.sh (the venv has jsonschema); exits 1 listing the mismatches."""
import json, pathlib, sys

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

root = pathlib.Path(__file__).resolve().parents[2]
doc = json.loads((root / "infra/openapi.json").read_text())
by_function = {}
for path, item in doc["paths"].items():
    for method, op in item.items():
        by_function[op["x-liftos-function"]] = op
resource = Resource.from_contents(doc, default_specification=DRAFT202012)
registry = Registry().with_resource("urn:openapi", resource)
problems, checked = [], 0
for f in sorted((root / "tests/golden/events").glob("*.json")):
    function = f.name.split(".")[0]
    op = by_function.get(function)
    got = json.loads(f.read_text())
    if op is None or "status" not in got:
        continue
    status = str(got["status"])
    answer = op["responses"].get(status)
    if answer is None:
        problems.append(f"{f.name}: status {status} is not documented")
        continue
    schema = json.loads(json.dumps(answer["content"]["application/json"]["schema"]).replace('"#/components', '"urn:openapi#/components'))
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    body = got["body"]
    if "--self-test" in sys.argv and isinstance(body, dict):
        body = dict(body, **{k: {"not": "this"} for k in list(body)[:1]})
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    for e in errors[:5]:
        problems.append(f"{f.name}: {'/'.join(map(str, e.path))}: {e.message[:300]}")
    checked += 1
print(f"{checked} pinned answers checked against infra/openapi.json; {len(problems)} problem(s)")
for p in problems:
    print(" ", p)
sys.exit(1 if problems or checked < 40 else 0)
