"""Latency of one uncached route through the gateway: sequential GET /orders/{id} (one DynamoDB
GetItem each, no cache), after warm-ups. Prints one JSON line: n, p50_ms, p90_ms, p99_ms.

Usage: sandbox_cost.py GATEWAY_URL STACK_NAME N  (run from the repo root; needs a running stack)
"""
import json
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid

gateway, stack, n = sys.argv[1], sys.argv[2], int(sys.argv[3])


def token(sub, groups):
    return subprocess.check_output(
        ["target/debug/devstack", "--stack-name", stack, "token", "--sub", sub, "--groups", groups],
        text=True,
    ).strip()


def call(method, path, tok, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(gateway + path, method=method, data=data)
    request.add_header("Authorization", "Bearer " + tok)
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as resp:
        return resp.status, json.loads(resp.read() or b"null")


admin = token("cost-admin", "admin")
_, user = call("POST", "/users", admin, {"email": f"cost-{uuid.uuid4().hex}@example.com", "name": "Cost"})
_, product = call("POST", "/products", admin,
                  {"name": "P", "description": "d", "category": "cost", "price_cents": 100, "stock": 5})
_, order = call("POST", "/orders", admin, {"customer_id": user["id"],
                "items": [{"product_id": product["id"], "quantity": 1}], "payment_method": "tok_visa"})
path = f"/orders/{order['id']}"
for _ in range(20):
    call("GET", path, admin)
samples = []
for _ in range(n):
    started = time.perf_counter()
    status, _ = call("GET", path, admin)
    samples.append((time.perf_counter() - started) * 1000)
    assert status == 200, status
    time.sleep(0.02)
samples.sort()
print(json.dumps({"n": n, "p50_ms": round(statistics.median(samples), 2),
                  "p90_ms": round(samples[int(n * 0.9)], 2), "p99_ms": round(samples[int(n * 0.99)], 2)}))
