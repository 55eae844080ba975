#!/usr/bin/env python3
"""Cold start of Lambda function binaries, driven by a minimal Lambda Runtime API of our own.

For each binary and each run: spawn it with a fresh environment pointing AWS_LAMBDA_RUNTIME_API
at this script, and measure
  init   spawn -> its first `GET /2018-06-01/runtime/invocation/next` (the cold start's init),
  first  spawn -> the first invocation's `POST .../response` (what the first caller waits),
  warm   the second invocation's /next -> its response (the same event, a warm instance),
then kill it. Prints the median and p90 over the runs, and JSON with --json.

A benchmark, not a test: it asserts nothing. Usage (backends as for `make test`: the emulator
and a redis-server; AWS_ENDPOINT_URL/REDIS port from the environment):

  python3 scripts/coldstart.py --runs 30 target/release/get-product target/release/reserve-stock

The event depends on the binary's name: an HTTP API payload v2.0 `GET /products/{id}` for
get-product (a product that does not exist: cache miss, GetItem, 404), an empty SQS batch for
the consumers, `GET /health` for anything else.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def http_event(route_key, path, path_parameters):
    method, _ = route_key.split(" ", 1)
    request_id = str(uuid.uuid4())
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"accept": "application/json", "host": "bench.local"},
        "pathParameters": path_parameters,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.local",
            "domainPrefix": "bench",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "coldstart.py",
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }


def event_for(name):
    if name == "get-product":
        pid = str(uuid.uuid4())
        return http_event("GET /products/{id}", f"/products/{pid}", {"id": pid})
    if name in ("reserve-stock", "process-orders", "capture-payment"):
        return {"Records": []}
    if name == "relay-outbox":
        return {"Records": []}
    return http_event("GET /health", "/health", None)


class Run:
    """One spawned binary: the times its Runtime API calls arrived."""

    def __init__(self, event):
        self.event = json.dumps(event).encode()
        self.nexts = []
        self.responses = []
        self.done = threading.Event()


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add about 40 ms to every answer.
    disable_nagle_algorithm = True
    run = None  # the current Run

    def log_message(self, *args):
        pass

    def do_GET(self):
        run = Api.run
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        run.nexts.append(time.perf_counter())
        if len(run.nexts) > 2:
            # Park the third /next: the run is over.
            run.done.set()
            time.sleep(30)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4()))
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 10_000))
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench",
        )
        self.send_header(
            "Lambda-Runtime-Trace-Id",
            f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1",
        )
        self.send_header("Content-Length", str(len(run.event)))
        self.end_headers()
        self.wfile.write(run.event)

    def do_POST(self):
        run = Api.run
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if "/response" in self.path or "/error" in self.path:
            run.responses.append((time.perf_counter(), "/error" in self.path))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(name, port):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        "METRICS_NAMESPACE": "Shop",
        "SERVICE_NAME": "bench",
        # What the functions read; tables and queues need not exist for these events.
        "PRODUCTS_TABLE": "bench-products",
        "USERS_TABLE": "bench-users",
        "ORDERS_TABLE": "bench-orders",
        "RESERVATIONS_TABLE": "bench-reservations",
        "OUTBOX_TABLE": "bench-outbox",
        "IDEMPOTENCY_TABLE": "bench-idempotency",
        "PAYMENTS_TABLE": "bench-payments",
        "BREAKERS_TABLE": "bench-breakers",
        "CACHE_ENDPOINT": "127.0.0.1",
        "CACHE_PORT": os.environ.get("BENCH_REDIS_PORT", "6379"),
        "CACHE_TLS": "false",
        "CACHE_AUTH": "none",
        "CACHE_ITEM_TTL_SECONDS": "300",
        "CACHE_LIST_TTL_SECONDS": "60",
        "CACHE_NEGATIVE_TTL_SECONDS": "30",
    }
    return env


def once(binary, port, server):
    name = os.path.basename(binary)
    run = Run(event_for(name))
    Api.run = run
    started = time.perf_counter()
    proc = subprocess.Popen(
        [binary], env=environment(name, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    finished = run.done.wait(timeout=20)
    proc.kill()
    proc.wait()
    if not finished or len(run.responses) < 2:
        raise SystemExit(f"{name}: no two responses within 20 s (nexts {len(run.nexts)}, responses {len(run.responses)})")
    return {
        "init_ms": (run.nexts[0] - started) * 1000,
        "first_ms": (run.responses[0][0] - started) * 1000,
        "warm_ms": (run.responses[1][0] - run.nexts[1]) * 1000,
        "error": run.responses[0][1],
    }


def summary(values):
    values = sorted(values)
    return {
        "median": statistics.median(values),
        "p90": values[max(0, int(len(values) * 0.9) - 1)],
        "min": values[0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Api)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results = {}
    for binary in args.binaries:
        once(binary, port, server)  # warm the page cache; not counted
        runs = [once(binary, port, server) for _ in range(args.runs)]
        results[binary] = {
            "runs": args.runs,
            "size_bytes": os.path.getsize(binary),
            **{k: summary([r[k] for r in runs]) for k in ("init_ms", "first_ms", "warm_ms")},
        }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'binary':<40} {'init p50':>9} {'p90':>7} {'first p50':>10} {'p90':>7} {'warm p50':>9} {'size':>9}")
    for binary, r in results.items():
        print(
            f"{binary:<40} {r['init_ms']['median']:>7.1f}ms {r['init_ms']['p90']:>5.1f}ms "
            f"{r['first_ms']['median']:>8.1f}ms {r['first_ms']['p90']:>5.1f}ms "
            f"{r['warm_ms']['median']:>7.2f}ms {r['size_bytes'] / 1e6:>7.1f}MB"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
