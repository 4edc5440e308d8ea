"""Worker Versioning on Kubernetes: each build's workers are their own Deployment, PDB and ScaledObject, named by the
image tag, and two builds rendered side by side neither collide nor scale each other (docs/deploying.md, "On
Kubernetes").

A rolling update of one shared worker Deployment would stop the old build's workers while orders PINNED to it are in
flight; these tests hold the manifests to the alternative: one Deployment per build, the build id taken from the image
tag in one place.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cadenza.settings import DEFAULT_DEPLOYMENT_NAME
from tests.deploy.conftest import (
    BUILD_LABEL,
    KUSTOMIZE_ROOT,
    OVERLAYS,
    WORKER_ONLY_OVERLAYS,
    Manifest,
    config_data,
    containers,
    env_of,
    pod_labels,
    render,
    render_path,
    require_kubectl,
    selects,
    workers,
)

WORKER_KINDS = ("Deployment", "PodDisruptionBudget", "ScaledObject")


def image_tag(deployment: Manifest) -> str:
    (worker,) = containers(deployment)
    return worker["image"].rpartition(":")[2]


def build_of(doc: Manifest) -> str:
    return doc["metadata"]["labels"][BUILD_LABEL]


def temporal_trigger(scaled_object: Manifest) -> dict[str, str]:
    (trigger,) = [t for t in scaled_object["spec"]["triggers"] if t["type"] == "temporal"]
    return trigger["metadata"]


def scaled_object_for(manifests: tuple[Manifest, ...], build: str) -> Manifest:
    (found,) = [so for so in workers(manifests, "ScaledObject") if build_of(so) == build]
    return found


def test_the_build_id_is_the_image_tag(rendered: tuple[Manifest, ...]) -> None:
    """What the pods announce to Temporal, what KEDA counts and what the pods run are one value: a drift would scale
    a build on another build's backlog, or announce a version that is not the code."""
    deployments = workers(rendered, "Deployment")
    assert deployments, "no worker Deployment rendered"
    for deployment in deployments:
        (worker,) = containers(deployment)
        tag = image_tag(deployment)
        build_id = env_of(worker)["CADENZA_BUILD_ID"].get("value")
        so = scaled_object_for(rendered, build_of(deployment))
        assert build_id == tag == temporal_trigger(so)["workerDeploymentBuildId"], (
            f"{deployment['metadata']['name']}: CADENZA_BUILD_ID {build_id!r}, image tag {tag!r} "
            "and the ScaledObject's "
            f"workerDeploymentBuildId {temporal_trigger(so)['workerDeploymentBuildId']!r} must be the same; set only "
            "images.newTag (deploy/kubernetes/build-id copies it)"
        )


def test_each_build_is_named_by_its_tag(rendered: tuple[Manifest, ...]) -> None:
    """The name suffix and the build label are the tag with dots as dashes: edited by hand beside the tag, so a
    forgotten one (two builds under one name: an apply would roll the old build's pods away) fails here."""
    deployments = workers(rendered, "Deployment")
    assert deployments, "no worker Deployment rendered"
    for deployment in deployments:
        build = image_tag(deployment).replace(".", "-")
        for kind in WORKER_KINDS:
            (doc,) = [d for d in workers(rendered, kind) if build_of(d) == build_of(deployment)]
            assert build_of(doc) == build, f"{kind} {doc['metadata']['name']}: label {BUILD_LABEL} must be {build!r}"
            assert doc["metadata"]["name"] == f"cadenza-worker-{build}", f"{kind}: nameSuffix must be -{build}"
        assert deployment["spec"]["selector"]["matchLabels"].get(BUILD_LABEL) == build, "the build must be selected"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_counts_the_deployment_the_workers_join(overlay: str) -> None:
    require_kubectl()
    manifests = render(overlay)
    (so,) = workers(manifests, "ScaledObject")
    name = temporal_trigger(so)["workerDeploymentName"]
    assert name == config_data(manifests)["CADENZA_DEPLOYMENT_NAME"] == DEFAULT_DEPLOYMENT_NAME


