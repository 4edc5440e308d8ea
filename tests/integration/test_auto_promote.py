"""A starting worker's auto-promotion (CADENZA_DEPLOY_AUTO_PROMOTE): it takes over a current version that has no
worker — `cadenza up` restarted after a commit — and, switched off, leaves the deployment as it found it.

(A fresh deployment, and a current version whose workers poll, are covered by test_versioned_rollout.)
"""

from __future__ import annotations

import logging
import uuid

import pytest
from temporalio.common import WorkerDeploymentVersion

from cadenza.deployment import describe_deployment, route_to
from tests.integration.conftest import Harness
from tests.integration.deployment_helpers import version_without_workers
from workers.worker import Versioning, order_worker

pytestmark = pytest.mark.integration


async def _abandoned_deployment(harness: Harness) -> str:
    """A deployment whose current version never had a worker: the state after a restart with a new build id."""
    ghost = await version_without_workers(harness.client, "previous-build")
    await route_to(harness.client, ghost.deployment_name, ghost.build_id, allow_no_pollers=True)
    return ghost.deployment_name


async def test_a_worker_takes_over_a_current_version_that_has_no_worker(harness: Harness, caplog):
    name = await _abandoned_deployment(harness)
    versioning = Versioning(WorkerDeploymentVersion(name, "this-build"), auto_promote=True)
    with caplog.at_level(logging.WARNING, logger="cadenza.deployment"):
        async with order_worker(
            harness.client,
            task_queue=f"it-{uuid.uuid4().hex}",
            endpoints=harness.config.endpoints(),
            versioning=versioning,
        ):
            assert (await describe_deployment(harness.client, name)).current_build_id == "this-build"
    [warning] = [record.getMessage() for record in caplog.records if record.name == "cadenza.deployment"]
    assert "current build 'previous-build' had no worker" in warning and "update-options" in warning


async def test_with_auto_promotion_off_a_worker_changes_nothing(harness: Harness):
    name = await _abandoned_deployment(harness)
    versioning = Versioning(WorkerDeploymentVersion(name, "this-build"), auto_promote=False)
    async with order_worker(
        harness.client, task_queue=f"it-{uuid.uuid4().hex}", endpoints=harness.config.endpoints(), versioning=versioning
    ):
        assert (await describe_deployment(harness.client, name)).current_build_id == "previous-build"
