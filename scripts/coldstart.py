#!/usr/bin/env python3
"""Cold start of Lambda function binaries, driven by a minimal Lambda Runtime API of our own.

For each binary and each run: spawn it with a fresh environment pointing AWS_LAMBDA_RUNTIME_API
at this script, and measure
  init   spawn -> its first `GET /2018-06-01/runtime/invocation/next` (the cold start's init),
  first  spawn -> the first invocation's `POST .../response` (what the first caller waits),
  warm   the second invocation's /next -> its response (a fresh event of the same kind, a warm
         instance),
  rss    peak resident set size of the process until then (`VmHWM`, /proc/<pid>/status, KiB),
then kill it. Prints the median and p90 over the runs, and JSON with --json FILE (or - for
stdout). Every answer's outcome (HTTP status, or the batch's item failures) is recorded, so an
event that does not reach the intended path shows.

A benchmark, not a test: it asserts nothing. Usage (the backends of a running `devstack up`:
its emulator and redis; the functions' environment from its `.devstack/functions-<stack>.env`):

  python3 scripts/coldstart.py --runs 30 --env-file .devstack/functions-bench.env \
      --endpoint http://127.0.0.1:4573 target/release/get-product target/release/sdk-floor

Without --env-file the variables get placeholder names (tables and queues need not exist for
the default events, but the answers are then 500s). The event depends on the binary's name
(`EVENTS`; `--list-events` prints them): for each HTTP function an API Gateway payload v2.0
request on its route, with the JWT authorizer's claims of an admin where the route needs a
caller; an empty batch for the SQS and stream consumers.
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


ADMIN_CLAIMS = {"sub": "bench-admin", "cognito:groups": "[admin]"}


def http_event(route_key, path, path_parameters=None, body=None, headers=None, claims=None):
    """An API Gateway HTTP API payload v2.0 request for `route_key` (e.g. `GET /products/{id}`)
    on `path`, with the JWT authorizer's `claims` when given (what a protected route receives)."""
    method, _ = route_key.split(" ", 1)
    request_id = str(uuid.uuid4())
    all_headers = {"accept": "application/json", "host": "bench.local"}
    if body is not None:
        all_headers["content-type"] = "application/json"
    all_headers.update(headers or {})
    context = {
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
    }
    if claims:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def new_id():
    return str(uuid.uuid4())


def new_v7():
    """A random version 7 UUID (RFC 9562 §5.7: 48-bit Unix ms, version, 74 random bits), the
    only version an order id accepts (Python 3.11 has no uuid7)."""
    value = (int(time.time() * 1000) & (2**48 - 1)) << 80 | uuid.uuid4().int & (2**80 - 1)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # variant 10
    return str(uuid.UUID(int=value))


def by_id(route_key, prefix, suffix="", claims=None, v7=False, **kwargs):
    """A request on a random id that exists nowhere (a cache miss, then the table's answer);
    a version 7 UUID when `v7` (order ids), else version 4."""

    def make():
        i = new_v7() if v7 else new_id()
        return http_event(route_key, f"{prefix}/{i}{suffix}", {"id": i}, claims=claims, **kwargs)

    return make


def product_body():
    return {"name": "Bench gear", "description": "coldstart.py", "category": "bench", "price_cents": 100, "stock": 5}