@pytest.mark.parametrize(("overlay", "expected"), [("dev", "1"), ("production", "0")])
def test_only_dev_promotes_itself(overlay: str, expected: str) -> None:
    """In production a new build becomes current only by `cadenza deploy promote`; unset, the worker's default
    (on, the laptop's) would promote whichever build starts first."""
    require_kubectl()
    assert config_data(render(overlay))["CADENZA_DEPLOY_AUTO_PROMOTE"] == expected


def one_more_build(tmp_path: Path, overlay: str, tag: str) -> tuple[Manifest, ...]:
    """`overlay` (a worker-only one) edited as docs/deploying.md says, for build `tag`, in a copy of
    deploy/kubernetes."""
    root = tmp_path / "kubernetes"
    shutil.copytree(KUSTOMIZE_ROOT, root)
    path = root / "overlays" / overlay / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    build = tag.replace(".", "-")
    (image,) = kustomization["images"]
    image["newTag"] = tag
    kustomization["nameSuffix"] = f"-{build}"
    (labels,) = kustomization["labels"]
    labels["pairs"][BUILD_LABEL] = build
    path.write_text(yaml.safe_dump(kustomization))
    return render_path(path.parent)


@pytest.mark.parametrize("overlay", sorted(WORKER_ONLY_OVERLAYS))
def test_two_builds_run_side_by_side(tmp_path: Path, overlay: str) -> None:
    """Build A (the full overlay's workers) and build B (the worker-only overlay, set to a new tag) applied to one
    namespace: nothing of B replaces or selects anything of A, and each ScaledObject scales its own build."""
    require_kubectl()
    running = render(WORKER_ONLY_OVERLAYS[overlay])
    build_a = image_tag(workers(running, "Deployment")[0])
    build_b = build_a + "-next"
    together = [*running, *one_more_build(tmp_path, overlay, build_b)]
    namespaces = {doc["metadata"].get("namespace") for doc in together if doc["kind"] in WORKER_KINDS}
    assert namespaces == {named_namespace(running)}, "both builds belong in the namespace of the full overlay's config"
    deployments = workers(together, "Deployment")
    assert sorted(image_tag(d) for d in deployments) == sorted([build_a, build_b])
    for kind in WORKER_KINDS:
        names = [doc["metadata"]["name"] for doc in workers(together, kind)]
        assert len(names) == len(set(names)) == 2, f"two builds' {kind}s must have distinct names: {names}"
    for deployment in deployments:
        others = [d for d in deployments if d is not deployment]
        for other in others:
            assert not selects(deployment["spec"]["selector"], pod_labels(other)), "Deployments adopt each other's pods"
        (budget,) = [p for p in workers(together, "PodDisruptionBudget") if build_of(p) == build_of(deployment)]
        assert selects(budget["spec"]["selector"], pod_labels(deployment))
        assert not any(selects(budget["spec"]["selector"], pod_labels(other)) for other in others)
        so = scaled_object_for(tuple(together), build_of(deployment))
        assert so["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"], (
            f"ScaledObject {so['metadata']['name']} scales {so['spec']['scaleTargetRef']['name']}, not its own build's "
            f"Deployment {deployment['metadata']['name']} (deploy/kubernetes/worker/kustomizeconfig.yaml)"
        )
        assert temporal_trigger(so)["workerDeploymentBuildId"] == image_tag(deployment)
        # B's trigger cannot read A's cadenza-config either: it must watch what every build polls.
        config, trigger = config_data(running), temporal_trigger(so)
        assert (trigger["endpoint"], trigger["namespace"], trigger["taskQueue"], trigger["workerDeploymentName"]) == (
            config["TEMPORAL_ADDRESS"],
            config["TEMPORAL_NAMESPACE"],
            config["CADENZA_TASK_QUEUE"],
            config["CADENZA_DEPLOYMENT_NAME"],
        )


def named_namespace(manifests: tuple[Manifest, ...]) -> str:
    (namespace,) = [doc for doc in manifests if doc["kind"] == "Namespace"]
    return namespace["metadata"]["name"]
