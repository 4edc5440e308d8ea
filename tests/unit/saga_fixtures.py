"""A small API described by an OpenAPI document, and a clean saga over it: what the saga lint tests break, one rule at
a time. Self-contained, so each rule is tested against a document the test controls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KEY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}
ORDER_ID = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}
ORDER = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "status": {"type": "string"}, "amount": {"type": "integer"}},
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def shop_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "shop", "version": "1"},
        "paths": {
            "/orders": {
                "post": {
                    "operationId": "createOrder",
                    "parameters": [KEY],
                    "requestBody": {"required": True, **_json({"$ref": "#/components/schemas/CreateOrder"})},
                    "responses": {"201": {"description": "created", **_json({"$ref": "#/components/schemas/Order"})}},
                },
                "get": {
                    "operationId": "listOrders",
                    "parameters": [
                        {"name": "reference", "in": "query", "required": False, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            **_json({"type": "object", "properties": {"orders": {"type": "array", "items": ORDER}}}),
                        }
                    },
                },
            },
            "/orders/{order_id}/confirm": {
                "post": {
                    "operationId": "confirmOrder",
                    "parameters": [ORDER_ID, KEY],
                    "responses": {"200": {"description": "ok", **_json({"$ref": "#/components/schemas/Order"})}},
                }
            },
            "/orders/{order_id}/cancel": {
                "post": {
                    "operationId": "cancelOrder",
                    "parameters": [ORDER_ID, KEY],
                    "responses": {"200": {"description": "ok", **_json({"$ref": "#/components/schemas/Order"})}},
                }
            },
            "/fences": {
                "post": {
                    "operationId": "fence",
                    "parameters": [KEY],
                    "requestBody": {
                        "required": True,
                        **_json(
                            {
                                "type": "object",
                                "properties": {"key": {"type": "string"}},
                                "required": ["key"],
                                "additionalProperties": False,
                            }
                        ),
                    },
                    "responses": {"201": {"description": "fenced", **_json({"type": "object"})}},
                }
            },
        },
        "components": {
            "schemas": {
                "CreateOrder": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["order_id", "amount"],
                    "properties": {"order_id": {"type": "string"}, "amount": {"type": "integer"}},
                },
                "Order": ORDER,
            }
        },
    }


CLEAN = """\
name: shop
apis:
  shop: {openapi: shop.json, service: shop, fence: fence}
input:
  type: object
  required: [order_id, amount]
  properties:
    order_id: {type: string}
    amount: {type: integer}
id: "shop-${input.order_id}"
summary: "order ${input.order_id}"
steps:
  - id: create
    call: shop.createOrder
    request:
      body:
        order_id: "${input.order_id}"
        amount: "${input.amount}"
    undo:
      before:
        - call: shop.fence
          request: {body: {key: "${steps.confirm.key}"}}
      call: shop.cancelOrder
      request:
        path: {order_id: "${steps.create.result.id}"}
      when_unknown: fence
  - id: confirm
    call: shop.confirmOrder
    request:
      path: {order_id: "${steps.create.result.id}"}
    covered_by: create
"""


def write_saga(folder: Path, text: str, document: dict[str, Any] | None = None) -> Path:
    (folder / "shop.json").write_text(json.dumps(document or shop_document()))
    path = folder / "saga.yaml"
    path.write_text(text)
    return path
