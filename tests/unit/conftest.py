"""Workflow unit tests: the real `OrderWorkflow` on the time-skipping test server, with fake activities."""

from __future__ import annotations

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from cadenza.binaries import temporal_test_server
from cadenza.connection import data_converter


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def time_skipping_env():
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(), test_server_existing_path=str(temporal_test_server())
    )
    try:
        yield env
    finally:
        await env.shutdown()
