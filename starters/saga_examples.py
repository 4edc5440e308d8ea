"""The declared example sagas (examples/sagas/) and inputs for their runs, made from the sample input beside each:
what the recorder, the saga chaos run and the benchmark start."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workflows.models import Order

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sagas"


def order_input(order_id: str, token: str = "tok_visa") -> dict[str, Any]:
    """The order saga's sample input (examples/sagas/order.input.json) under another order id and card."""
    sample: dict[str, Any] = json.loads((EXAMPLES / "order.input.json").read_text())
    return {**sample, "order_id": order_id, "payment_token": token}


def trip_input(trip_id: str, **changes: Mapping[str, Any]) -> dict[str, Any]:
    """The travel saga's sample input under another trip id, with parts changed (`car={"days": 0}`)."""
    sample: dict[str, Any] = json.loads((EXAMPLES / "travel.input.json").read_text())
    for part, fields in changes.items():
        sample[part] = {**sample[part], **fields}
    return {**sample, "trip_id": trip_id}


def order_saga_input(order: Order) -> dict[str, Any]:
    """The order saga's input for `order`: the same calls with the same bodies as OrderWorkflow makes for it."""
    lines = [line.model_dump(mode="json") for line in order.lines]
    return {
        **order.model_dump(
            mode="json",
            include={"order_id", "customer_id", "customer_name", "customer_email", "shipping_address", "currency"},
            exclude_none=True,
        ),
        "payment_token": order.payment_token,
        "total_amount": order.total_amount,
        "lines": lines,
        "reservation_lines": [{"sku": line["sku"], "quantity": line["quantity"]} for line in lines],
    }
