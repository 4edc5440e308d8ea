"""Who may reach Temporal on Kubernetes: deploy/kubernetes/temporal-access's NetworkPolicies render, are valid and
admit to the frontend only Cadenza's Temporal clients (worker, API) and KEDA; each of those presents its own client
certificate through TEMPORAL_TLS_*; the worker's health port listens on the pod's IP for the probes; and the Helm
values turn on mutual TLS, the authorizer and its claim mapper.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import (
    KUSTOMIZE_ROOT,
    OVERLAYS,
    REPO_ROOT,
    WORKER_ONLY_OVERLAYS,
    Manifest,
    config_data,
    containers,
    env_of,
    named,
    of_kind,
    pod_labels,
    render,
    render_path,
    require_kubectl,
    the_worker,
)

KUBERNETES_VERSION = "1.32.0"
HELM_VALUES = REPO_ROOT / "deploy" / "helm" / "temporal-values.yaml"
CLIENT_LABEL = "cadenza.dev/temporal-client"
# Which Deployments talk to Temporal (their command), and the component each one's certificate Secret is named after.
TEMPORAL_CLIENTS = {"worker": "worker", "api": "api"}
NOT_A_CLIENT = "cadenza-codec-server"


@pytest.fixture(scope="module")
def access() -> tuple[Manifest, ...]:
    require_kubectl()
    return render_path(KUSTOMIZE_ROOT / "temporal-access")


def frontend_policy(access: tuple[Manifest, ...]) -> Manifest:
    return named(access, "NetworkPolicy", "temporal-frontend-from-cadenza")


def test_network_policies_are_valid_kubernetes(access):
    assert {doc["kind"] for doc in access} == {"NetworkPolicy"}
    for doc in access:
        assert doc["metadata"]["namespace"] == "temporal", "they belong in the Helm release's namespace"
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_temporals_pods_accept_only_each_other_by_default(access):
    policy = named(access, "NetworkPolicy", "temporal-only-itself")["spec"]
    release = {"app.kubernetes.io/name": "temporal", "app.kubernetes.io/instance": "temporal"}
    assert policy["podSelector"]["matchLabels"] == release and policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == [{"from": [{"podSelector": {"matchLabels": release}}]}]


def test_the_frontend_admits_cadenzas_clients_and_keda_on_its_grpc_port_only(access):
    spec = frontend_policy(access)["spec"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "frontend"
    [rule] = spec["ingress"]
    address_port = int(config_data(render(OVERLAYS[0]))["TEMPORAL_ADDRESS"].rsplit(":", 1)[1])
    assert rule["ports"] == [{"protocol": "TCP", "port": address_port}]
    cadenza, keda = rule["from"]
    assert cadenza["podSelector"] == {"matchLabels": {CLIENT_LABEL: "true"}}
    [namespaces] = cadenza["namespaceSelector"]["matchExpressions"]
    overlay_namespaces = {
        next(d for d in render(name) if d["kind"] == "Namespace")["metadata"]["name"] for name in OVERLAYS
    }
    assert namespaces["key"] == "kubernetes.io/metadata.name" and set(namespaces["values"]) == overlay_namespaces
    assert keda["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}


@pytest.mark.parametrize("overlay", [*OVERLAYS, *WORKER_ONLY_OVERLAYS])
def test_only_temporal_clients_carry_the_label_the_policy_admits(overlay):
    require_kubectl()
    for deployment in of_kind(render(overlay), "Deployment"):
        command = containers(deployment)[0]["command"]
        client = command[:2] in (["cadenza", component] for component in TEMPORAL_CLIENTS)
        assert (pod_labels(deployment).get(CLIENT_LABEL) == "true") == client, deployment["metadata"]["name"]
        if deployment["metadata"]["name"] == NOT_A_CLIENT:
            assert not client


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_temporal_client_presents_its_own_certificate(overlay):
    require_kubectl()
    manifests = render(overlay)
    config = config_data(manifests)
    paths = [
        PurePosixPath(config[f"TEMPORAL_TLS_{name}_PATH"]) for name in ("CLIENT_CERT", "CLIENT_KEY", "SERVER_CA_CERT")
    ]
    assert len({path.parent for path in paths}) == 1
    for deployment in of_kind(manifests, "Deployment"):
        command = containers(deployment)[0]["command"]
        if command[1] not in TEMPORAL_CLIENTS:
            continue
        secret = f"cadenza-{TEMPORAL_CLIENTS[command[1]]}-temporal-tls"
        spec = deployment["spec"]["template"]["spec"]
        [volume] = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == secret]
        [mount] = [m for m in containers(deployment)[0]["volumeMounts"] if m["name"] == volume["name"]]
        assert PurePosixPath(mount["mountPath"]) == paths[0].parent and mount["readOnly"]
        assert {item["path"] for item in volume["secret"]["items"]} == {path.name for path in paths}
        token = env_of(containers(deployment)[0])["TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"]
        assert token["name"] == secret and token["key"] == "token"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_worker_health_port_listens_on_the_pod_ip(overlay):
    """Loopback is the worker's default (workers/health.py): the kubelet's probes would find nothing there."""
    require_kubectl()
    worker = containers(the_worker(render(overlay), "Deployment"))[0]
    assert env_of(worker)["CADENZA_METRICS_HOST"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}


@pytest.mark.parametrize("overlay", [*OVERLAYS, *WORKER_ONLY_OVERLAYS])
def test_keda_presents_a_certificate_of_its_own(overlay):
    require_kubectl()
    manifests = render(overlay)
    trigger = the_worker(manifests, "ScaledObject")["spec"]["triggers"][0]
    with_auth = render(WORKER_ONLY_OVERLAYS.get(overlay, overlay))  # a worker-only overlay uses production's
    auth = named(with_auth, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    parameters = {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
    assert parameters == {
        "cert": ("cadenza-keda-temporal-tls", "tls.crt"),
        "key": ("cadenza-keda-temporal-tls", "tls.key"),
        "ca": ("cadenza-keda-temporal-tls", "ca.crt"),
        "apiKey": ("cadenza-keda-temporal-tls", "token"),
    }


def test_helm_values_turn_on_mutual_tls_and_the_authorizer():
    server = yaml.safe_load(HELM_VALUES.read_text())["server"]
    tls = server["config"]["tls"]
    for side in ("frontend", "internode"):
        assert tls[side]["server"]["requireClientAuth"] is True, side
        assert tls[side]["server"]["clientCaFiles"], side
    mounted = {m["mountPath"] for m in server["additionalVolumeMounts"]}
    assert PurePosixPath(tls["frontend"]["server"]["certFile"]).parent.as_posix() in mounted
    authorization = server["config"]["authorization"]
    assert (authorization["authorizer"], authorization["claimMapper"]) == ("default", "default")
    assert authorization["jwtKeyProvider"]["keySourceURIs"], "the claim mapper needs the identity provider's keys"
    assert server["internal-frontend"]["enabled"] is True, "Temporal's system workers need it once the authorizer is on"
