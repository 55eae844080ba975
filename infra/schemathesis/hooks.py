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
