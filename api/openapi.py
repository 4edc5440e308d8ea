"""The OpenAPI document states every rule the API enforces, so a client generated from it — or schemathesis — sends
only orders the API takes.

FastAPI writes what the models' types and `Field`s say; the order's business rules live in validators
(workflows/models.py) and in the inventory's catalogue, and are stated here, from the same sources:

- `currency`: the enum of `CURRENCIES`; `payment_token`: `PAYMENT_TOKEN_PATTERN` (which is also why no card number
  fits); `customer_name`: printable and not blank, as a pattern listing the characters this Python calls printable
  (`\\p{C}`/`\\p{Z}` would say the same, but a regex engine's Unicode tables are newer than Python's: a character
  assigned since is printable to one and not to the other);
- `customer_email`: the model's pattern, its `\\s` spelled out as the characters the API's regex engine (Rust's,
  in pydantic) means by it — an ECMAScript engine means others (not U+0085, say);
- `lines`: at least one line with a price (an order must total more than 0) and, while the catalogue is known, each
  SKU one of those the inventory stocks and on one line only (`contains` with `maxContains`). The document is
  rebuilt from the catalogue as the API last read it (at most `CACHE_S` old: clients/catalogue.py), so it says what
  the API checks now.

One rule no JSON Schema can state: the order's total (Σ quantity × unit_price) at most `MAX_AMOUNT`. It is in the
description of `lines`.
"""

from __future__ import annotations

import copy
import functools
import sys
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from workflows.models import CURRENCIES, MAX_AMOUNT, PAYMENT_TOKEN_PATTERN

# Unicode's White_Space: what `\s` means to pydantic's regex engine, which checks `Order`'s patterns.
WHITE_SPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


@functools.cache
def printable_not_blank() -> str:
    """A pattern for `str.isprintable()` and not only spaces — what `Order.customer_name` takes."""
    ranges, start = [], None
    for code in range(sys.maxunicode + 2):
        printable = code <= sys.maxunicode and chr(code).isprintable()
        if printable and start is None:
            start = code
        elif not printable and start is not None:
            ranges.append(_in_class(start) + ("" if code - 1 == start else f"-{_in_class(code - 1)}"))
            start = None
    return rf"^(?! *$)[{''.join(ranges)}]+$"


def _in_class(code: int) -> str:
    char = chr(code)
    return f"\\{char}" if char in "\\]^-[" else char


def state_the_rules(app: FastAPI, skus: Callable[[], frozenset[str] | None]) -> None:
    """Serve `app`'s document with the rules above; `skus` answers the catalogue as last read (None: unknown)."""
    generated = app.openapi
    base: dict[str, Any] | None = None

    def openapi() -> dict[str, Any]:
        nonlocal base
        if base is None:
            base = generated()
        document = copy.deepcopy(base)
        _order_rules(document["components"]["schemas"], skus())
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _order_rules(schemas: dict[str, Any], skus: frozenset[str] | None) -> None:
    order = schemas["Order"]["properties"]
    order["currency"]["enum"] = sorted(CURRENCIES)
    order["payment_token"]["pattern"] = f"^{PAYMENT_TOKEN_PATTERN}$"
    _string_branch(order["customer_name"])["pattern"] = printable_not_blank()
    email = _string_branch(order["customer_email"])
    email["pattern"] = email["pattern"].replace("\\s", WHITE_SPACE)  # within character classes only, as it is there
    lines = order["lines"]
    rules: list[dict[str, Any]] = [{"contains": {"properties": {"unit_price": {"minimum": 1}}}}]
    stated = "At least one line has a price (the order totals more than 0)"
    if skus:
        schemas["OrderLine"]["properties"]["sku"]["enum"] = sorted(skus)
        rules += [
            {"contains": {"properties": {"sku": {"const": sku}}}, "minContains": 0, "maxContains": 1}
            for sku in sorted(skus)
        ]
        stated += "; each SKU is one the inventory stocks, on one line only"
    lines["allOf"] = rules
    lines["description"] = (
        f"{stated}. The order's total (the sum of quantity × unit_price) is at most {MAX_AMOUNT} minor units; an "
        "order above it is refused (422)."
    )


def _string_branch(schema: dict[str, Any]) -> dict[str, Any]:
    """The string alternative of an optional string field (`anyOf: [string, null]`), or the field itself."""
    return next((branch for branch in schema.get("anyOf", []) if branch.get("type") == "string"), schema)
