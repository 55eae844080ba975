"""schemathesis hooks for the shop API (loaded through schemathesis.toml's `hooks`).

Auth per operation: the order routes run as a customer (their natural caller: `POST /orders`
without `customer_id` orders for the token's `sub`), except `PATCH /orders/{id}/status`, which
only an admin may call; every other secured route runs as an admin.

Real orders: no schema can say which order ids exist, so before the run `after_load_schema`
places a few orders (the customer's user record, a product with stock, then `POST /orders` as
the customer), and `map_case`
puts one of their ids into half of the positive cases of `/orders/{id}` and
`/orders/{id}/status`, and the product into every line of three in four positive `POST /orders`
bodies. So
those operations answer 200/201 (and 409 for a transition the order's state forbids), not only
404 and 400.
The tokens come from the environment (`ADMIN_TOKEN`, `CUSTOMER_TOKEN`), minted by
`devstack token` against the running stack's identity provider. Public routes get none.
"""

import os
import random

import schemathesis
from schemathesis.core.parameters import ParameterLocation

ADMIN = os.environ["ADMIN_TOKEN"]
CUSTOMER = os.environ["CUSTOMER_TOKEN"]
PUBLIC = {("GET", "/health"), ("GET", "/products"), ("GET", "/products/{id}")}


ADMIN_ONLY_ORDER_ROUTES = {("PATCH", "/orders/{id}/status")}
# Operations whose `id` path parameter is an order id (see the module docstring).
ORDER_ID_PATHS = {"/orders/{id}", "/orders/{id}/status"}
ORDERS_PLACED = 4
# The order ids placed before the run, and the product they buy; filled by `after_load_schema`.
ORDER_IDS: list[str] = []
PRODUCT_IDS: list[str] = []
# Which cases get a real order id: seeded like the run (schemathesis.toml `seed`).
CHOICE = random.Random(13)


def _token_for(method: str, path: str) -> str | None:
    if (method, path) in PUBLIC:
        return None
    if path.startswith("/orders") and (method, path) not in ADMIN_ONLY_ORDER_ROUTES:
        return CUSTOMER
    return ADMIN


def _token(case) -> str | None:
    return _token_for(case.operation.method.upper(), case.operation.path)


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
    if method == "PATCH" and path.startswith("/orders/"):
        token = ADMIN
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


def _place_orders(base: str) -> None:
    """Creates the customer's user record, a product with stock (as the admin), and places `ORDERS_PLACED` orders of it (as
    the customer); their ids go to `ORDER_IDS`. Raises when an answer is not the expected one:
    a run without real orders would test those operations with 404s only."""
    import uuid

    import requests

    base = base.rstrip("/")
    # The customer's own user record (id = the token's `sub`): an order needs an existing customer.
    user = requests.post(
        f"{base}/users",
        headers={"Authorization": f"Bearer {CUSTOMER}"},
        json={"name": "Schemathesis Customer", "email": f"st-{uuid.uuid4().hex}@example.com"},
        timeout=60,
    )
    if user.status_code not in (201, 409):
        raise RuntimeError(f"POST /users answered {user.status_code}: {user.text}")
    product = requests.post(
        f"{base}/products",
        headers={"Authorization": f"Bearer {ADMIN}"},
        json={
            "name": "schemathesis orders",
            "category": "schemathesis",
            "price_cents": 100,
            "stock": 1_000_000,
        },
        timeout=60,
    )
    if product.status_code != 201:
        raise RuntimeError(f"POST /products answered {product.status_code}: {product.text}")
    PRODUCT_IDS.append(product.json()["id"])
    for _ in range(ORDERS_PLACED):
        order = requests.post(
            f"{base}/orders",
            headers={"Authorization": f"Bearer {CUSTOMER}", "Idempotency-Key": str(uuid.uuid4())},
            json={
                "items": [{"product_id": product.json()["id"], "quantity": 1}],
                "payment_method": "tok_visa",
            },
            timeout=60,
        )
        if order.status_code != 201:
            raise RuntimeError(f"POST /orders answered {order.status_code}: {order.text}")
        ORDER_IDS.append(order.json()["id"])


@schemathesis.hook
def after_load_schema(context, schema) -> None:
    """Invokes every route's function once, concurrently (see `WARM_UP`), through the schema's
    base URL; then places the orders whose ids `map_case` uses."""
    from concurrent.futures import ThreadPoolExecutor

    base = schema.config.base_url or os.environ.get("DEVSTACK_GATEWAY", "http://127.0.0.1:3000")
    with ThreadPoolExecutor(max_workers=len(WARM_UP)) as pool:
        for future in [pool.submit(_warm, base, method, path) for method, path in WARM_UP]:
            future.result()
    _place_orders(base)


@schemathesis.hook
def map_case(context, case):
    """Half of the positive cases of the order-id operations get a real order id, and three in
    four positive `POST /orders` bodies the real product in every line and no `customer_id` (only
    where that part was generated valid: a negative case stays negative)."""
    if case.meta is None or not ORDER_IDS:
        return case
    if case.operation.path in ORDER_ID_PATHS:
        path = case.meta.components.get(ParameterLocation.PATH)
        if path is not None and path.mode.is_positive and CHOICE.random() < 0.5:
            case.path_parameters = {**(case.path_parameters or {}), "id": CHOICE.choice(ORDER_IDS)}
    elif (case.operation.method.upper(), case.operation.path) == ("POST", "/orders"):
        body = case.meta.components.get(ParameterLocation.BODY)
        items = case.body.get("items") if isinstance(case.body, dict) else None
        if body is not None and body.mode.is_positive and isinstance(items, list):
            if CHOICE.random() < 0.75:
                for item in items:
                    if isinstance(item, dict) and "product_id" in item:
                        item["product_id"] = PRODUCT_IDS[0]
                # An optional field, so the body stays valid: a generated `customer_id` names
                # no user (400), or another customer than the token's (403).
                case.body.pop("customer_id", None)
    return case
