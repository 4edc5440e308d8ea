"""Worker Deployment states for tests that a worker cannot produce by itself."""

from __future__ import annotations

import uuid

from temporalio.api.workflowservice.v1 import CreateWorkerDeploymentRequest, CreateWorkerDeploymentVersionRequest
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion


async def version_without_workers(client: Client, build_id: str = "ghost") -> WorkerDeploymentVersion:
    """A version, in a deployment of its own, that the server knows but no worker ever polled (created ahead of its
    workers, as a deploy pipeline may)."""
    version = WorkerDeploymentVersion(f"it-ghost-{uuid.uuid4().hex[:8]}", build_id)
    service, namespace = client.workflow_service, client.namespace
    await service.create_worker_deployment(
        CreateWorkerDeploymentRequest(namespace=namespace, deployment_name=version.deployment_name)
    )
    await service.create_worker_deployment_version(
        CreateWorkerDeploymentVersionRequest(namespace=namespace, deployment_version=version._to_proto())
    )
    return version
