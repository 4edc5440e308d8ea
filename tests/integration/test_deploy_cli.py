"""`cadenza deploy status` and `cadenza deploy promote` as a user runs them, against the test stack's deployment."""

from __future__ import annotations

from cadenza.build_id import build_id
from cadenza.deployment import describe_deployment
from cadenza.settings import deployment_name
from tests.integration.conftest import Harness
from tests.integration.deployment_helpers import version_without_workers
from tests.integration.test_cli import _cadenza_async


async def test_status_shows_the_harness_worker_as_the_polled_current_version(harness: Harness):
    # The harness's worker is a version of `cadenza` with this checkout's build id, made current on its first start.
    shown = await _cadenza_async(["deploy", "status"], harness.config.client_env())
    assert shown.returncode == 0, shown.stderr
    assert f"Worker Deployment {deployment_name()} — current: {build_id()}, ramping: none" in shown.stdout
    [row] = [line for line in shown.stdout.splitlines() if line.lstrip("│ ").startswith(build_id())]
    assert "current" in row and "polling" in row and harness.task_queue in row


async def test_promoting_the_current_version_changes_nothing(harness: Harness):
    done = await _cadenza_async(["deploy", "promote", build_id()], harness.config.client_env())
    assert done.returncode == 0, done.stderr
    assert "already the current version" in done.stdout


async def test_promote_refuses_a_build_no_worker_has_polled(harness: Harness):
    refused = await _cadenza_async(["deploy", "promote", "never-deployed"], harness.config.client_env())
    assert refused.returncode == 1
    assert "No worker of build 'never-deployed' has ever polled deployment" in refused.stderr
    assert (await describe_deployment(harness.client, deployment_name())).current_build_id == build_id()


async def test_promote_refuses_a_version_without_pollers_unless_forced(harness: Harness):
    ghost_version = await version_without_workers(harness.client)
    name, ghost = ghost_version.deployment_name, ghost_version.build_id
    env = harness.config.client_env()

    refused = await _cadenza_async(["deploy", "promote", ghost, "--name", name], env)
    assert refused.returncode == 1
    assert f"No worker of build '{ghost}' is polling" in refused.stderr and "--force" in refused.stderr
    assert (await describe_deployment(harness.client, name)).current_build_id is None

    forced = await _cadenza_async(["deploy", "promote", ghost, "--name", name, "--force"], env)
    assert forced.returncode == 0, forced.stderr
    assert f"{ghost} is now the current version of {name}" in forced.stdout
    assert (await describe_deployment(harness.client, name)).current_build_id == ghost


async def test_status_of_an_unknown_deployment_says_how_to_create_it(harness: Harness):
    missing = await _cadenza_async(["deploy", "status", "--name", "nobody-here"], harness.config.client_env())
    assert missing.returncode == 1
    assert "no Worker Deployment 'nobody-here'" in missing.stderr and "cadenza worker" in missing.stderr