# binary -> (what the event is, a factory of a fresh event per invocation)
EVENTS = {
    "health": ("GET /health", lambda: http_event("GET /health", "/health")),
    "check-readiness": (
        "GET /health/ready (admin): probes its tables, queues and cache",
        lambda: http_event("GET /health/ready", "/health/ready", claims=ADMIN_CLAIMS),
    ),
    "get-product": ("GET /products/{missing id}: cache miss, GetItem, 404", by_id("GET /products/{id}", "/products")),
    "list-products": ("GET /products: first page", lambda: http_event("GET /products", "/products")),
    "create-product": (
        "POST /products (admin): PutItem, 201",
        lambda: http_event("POST /products", "/products", body=product_body(), claims=ADMIN_CLAIMS),
    ),
    "update-product": (
        "PUT /products/{missing id} If-Match *: conditional UpdateItem, 404",
        by_id(
            "PUT /products/{id}",
            "/products",
            claims=ADMIN_CLAIMS,
            body={k: v for k, v in product_body().items() if k != "stock"},
            headers={"if-match": "*"},
        ),
    ),
    "delete-product": (
        "DELETE /products/{missing id} (admin)",
        by_id("DELETE /products/{id}", "/products", claims=ADMIN_CLAIMS),
    ),
    "adjust-stock": (
        "PATCH /products/{missing id}/stock {delta 1} (admin): 404",
        by_id("PATCH /products/{id}/stock", "/products", "/stock", claims=ADMIN_CLAIMS, body={"delta": 1}),
    ),
    "get-user": ("GET /users/{missing id} (admin): cache miss, GetItem, 404", by_id("GET /users/{id}", "/users", claims=ADMIN_CLAIMS)),
    "list-users": ("GET /users (admin): first page", lambda: http_event("GET /users", "/users", claims=ADMIN_CLAIMS)),
    "create-user": (
        "POST /users (admin), a new e-mail: PutItem, 201",
        lambda: http_event(
            "POST /users",
            "/users",
            body={"name": "Bench", "email": f"bench-{uuid.uuid4().hex}@example.com"},
            claims=ADMIN_CLAIMS,
        ),
    ),
    "update-user": (
        "PUT /users/{missing id} If-Match * (admin): 404",
        by_id(
            "PUT /users/{id}",
            "/users",
            claims=ADMIN_CLAIMS,
            body={"name": "Bench", "email": "bench@example.com"},
            headers={"if-match": "*"},
        ),
    ),
    "delete-user": ("DELETE /users/{missing id} (admin)", by_id("DELETE /users/{id}", "/users", claims=ADMIN_CLAIMS)),
    "get-order": ("GET /orders/{missing id} (admin): GetItem, 404", by_id("GET /orders/{id}", "/orders", claims=ADMIN_CLAIMS, v7=True)),
    "list-orders": ("GET /orders (admin): first page", lambda: http_event("GET /orders", "/orders", claims=ADMIN_CLAIMS)),
    "create-order": (
        "POST /orders (admin) for a missing customer, Idempotency-Key: reads it, then 400 customer_id",
        lambda: http_event(
            "POST /orders",
            "/orders",
            body={
                "customer_id": new_id(),
                "items": [{"product_id": new_id(), "quantity": 1}],
                "payment_method": "tok_visa",
            },
            headers={"idempotency-key": new_id()},
            claims=ADMIN_CLAIMS,
        ),
    ),
    "cancel-order": ("DELETE /orders/{missing id} (admin): 404", by_id("DELETE /orders/{id}", "/orders", claims=ADMIN_CLAIMS, v7=True)),
    "update-order-status": (
        "PATCH /orders/{missing id}/status {SHIPPED} (admin): 404",
        by_id("PATCH /orders/{id}/status", "/orders", "/status", claims=ADMIN_CLAIMS, v7=True, body={"status": "SHIPPED"}),
    ),
    "reserve-stock": ("an empty SQS batch", lambda: {"Records": []}),
    "process-orders": ("an empty SQS batch", lambda: {"Records": []}),
    "capture-payment": ("an empty SQS batch (init reads the API key secret, discovers the provider)", lambda: {"Records": []}),
    "relay-outbox": ("an empty DynamoDB stream batch", lambda: {"Records": []}),
    # The references.
    "sdk-floor": ("GET /products/{missing id}: one GetItem, 404 (as get-product's)", by_id("GET /products/{id}", "/products")),
    "hello-http": ("GET /health: 200 hello", lambda: http_event("GET /health", "/health")),
}


def event_for(name):
    """(description, factory) of `name`'s event; `GET /health` for a binary not in `EVENTS`."""
    return EVENTS.get(name, ("GET /health (default)", lambda: http_event("GET /health", "/health")))


def outcome(body):
    """What an answer says: `200`, `404`... for an HTTP response, `batch ok` or `N failed` for a
    batch response, `error` for /error."""
    try:
        answer = json.loads(body or b"null")
    except ValueError:
        return "unparsed"
    if isinstance(answer, dict):
        if "statusCode" in answer:
            return str(answer["statusCode"])
        if "batchItemFailures" in answer:
            failed = len(answer["batchItemFailures"] or [])
            return f"{failed} failed" if failed else "batch ok"
    return "ok"


