"""schemathesis hooks for the shop API (loaded through schemathesis.toml's `hooks`).

Auth per operation: the order routes run as a customer (their natural caller: `POST /orders`
without `customer_id` orders for the token's `sub`), every other secured route as an admin.
The tokens come from the environment (`ADMIN_TOKEN`, `CUSTOMER_TOKEN`), minted by
`devstack token` against the running stack's identity provider. Public routes get none.
"""

import os

import schemathesis

ADMIN = os.environ["ADMIN_TOKEN"]
CUSTOMER = os.environ["CUSTOMER_TOKEN"]
PUBLIC = {("GET", "/health"), ("GET", "/products"), ("GET", "/products/{id}")}


def _token(case) -> str | None:
    key = (case.operation.method.upper(), case.operation.path)
    if key in PUBLIC:
        return None
    return CUSTOMER if case.operation.path.startswith("/orders") else ADMIN


@schemathesis.auth()
class ShopAuth:
    """Bearer token of the operation's caller (see the module docstring)."""

    def get(self, case, ctx):
        return _token(case)

    def set(self, case, data, ctx):
        if data is not None:
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"


# One request per route before the run, so that a function's first (cold) invocation, which for
# a debug build on a loaded machine can take seconds, does not count against the response time
# limit (`max_response_time` in schemathesis.toml). Any answer (even a 400 for the empty body)
# means the function ran; real slowness still fails the check afterwards. The requests run
# concurrently (one thread each, so the warm-up takes as long as the slowest cold start, not
# the sum) and the health routes are left out: they are cheap, and their throttles (5/s, 2/s)
# belong to the run.
WARM_UP = [
    ("POST", "/users"),
    ("GET", "/users"),
    ("GET", "/users/00000000-0000-4000-8000-000000000000"),
    ("PUT", "/users/00000000-0000-4000-8000-000000000000"),
    ("DELETE", "/users/00000000-0000-4000-8000-000000000000"),
    ("POST", "/products"),
    ("GET", "/products"),
    ("GET", "/products/warm-up"),
    ("PUT", "/products/warm-up"),
    ("DELETE", "/products/warm-up"),
    ("PATCH", "/products/warm-up/stock"),
    ("POST", "/orders"),
    ("GET", "/orders"),
    ("GET", "/orders/00000000-0000-7000-8000-000000000000"),
    ("PATCH", "/orders/00000000-0000-7000-8000-000000000000/status"),
    ("DELETE", "/orders/00000000-0000-7000-8000-000000000000"),
]


def _warm(base: str, method: str, path: str) -> None:
    import requests

    token = CUSTOMER if path.startswith("/orders") else ADMIN
    try:
        requests.request(
            method,
            base.rstrip("/") + path,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            data="{}" if method in ("POST", "PUT", "PATCH") else None,
            timeout=60,
        )
    except requests.RequestException:
        pass  # a cold start past the timeout: the function is warm now, or the run will say


@schemathesis.hook
def after_load_schema(context, schema) -> None:
    """Invokes every route's function once, concurrently (see `WARM_UP`), through the schema's
    base URL."""
    from concurrent.futures import ThreadPoolExecutor

    base = schema.config.base_url or os.environ.get("DEVSTACK_GATEWAY", "http://127.0.0.1:3000")
    with ThreadPoolExecutor(max_workers=len(WARM_UP)) as pool:
        for future in [pool.submit(_warm, base, method, path) for method, path in WARM_UP]:
            future.result()
