"""deploy/kubernetes renders, is valid Kubernetes and valid KEDA, and keeps the promises that matter in production.

Each overlay is rendered with `kubectl kustomize` (`manifests`: the full overlays; `rendered`: every overlay, the
worker-only one that renders one more build included); core kinds are checked with kubernetes-validate (strict: unknown
fields are errors) against KUBERNETES_VERSION's schemas, the ScaledObject against KEDA's CRD (tests/deploy/schemas,
vendored). The remaining tests read the rendered manifests for the properties a schema cannot see.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from cadenza.settings import settings
from cadenza.shutdown import WORKER_GRACEFUL_SHUTDOWN, WORKER_STOP_TIMEOUT_SECONDS
from tests.deploy.conftest import (
    REPO_ROOT,
    Manifest,
    config_data,
    containers,
    env_of,
    named,
    of_kind,
    pod_labels,
    selects,
    the_worker,
)

# The oldest Kubernetes still in upstream support when this was written; every kind used here is GA in it.
KUBERNETES_VERSION = "1.32.0"
KEDA_CRD = Path(__file__).with_name("schemas") / "keda.sh_scaledobjects.yaml"
DEPLOYING_DOC = REPO_ROOT / "docs" / "deploying.md"

API, CODEC = "cadenza-api", "cadenza-codec-server"
WORKER_HEALTH_PORT = 9464  # the worker's metrics port, where workers/health.py serves /healthz and /readyz
# The temporal scaler's metadata keys (KEDA docs, scalers/temporal): a misspelt key is silently ignored by KEDA.
TEMPORAL_TRIGGER_KEYS = {
    "endpoint",
    "endpointFromEnv",
    "namespace",
    "taskQueue",
    "targetQueueSize",
    "activationTargetQueueSize",
    "queueTypes",
    "workerDeploymentName",
    "workerDeploymentBuildId",
    "includeRunningWorkflowCount",
    "workflowTaskQueueForCount",
    "minConnectTimeout",
    "unsafeSsl",
    "tlsServerName",
    "enableTLS",
    "apiKeyFromEnv",
}
# An environment variable or ConfigMap key that holds a credential (not a `…_FILE` path to one): it must come from a
# Secret. CADENZA_SERVICE_TOKEN, CADENZA_CODEC_TOKENS, CADENZA_ENCRYPTION_KEYS, TEMPORAL_API_KEY, …
SECRET_LIKE = re.compile(r"(TOKENS?|PASSWORD|SECRET|API_?KEYS?|ENCRYPTION_KEYS)$")


def strict(schema: Any) -> Any:
    """The CRD schema with unknown fields refused: the API server would prune them silently, losing the setting."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [strict(item) for item in schema]
    return schema


def scaled_object(manifests: tuple[Manifest, ...]) -> Manifest:
    return the_worker(manifests, "ScaledObject")


def worker_deployment(manifests: tuple[Manifest, ...]) -> Manifest:
    return the_worker(manifests, "Deployment")


def test_renders_every_component(manifests: tuple[Manifest, ...]) -> None:
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in manifests)
    for kind, name in [
        ("Deployment", API),
        ("Deployment", CODEC),
        ("Service", API),
        ("Service", CODEC),
        ("ConfigMap", "cadenza-config"),
        ("HorizontalPodAutoscaler", API),
        ("PodDisruptionBudget", API),
    ]:
        assert (kind, name) in kinds, f"{kind} {name} missing from {kinds}"
    for kind in ("Deployment", "PodDisruptionBudget", "ScaledObject"):  # the workers of one build, named per build
        assert the_worker(manifests, kind)["metadata"]["name"].startswith("cadenza-worker-")


def test_core_kinds_are_valid_kubernetes(rendered: tuple[Manifest, ...]) -> None:
    manifests = rendered
    core = [doc for doc in manifests if not doc["apiVersion"].startswith("keda.sh/")]
    assert core
    for doc in core:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(
                f"{doc['kind']} {doc['metadata']['name']} is not valid Kubernetes {KUBERNETES_VERSION}: "
                f"{err.message} at {'.'.join(map(str, err.path))}"
            )


