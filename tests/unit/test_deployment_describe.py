"""Describing a Worker Deployment is asked again while the deployment's own system workflow is busy (the server then
answers CANCELLED or DEADLINE_EXCEEDED, seen right after `cadenza deploy promote --force`), never for anything else."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode

from cadenza import deployment


class Server:
    """Answers a describe with the given failures first, then an answer."""

    def __init__(self, *failures: RPCStatusCode) -> None:
        self.failures = list(failures)
        self.asked = 0

    async def describe(self) -> str:
        self.asked += 1
        if self.failures:
            status = self.failures.pop(0)
            raise RPCError(status.name, status, b"")
        return "described"


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deployment, "_RETRY_EVERY_SECONDS", 0)


async def test_a_busy_deployment_is_described_once_it_answers() -> None:
    server = Server(RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)

    assert await deployment._asked_again_if_busy(server.describe) == "described"
    assert server.asked == 3


async def test_a_deployment_busy_for_longer_than_the_tries_is_the_callers_error() -> None:
    server = Server(*[RPCStatusCode.DEADLINE_EXCEEDED] * deployment._DESCRIBE_TRIES)

    with pytest.raises(RPCError) as raised:
        await deployment._asked_again_if_busy(server.describe)
    assert raised.value.status == RPCStatusCode.DEADLINE_EXCEEDED
    assert server.asked == deployment._DESCRIBE_TRIES


@pytest.mark.parametrize("status", [RPCStatusCode.NOT_FOUND, RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.INTERNAL])
async def test_any_other_failure_is_raised_at_once(status: RPCStatusCode) -> None:
    server = Server(status)

    with pytest.raises(RPCError) as raised:
        await deployment._asked_again_if_busy(server.describe)
    assert raised.value.status == status and server.asked == 1