class Run:
    """One spawned binary: the times its Runtime API calls arrived."""

    def __init__(self, factory):
        self.factory = factory
        self.nexts = []
        self.outcomes = []
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
        event = json.dumps(run.factory()).encode()
        self.send_header("Content-Length", str(len(event)))
        self.end_headers()
        self.wfile.write(event)

    def do_POST(self):
        run = Api.run
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.endswith("/init/error"):
            run.outcomes.append("init error")
            run.done.set()
        elif "/response" in self.path or "/error" in self.path:
            run.responses.append((time.perf_counter(), "/error" in self.path))
            run.outcomes.append("error" if "/error" in self.path else outcome(body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_env_file(path):
    """`KEY=VALUE` lines (devstack's `.devstack/functions-<stack>.env`) as a dict."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                out[k] = v
    return out


def environment(name, port, base=None, endpoint=None):
    """What Lambda passes a function: the runtime's variables, then `base` (the template's
    resolved environment) or placeholders, and `endpoint` as AWS_ENDPOINT_URL when given."""
    env = {
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
    }
    if base is None:
        # Placeholders: tables and queues need not exist for the default events.
        env.update({
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
        })
    else:
        env.update(base)
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    env.update({
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
    })
    return env


def peak_rss_kib(pid):
    """The peak resident set size of live process `pid`, KiB: `VmHWM` of /proc/<pid>/status
    (proc(5)). Not wait4's ru_maxrss: that counts the forking Python's pages from before exec."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def once(binary, port, base, endpoint):
    """One cold start of `binary`: a dict of init_ms, first_ms, warm_ms, rss_kib, outcomes; or
    with `failed` when it did not answer twice within 20 s."""
    name = os.path.basename(binary)
    run = Run(event_for(name)[1])
    Api.run = run
    started = time.perf_counter()
    proc = subprocess.Popen(
        [binary], env=environment(name, port, base, endpoint), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    finished = run.done.wait(timeout=20)
    rss_kib = peak_rss_kib(proc.pid)
    proc.kill()
    proc.wait()
    if not finished or len(run.responses) < 2:
        return {
            "failed": f"no two responses within 20 s (nexts {len(run.nexts)}, responses {len(run.responses)}, {run.outcomes})",
            "outcomes": run.outcomes,
        }
    return {
        "init_ms": (run.nexts[0] - started) * 1000,
        "first_ms": (run.responses[0][0] - started) * 1000,
        "warm_ms": (run.responses[1][0] - run.nexts[1]) * 1000,
        "rss_kib": rss_kib,
        "outcomes": run.outcomes[:2],
    }


def percentile(values, q):
    """The nearest-rank `q` percentile (0 < q <= 100) of `values`."""
    values = sorted(values)
    rank = max(1, -(-len(values) * q // 100))  # ceil
    return values[int(rank) - 1]


def summary(values):
    values = sorted(values)
    return {
        "median": statistics.median(values),
        "p90": percentile(values, 90),
        "min": values[0],
        "max": values[-1],
    }


def measure(binaries, runs, base=None, endpoint=None, progress=None):
    """Cold starts of every binary, `runs` each, round-robin (after one uncounted run each that
    warms the page cache): name -> figures (medians, p90s, size, the event and its outcomes)."""
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Api)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results = {}
    try:
        for binary in binaries:
            once(binary, port, base, endpoint)  # warm the page cache; not counted
        # Round-robin (run 1 of every binary, then run 2...): a drift of the machine over the
        # minutes of the measurement falls on every binary alike, references included.
        all_runs = {binary: [] for binary in binaries}
        for _ in range(runs):
            for binary in binaries:
                all_runs[binary].append(once(binary, port, base, endpoint))
        for binary in binaries:
            name = os.path.basename(binary)
            good = [r for r in all_runs[binary] if "failed" not in r]
            outcomes = {}
            for r in all_runs[binary]:
                for o in r["outcomes"]:
                    outcomes[o] = outcomes.get(o, 0) + 1
            entry = {
                "binary": binary,
                "event": event_for(name)[0],
                "runs": runs,
                "failed_runs": runs - len(good),
                "size_bytes": os.path.getsize(binary),
                "outcomes": outcomes,
            }
            if good:
                for k in ("init_ms", "first_ms", "warm_ms", "rss_kib"):
                    entry[k] = summary([r[k] for r in good])
            else:
                entry["error"] = all_runs[binary][0]["failed"]
            results[name] = entry
            if progress:
                progress(name, entry)
    finally:
        server.shutdown()
        server.server_close()
    return results


def row(name, r):
    if "first_ms" not in r:
        return f"{name:<22} FAILED: {r.get('error')}"
    return (
        f"{name:<22} {r['init_ms']['median']:>7.1f}ms {r['first_ms']['median']:>8.1f}ms {r['first_ms']['p90']:>6.1f}ms "
        f"{r['warm_ms']['median']:>7.2f}ms {r['rss_kib']['median'] / 1024:>6.1f}MB {r['size_bytes'] / 1e6:>6.1f}MB  "
        + ", ".join(f"{k}×{v}" for k, v in sorted(r["outcomes"].items()))
    )


HEADER = f"{'binary':<22} {'init p50':>9} {'first p50':>10} {'p90':>8} {'warm p50':>9} {'rss p50':>8} {'size':>8}  answers"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="*")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--env-file", help="KEY=VALUE lines: the functions' environment (devstack's)")
    parser.add_argument("--endpoint", help="AWS_ENDPOINT_URL for the functions (wins over the env file)")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON to FILE (- for stdout)")
    parser.add_argument("--list-events", action="store_true", help="print each binary's event and exit")
    args = parser.parse_args()
    if args.list_events:
        for name, (what, _) in EVENTS.items():
            print(f"{name:<22} {what}")
        return
    base = read_env_file(args.env_file) if args.env_file else None
    results = measure(args.binaries, args.runs, base, args.endpoint)
    if args.json:
        text = json.dumps(results, indent=2)
        if args.json == "-":
            print(text)
            return
        with open(args.json, "w") as f:
            f.write(text)
    print(HEADER)
    for name, r in results.items():
        print(row(name, r))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