def test_scaled_object_is_valid_keda(rendered: tuple[Manifest, ...]) -> None:
    manifests = rendered
    crd = next(doc for doc in yaml.safe_load_all(KEDA_CRD.read_text()) if doc)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    so = scaled_object(manifests)
    assert so["apiVersion"] == f"{crd['spec']['group']}/v1alpha1"
    schema = strict(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}  # validated by Kubernetes itself, not by the CRD
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(so), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_keda_scales_the_worker_on_both_queue_types(rendered: tuple[Manifest, ...]) -> None:
    manifests = rendered
    so = scaled_object(manifests)
    assert so["spec"]["scaleTargetRef"]["name"] == worker_deployment(manifests)["metadata"]["name"]
    assert so["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "temporal"
    metadata = trigger["metadata"]
    unknown = set(metadata) - TEMPORAL_TRIGGER_KEYS
    assert not unknown, f"KEDA's temporal scaler ignores these keys: {sorted(unknown)}"
    assert "queueTypes" in metadata, "set queueTypes explicitly (KEDA's default counts workflow tasks only)"
    assert set(metadata["queueTypes"].split(",")) == {"workflow", "activity"}
    assert so["spec"]["minReplicaCount"] >= 1, "an empty backlog does not mean no order is in flight"


def test_keda_watches_what_the_worker_polls(manifests: tuple[Manifest, ...]) -> None:
    """The trigger cannot read cadenza-config, so its copies of the connection settings must not drift from it."""
    config = config_data(manifests)
    (trigger,) = scaled_object(manifests)["spec"]["triggers"]
    assert trigger["metadata"]["taskQueue"] == config["CADENZA_TASK_QUEUE"] == settings().task_queue
    assert trigger["metadata"]["endpoint"] == config["TEMPORAL_ADDRESS"]
    assert trigger["metadata"]["namespace"] == config["TEMPORAL_NAMESPACE"]


def test_no_secret_is_written_in_the_manifests(manifests: tuple[Manifest, ...]) -> None:
    assert not of_kind(manifests, "Secret"), "Secrets are created out of band (docs/deploying.md), never rendered"
    for key, value in config_data(manifests).items():
        assert not (SECRET_LIKE.search(key) and value), f"cadenza-config holds the credential {key}; use a Secret"
    for deployment in of_kind(manifests, "Deployment"):
        for container in containers(deployment):
            for name, entry in env_of(container).items():
                if SECRET_LIKE.search(name):
                    from_secret = "secretKeyRef" in entry.get("valueFrom", {})
                    assert from_secret, f"{container['name']}: {name} must be a secretKeyRef"
    for trigger in scaled_object(manifests)["spec"]["triggers"]:
        inline = {"apiKey", "cert", "key", "ca"} & set(trigger["metadata"])
        assert not inline, f"{sorted(inline)}: credentials go in a TriggerAuthentication"


def test_every_referenced_secret_is_documented(rendered: tuple[Manifest, ...]) -> None:
    manifests = rendered
    """Each Secret the pods need has its `kubectl create secret` command in docs/deploying.md."""
    referenced = set()
    for deployment in of_kind(manifests, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        referenced |= {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        for container in containers(deployment):
            referenced |= {
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in container.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            }
    documented = set(re.findall(r"kubectl -n \S+ create secret generic (\S+)", DEPLOYING_DOC.read_text()))
    assert referenced and referenced <= documented, f"undocumented Secrets: {sorted(referenced - documented)}"


def test_worker_outlives_its_graceful_shutdown(rendered: tuple[Manifest, ...]) -> None:
    manifests = rendered
    grace = worker_deployment(manifests)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > WORKER_GRACEFUL_SHUTDOWN.total_seconds()
    # The drain plus the span flush and exit (cadenza.shutdown): a SIGKILL any sooner cuts a draining worker off.
    assert grace > WORKER_STOP_TIMEOUT_SECONDS


def test_every_container_has_liveness_and_readiness_probes(rendered: tuple[Manifest, ...]) -> None:
    manifests = rendered
    for deployment in of_kind(manifests, "Deployment"):
        for container in containers(deployment):
            for probe in ("livenessProbe", "readinessProbe"):
                assert "httpGet" in container.get(probe, {}), f"{deployment['metadata']['name']}: no HTTP {probe}"


def test_worker_probes_its_health_endpoints(manifests: tuple[Manifest, ...]) -> None:
    (worker,) = containers(worker_deployment(manifests))
    ports = {port["name"]: port["containerPort"] for port in worker["ports"]}

    def target(probe: str) -> tuple[str, int]:
        get = worker[probe]["httpGet"]
        return get["path"], ports.get(get["port"], get["port"])

    assert target("livenessProbe") == ("/healthz", WORKER_HEALTH_PORT)
    assert target("readinessProbe") == ("/readyz", WORKER_HEALTH_PORT)
    assert config_data(manifests)["CADENZA_METRICS_PORT"] == str(WORKER_HEALTH_PORT)


def test_hpa_scales_the_api_and_leaves_the_worker_to_keda(manifests: tuple[Manifest, ...]) -> None:
    (hpa,) = of_kind(manifests, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", API)
    named(manifests, "Deployment", API)  # the target exists in the same render
    for deployment in (worker_deployment(manifests), named(manifests, "Deployment", API)):
        # An autoscaler owns the count: a `replicas` here would reset it on every apply.
        assert "replicas" not in deployment["spec"], deployment["metadata"]["name"]


def test_pdbs_select_the_right_pods(manifests: tuple[Manifest, ...]) -> None:
    worker_budget = the_worker(manifests, "PodDisruptionBudget")["spec"]["selector"]
    api_budget = named(manifests, "PodDisruptionBudget", API)["spec"]["selector"]
    worker_pods, api_pods = pod_labels(worker_deployment(manifests)), pod_labels(named(manifests, "Deployment", API))
    assert selects(worker_budget, worker_pods)
    assert not selects(worker_budget, api_pods), "the worker's budget must not count API pods"
    assert selects(api_budget, api_pods)


def test_images_are_pinned(rendered: tuple[Manifest, ...]) -> None:
    manifests = rendered
    for deployment in of_kind(manifests, "Deployment"):
        for container in containers(deployment):
            image = container["image"]
            name, _, tag = image.rpartition(":")
            assert "/" in name and tag and tag != "latest", f"{image!r}: the overlay must pin a registry image tag"


def test_pods_run_locked_down(rendered: tuple[Manifest, ...]) -> None:
    manifests = rendered
    for deployment in of_kind(manifests, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod.get("automountServiceAccountToken") is False
        for container in containers(deployment):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert {"requests", "limits"} <= set(container["resources"]), f"{container['name']}: size it"
