"""The declared example sagas (examples/sagas/) and inputs for their runs, made from the sample input beside each:
what the recorder, the saga chaos run and the benchmark start."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from clients.sagas import load_definition
from workflows.models import Order
from workflows.saga_definition import SagaDefinition

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


def order_with_unsafe_charge(profile: Mapping[str, Any] | None = None) -> SagaDefinition:
    """The order saga (examples/sagas/order.yaml) with its charge undone by lookup (a refund of the succeeded charge
    the lookup finds) instead of a fence, and `profile` as the charge's idempotency (`{"replay": "unsafe"}`: an API
    that re-executes a retried key; None: the API's profile, safe). Compiled from a copy beside the examples'
    OpenAPI documents."""
    declared = yaml.safe_load((EXAMPLES / "order.yaml").read_text())
    declared["name"] = "order-unsafe-charge"
    charge = next(step for step in declared["steps"] if step["id"] == "charge")
    charge["undo"] = {
        "call": "payment.refundCharge",
        "request": {"path": {"charge_id": "${steps.charge.result.id}"}, "body": {}},
        "when_unknown": "lookup",
        "lookup": {
            "call": "payment.listCharges",
            "request": {"query": {"order_id": "${input.order_id}"}},
            "items": "charges",
            "match": {"order_id": "${input.order_id}", "status": "succeeded"},
        },
    }
    if profile is not None:
        charge["idempotency"] = dict(profile)
    return compiled_copy(declared, "order_unsafe_charge.yaml")


def compiled_copy(declaration: Mapping[str, Any], file_name: str) -> SagaDefinition:
    """A variant of an example's declaration, compiled from a copy written beside the examples' OpenAPI documents."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / file_name
        (Path(folder) / "openapi").symlink_to(EXAMPLES / "openapi")
        path.write_text(yaml.safe_dump(dict(declaration), sort_keys=False))
        return load_definition(path)
