"""The one function that makes idempotency keys.

A key is a business key (workflow id + operation), not `run_id + activity_id`: a workflow reset starts a new run and
re-schedules activities, and both must still hit the first request's record rather than charge a second time.

It lives with the workflows because it is part of the contract: the workflow makes every key (deterministically,
from what its history holds), and the activities only fall back to it for inputs recorded before keys travelled.
"""


def idempotency_key(workflow_id: str, operation: str, *qualifiers: str) -> str:
    """Stable for every attempt of `operation` in the order's workflow, across retries, worker crashes and resets.

    `qualifiers` distinguish several calls of one operation (e.g. one refund per charge id).
    """
    return "/".join((workflow_id, operation, *qualifiers))
