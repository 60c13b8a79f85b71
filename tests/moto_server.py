"""moto's server (as `moto_server -H HOST -p PORT`), with each DynamoDB request applied whole
before the next one starts.

DynamoDB applies a conditional write atomically: the condition is checked and the item written
as one step. moto 5.2.5's threaded server does not: two conditional updates of one item can both
pass their check, and the older can land last. The stores' concurrency tests (two writers of
one record end with the newer version, tests/src/write_rule.rs) then fail on moto alone; one
such failure was seen in a CI run with both cores busy. Serialising the DynamoDB requests gives
moto DynamoDB's atomicity. Other services (SQS long polls among them) stay concurrent.

    python tests/moto_server.py -H 127.0.0.1 -p PORT
"""
import argparse
import os
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

parser = argparse.ArgumentParser()
parser.add_argument("-H", "--host", default="127.0.0.1")
parser.add_argument("-p", "--port", type=int, required=True)
args = parser.parse_args()

os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto_server does
app = DomainDispatcherApplication(create_backend_app)
app.debug = True
dynamodb = threading.Lock()


def serial_dynamodb(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with dynamodb:
            # The whole response is produced inside the lock.
            return list(app(environ, start_response))
    return app(environ, start_response)


run_simple(args.host, args.port, serial_dynamodb, threaded=True, request_handler=MotoRequestHandler)
