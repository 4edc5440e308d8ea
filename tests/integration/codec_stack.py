"""A fixture for the codec-server checks: a stack started as `cadenza up` starts it (the dev server told
`--ui-codec-endpoint`, the codec server a child process with the stack's keys) and one order placed and run to its
end by a client and worker that encrypt with the same codec. Its payment token is a unique marker string."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

from cadenza.processes import free_port
from cadenza.stack import EmbeddedStack, StackConfig
from clients.orders import place_order, wait_for_result
from tests.conftest import make_order
from workers.worker import order_worker


@dataclass
class EncryptedOrder:
    stack: EmbeddedStack
    workflow_id: str
    marker: str
    """Appears in the order's input only: readable through the codec server, nowhere else."""


@asynccontextmanager
async def codec_stack(state: Path, name: str) -> AsyncIterator[tuple[EmbeddedStack, Client]]:
    """A stack as `cadenza up` starts it (the UI told the codec server's endpoint), on free ports, with its state in
    `state`, and a client that encrypts with the same codec; no worker (the caller runs one on the stack's queue)."""
    with pytest.MonkeyPatch.context() as env:
        # The codec server child and this test's client must find the same keys: both read this stack's state folder.
        env.setenv("CADENZA_STATE_DIR", str(state))
        config = StackConfig(
            state_dir=state,
            temporal_port=free_port(),
            ui_port=free_port(),
            codec_port=free_port(),
            service_ports={name: free_port() for name in ("erp", "payment", "inventory")},
            token=f"test-{uuid.uuid4().hex}",
            task_queue=f"{name}-{uuid.uuid4().hex}",
            with_worker=False,
            persistent_history=False,
        )
        stack = EmbeddedStack(config)
        await stack.start()
        try:
            yield stack, await Client.connect(config.temporal_address, data_converter=config.data_converter())
        finally:
            stack.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def encrypted_order(tmp_path_factory) -> AsyncIterator[EncryptedOrder]:
    async with codec_stack(tmp_path_factory.mktemp("codec-stack"), "codec") as (stack, client):
        config = stack.config
        order = make_order(token=f"tok_{uuid.uuid4().hex}")
        async with order_worker(client, task_queue=config.task_queue, endpoints=config.endpoints()):
            await wait_for_result((await place_order(client, order, task_queue=config.task_queue)).handle)
        yield EncryptedOrder(stack, order.workflow_id, order.payment_token)
