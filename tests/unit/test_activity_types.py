"""The contract between workflows/ and activities/: every activity a workflow calls by name
(workflows/activity_types.py) is registered under that name, taking and returning the declared models, and nothing
else is registered."""

from __future__ import annotations

import pytest
from temporalio.activity import _Definition

from activities.operation_calls import OperationCalls
from activities.orders import OrderActivities
from activities.reconcile import ReconcileActivities
from workflows import activity_types

REGISTERED = [*vars(OrderActivities).values(), *vars(ReconcileActivities).values(), *vars(OperationCalls).values()]
DEFINITIONS = {d.name: d for d in (_Definition.from_callable(fn) for fn in REGISTERED if callable(fn)) if d is not None}
DECLARED = [*activity_types.ORDER_STEPS, *activity_types.RECONCILE_STEPS, *activity_types.SAGA_ACTIVITIES]


def test_every_registered_activity_is_declared_and_every_declared_one_registered():
    assert sorted(DEFINITIONS) == sorted(declared.name for declared in DECLARED)


@pytest.mark.parametrize("declared", DECLARED, ids=lambda declared: declared.name)
def test_each_activity_takes_and_returns_the_declared_models(declared):
    definition = DEFINITIONS[declared.name]
    assert definition.arg_types == [declared.arg]
    assert definition.ret_type is declared.result
