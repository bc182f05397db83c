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

from kernel.platform.config import DATABASE_OWNERS, declared_names
from lodge.registry import SERVICE_CLASSES

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUBECTL = Path(sys.executable).parent / "kubectl"
KUBERNETES_VERSION = "1.33.0"
OVERLAYS = ("small", "production")
# custom resources of the operators the platform component names; no schema is bundled
OPERATOR_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "Database"),
    ("minio.min.io/v2", "Tenant"),
}


def render(path: Path) -> list[dict]:
    rendered = subprocess.run(
        [str(KUBECTL), "kustomize", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> list[dict]:
    return render(K8S / "overlays" / request.param)


def of_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def lodge_deployments(objects: list[dict]) -> dict[str, dict]:
    return {
        name: d
        for name, d in of_kind(objects, "Deployment").items()
        if d["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
            "registry.example.edu/lodge"
        )
    }


def settings_lodge_reads() -> set[str]:
    return declared_names()


def env_file_names(path: Path) -> list[str]:
    return [
        line.split("=", 1)[0]
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_every_object_is_valid_against_the_kubernetes_schemas(overlay):
    for obj in overlay:
        if (obj["apiVersion"], obj["kind"]) in OPERATOR_KINDS:
            assert obj["metadata"]["name"].startswith("lodge-") and obj["spec"]
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_five_services_and_the_gateway_run_from_the_one_image(overlay):
    deployments = lodge_deployments(overlay)
    commands = {
        name: d["spec"]["template"]["spec"]["containers"][0]["args"]
        for name, d in deployments.items()
    }
    assert commands.pop("lodge-gateway") == ["gateway"]
    assert commands == {f"lodge-{name}": ["service", name] for name in SERVICE_CLASSES}
    jobs = {
        name: job["spec"]["template"]["spec"]["containers"][0]["args"]
        for name, job in of_kind(overlay, "Job").items()
    }
    assert jobs == {"lodge-migrate": ["migrate"], "lodge-broker-users": ["broker-users", "--apply"]}
    for name, deployment in deployments.items():
        [waits] = deployment["spec"]["template"]["spec"]["initContainers"]
        owner = name.removeprefix("lodge-")
        assert waits["args"] == ["await-migrations", owner] and owner in DATABASE_OWNERS


def test_every_lodge_process_is_probed_bounded_locked_down_and_scaled(overlay):
    scaled = {
        hpa["spec"]["scaleTargetRef"]["name"]
        for hpa in of_kind(overlay, "HorizontalPodAutoscaler").values()
    }
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
        env = {e["name"]: e.get("value") for e in container["env"]}
        alive = env["LODGE_LIVENESS_FILE"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert alive in " ".join(container[probe]["exec"]["command"]), (name, probe)


def test_every_process_stops_within_its_pods_grace_period(overlay):
    """The kubelet kills a pod terminationGracePeriodSeconds after it began to stop it: the
    preStop pause and LODGE_SHUTDOWN_GRACE_SECONDS (which `lodge service` and `lodge gateway`
    keep to) must fit inside, with a margin for the process to exit."""
    [config] = [
        c for name, c in of_kind(overlay, "ConfigMap").items() if name.startswith("lodge-config")
    ]
    grace = int(config["data"]["LODGE_SHUTDOWN_GRACE_SECONDS"])
    for name, deployment in lodge_deployments(overlay).items():
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        pause = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        assert pause + grace + 5 <= pod["terminationGracePeriodSeconds"], name
        if name == "lodge-gateway":
            assert pause > 0, "the gateway's endpoints must drop it before it stops listening"


def test_settings_are_ones_lodge_reads_and_secrets_stay_out_of_the_manifests(overlay):
    known = settings_lodge_reads()
    [config] = [
        c for name, c in of_kind(overlay, "ConfigMap").items() if name.startswith("lodge-config")
    ]
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
    assert "LODGE_SECRET_KEY" in lodge_names


def test_the_example_broker_secret_names_the_administrator_and_every_process():
    names = env_file_names(K8S / "lodge-broker.example.env")
    assert sorted(names) == sorted(
        ["LODGE_AMQP_URI"] + [f"LODGE_AMQP_URI_{owner.upper()}" for owner in DATABASE_OWNERS]
    )
    assert set(names) <= settings_lodge_reads()


def test_each_process_gets_only_its_own_broker_account(overlay):
    """The administrator's LODGE_AMQP_URI reaches only the Jobs; a Deployment's pods see
    one key of `lodge-broker`, their own."""
    for name, deployment in lodge_deployments(overlay).items():
        pod = deployment["spec"]["template"]["spec"]
        owner = name.removeprefix("lodge-").upper()
        for container in pod["containers"] + pod["initContainers"]:
            assert {"secretRef": {"name": "lodge-broker"}} not in container["envFrom"], name
        [container] = pod["containers"]
        broker = [e for e in container["env"] if e["name"].startswith("LODGE_AMQP_URI")]
        assert broker == [
            {
                "name": f"LODGE_AMQP_URI_{owner}",
                "valueFrom": {
                    "secretKeyRef": {"name": "lodge-broker", "key": f"LODGE_AMQP_URI_{owner}"}
                },
            }
        ], name
    for job in of_kind(overlay, "Job").values():
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert {"secretRef": {"name": "lodge-broker"}} in container["envFrom"]


def selects(selector: dict, labels: dict) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions In) selects `labels`."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def pod_template(workload: dict) -> dict:
    """A Deployment's, Job's or CronJob's pod template."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]
    return spec["template"]


def pod_labels(overlay: list[dict]) -> dict[str, dict]:
    """Every Lodge pod template's labels, by the component it runs."""
    templates = [pod_template(o) for o in overlay if o["kind"] in ("Deployment", "Job", "CronJob")]
    return {
        t["metadata"]["labels"]["app.kubernetes.io/component"]: t["metadata"]["labels"]
        for t in templates
        if t["metadata"]["labels"].get("app.kubernetes.io/name") == "lodge"
    }


def allowed(overlay: list[dict], direction: str, labels: dict) -> list[dict]:
    """The ingress or egress rules of every NetworkPolicy that selects a pod with `labels`."""
    return [
        rule
        for policy in of_kind(overlay, "NetworkPolicy").values()
        if selects(policy["spec"]["podSelector"], labels)
        for rule in policy["spec"].get(direction, [])
    ]


def reaches(rules: list[dict], peer_labels: dict, port: int) -> bool:
    return any(
        any(p["port"] == port for p in rule.get("ports", [{"port": port}]))
        and any(
            "podSelector" in peer
            and selects(peer["podSelector"], peer_labels)
            and "namespaceSelector" not in peer
            for peer in rule.get("to", [])
        )
        for rule in rules
    )


def test_network_policies_deny_by_default_and_open_only_what_lodge_uses(overlay):
    pods = pod_labels(overlay)
    assert set(pods) == {
        "gateway",
        *SERVICE_CLASSES,
        "clamav",
        "migrate",
        "broker-users",
        "token-warnings",
    }
    [deny] = [
        p
        for p in of_kind(overlay, "NetworkPolicy").values()
        if "ingress" not in p["spec"] and "egress" not in p["spec"]
    ]
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    rabbitmq = {"app.kubernetes.io/name": "lodge-rabbitmq"}
    postgresql = {"cnpg.io/cluster": "lodge-postgresql"}
    minio = {"v1.min.io/tenant": "lodge-minio"}
    for component, labels in pods.items():
        assert selects(deny["spec"]["podSelector"], labels), component
        egress = allowed(overlay, "egress", labels)
        assert any(
            peer.get("podSelector") == {"matchLabels": {"k8s-app": "kube-dns"}}
            for rule in egress
            for peer in rule["to"]
            if "to" in rule
        ), component
        talks_to_platform = component not in ("clamav", "broker-users")
        assert reaches(egress, rabbitmq, 5672) == talks_to_platform, component
        assert reaches(egress, postgresql, 5432) == talks_to_platform, component
        assert reaches(egress, minio, 9000) == talks_to_platform, component
        assert reaches(egress, pods["clamav"], 3310) == (component == "validation"), component
        ingress = allowed(overlay, "ingress", labels)
        if component == "gateway":
            assert ingress == [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": 8000}],
                }
            ]
        elif component == "clamav":
            assert [peer["podSelector"] for rule in ingress for peer in rule["from"]] == [
                {
                    "matchLabels": {
                        "app.kubernetes.io/name": "lodge",
                        "app.kubernetes.io/component": "validation",
                    }
                }
            ]
        else:
            assert ingress == [], component
    assert reaches(allowed(overlay, "egress", pods["broker-users"]), rabbitmq, 15672)


def test_the_gateway_probes_are_routes_the_gateway_has(lodge_env):
    from gateway.app import create_app

    rules = {rule.rule for rule in create_app().url_map.iter_rules()}
    assert {"/healthz", "/readyz"} <= rules


def test_token_owners_are_warned_daily_as_the_gateway(overlay):
    """Token expiry letters need `lodge warn-expiring-tokens` run from a timer: a CronJob runs
    that command, one at a time, with the gateway's settings and broker account only."""
    from lodge.cli import main

    [cronjob] = of_kind(overlay, "CronJob").values()
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    [container] = pod_template(cronjob)["spec"]["containers"]
    assert container["args"][0] in main.commands and container["args"] == ["warn-expiring-tokens"]
    assert {"secretRef": {"name": "lodge-secrets"}} in container["envFrom"]
    assert [e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]] == [
        "LODGE_AMQP_URI_GATEWAY"
    ]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
