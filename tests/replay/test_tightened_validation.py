"""A rule tightened on a workflow's input model must not wedge the orders already open.

Every replay re-validates the workflow input stored in history (the pydantic data converter decodes it into `Order`).
A worker replays an open order whenever it rebuilds its state: after a deploy, a restart, a cache eviction, an
operator's `retry-compensation`. If the new code's `Order` refuses what an open order was placed with, that order can
no longer make progress (its workflow task fails on every attempt), while tests/replay stays green as long as the
recorded histories happen to pass the new rule.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from clients.orders import InvalidOrder, parse_order
from starters.history_files import load_history
from starters.replay import new_replayer
from workflows import models

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "order.json"


def _waiting_for_an_operator() -> WorkflowHistory:
    """tests/histories/needs_attention.json cut where the order waits in needs_attention: the history a worker
    replays for an open order (the recorded file goes on to the operator's update and the order's completion)."""
    history = load_history(HISTORIES / "needs_attention.json")
    kinds = [event.event_type for event in history.events]
    update = kinds.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    waiting = max(i for i, kind in enumerate(kinds[:update]) if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)
    return WorkflowHistory(history.workflow_id, history.events[:waiting])


async def test_the_open_order_replays_with_todays_rules():
    await new_replayer().replay_workflow(_waiting_for_an_operator())


# Before the workflow took a `StoredOrder`, this failed: "Failed decoding arguments: 1 validation error for Order …
# unknown currency 'EUR'" — every open EUR order wedged.
async def test_dropping_a_currency_cannot_wedge_an_open_order_placed_in_it(monkeypatch):
    monkeypatch.setattr(models, "CURRENCIES", models.CURRENCIES - {"EUR"})  # the tightened rule: EUR no longer sold
    # The edge applies it: a new EUR order is refused before anything starts.
    with pytest.raises(InvalidOrder, match="unknown currency 'EUR'"):
        parse_order(json.dumps({**json.loads(EXAMPLE.read_text()), "currency": "EUR"}))
    # The order placed in EUR before the change, waiting for an operator, must still replay.
    await new_replayer().replay_workflow(_waiting_for_an_operator())
