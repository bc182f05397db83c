"""deploy/k8s: each overlay renders with kustomize (kubectl's), every object is valid against
the Kubernetes schemas, and the manifests run what Lodge is: its processes, its settings,
its probes. Operators apply these files; a typo here is an outage there."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from lodge.registry import SERVICE_CLASSES
from services.common.config import DATABASE_OWNERS

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUBECTL = Path(sys.executable).parent / "kubectl"
KUBERNETES_VERSION = "1.33.0"
OVERLAYS = ("small", "production")
# custom resources of the operators the platform component names; no schema is bundled
OPERATOR_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"), ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "Database"), ("minio.min.io/v2", "Tenant"),
}


def render(path: Path) -> list[dict]:
    rendered = subprocess.run([str(KUBECTL), "kustomize", str(path)], capture_output=True,
                              text=True, check=True, timeout=120)
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> list[dict]:
    return render(K8S / "overlays" / request.param)


def of_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def lodge_deployments(objects: list[dict]) -> dict[str, dict]:
    return {name: d for name, d in of_kind(objects, "Deployment").items()
            if d["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
                "registry.example.edu/lodge")}


def settings_lodge_reads() -> set[str]:
    names = set()
    for source in (REPO / "lodge", REPO / "services", REPO / "gateway"):
        for path in source.rglob("*.py"):
            names.update(re.findall(r"LODGE_[A-Z0-9_]+", path.read_text()))
    names.update(f"LODGE_{owner.upper()}_DATABASE_URL" for owner in DATABASE_OWNERS)
    return names


def env_file_names(path: Path) -> list[str]:
    return [line.split("=", 1)[0] for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_every_object_is_valid_against_the_kubernetes_schemas(overlay):
    for obj in overlay:
        if (obj["apiVersion"], obj["kind"]) in OPERATOR_KINDS:
            assert obj["metadata"]["name"].startswith("lodge-") and obj["spec"]
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_five_services_and_the_gateway_run_from_the_one_image(overlay):
    deployments = lodge_deployments(overlay)
    commands = {name: d["spec"]["template"]["spec"]["containers"][0]["args"]
                for name, d in deployments.items()}
    assert commands.pop("lodge-gateway") == ["gateway"]
    assert commands == {f"lodge-{name}": ["service", name] for name in SERVICE_CLASSES}
    [job] = of_kind(overlay, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    for name, deployment in deployments.items():
        [waits] = deployment["spec"]["template"]["spec"]["initContainers"]
        owner = name.removeprefix("lodge-")
        assert waits["args"] == ["await-migrations", owner] and owner in DATABASE_OWNERS


def test_every_lodge_process_is_probed_bounded_locked_down_and_scaled(overlay):
    scaled = {hpa["spec"]["scaleTargetRef"]["name"]
              for hpa in of_kind(overlay, "HorizontalPodAutoscaler").values()}
    for name, deployment in lodge_deployments(overlay).items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        [container] = pod["containers"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, (name, probe)
        assert container["resources"]["requests"]["cpu"], name
        assert container["resources"]["limits"]["memory"], name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert name in scaled, f"{name} has no HorizontalPodAutoscaler"


def test_service_probes_read_the_file_the_service_touches(overlay):
    for name, deployment in lodge_deployments(overlay).items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        if name == "lodge-gateway":
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            continue
        env = {e["name"]: e["value"] for e in container["env"]}
        alive = env["LODGE_LIVENESS_FILE"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert alive in " ".join(container[probe]["exec"]["command"]), (name, probe)


def test_settings_are_ones_lodge_reads_and_secrets_stay_out_of_the_manifests(overlay):
    known = settings_lodge_reads()
    [config] = [c for name, c in of_kind(overlay, "ConfigMap").items()
                if name.startswith("lodge-config")]
    named = set(config["data"])
    for deployment in lodge_deployments(overlay).values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            named.update(e["name"] for e in container.get("env", []))
            assert {"secretRef": {"name": "lodge-secrets"}} in container["envFrom"]
    assert named <= known, f"settings Lodge never reads: {sorted(named - known)}"
    assert not any(re.search("PASSWORD|SECRET|_KEY", name) for name in named)
    assert of_kind(overlay, "Secret") == {}


def test_the_example_secret_names_every_database_and_only_real_settings():
    names = env_file_names(K8S / "lodge-secrets.example.env")
    lodge_names = {n for n in names if n.startswith("LODGE_")}
    assert lodge_names <= settings_lodge_reads()
    assert {f"LODGE_{owner.upper()}_DATABASE_URL" for owner in DATABASE_OWNERS} <= lodge_names
    assert {"LODGE_SECRET_KEY", "LODGE_AMQP_URI"} <= lodge_names


def test_the_gateway_probes_are_routes_the_gateway_has(lodge_env):
    from gateway import create_app
    rules = {rule.rule for rule in create_app().url_map.iter_rules()}
    assert {"/healthz", "/readyz"} <= rules
