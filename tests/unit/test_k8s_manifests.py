"""deploy/k8s: each overlay renders with kustomize (kubectl's), every object is valid against
the Kubernetes schemas, and the manifests run what Lodge is: its processes, its settings,
its probes. Operators apply these files; a typo here is an outage there."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pydantic
import pytest
import yaml

from kernel.platform.config import DATABASE_OWNERS, declared_names
from kernel.platform.messaging import dead_letter_queue, retry_queues
from lodge import topology
from lodge.registry import SERVICE_CLASSES, service_class

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUBECTL = Path(sys.executable).parent / "kubectl"
KUBERNETES_VERSION = "1.33.0"
# production with the optional KEDA component, as a site's overlay would list it
OVERLAYS = ("small", "production", "production+keda")
# Custom resources of KEDA and the Prometheus Operator are checked against models generated
# from their CRDs' schemas (cloudcoil-models-*, KEDA 2.16, Prometheus Operator 0.80).
CRD_MODELS = {
    "keda.sh/v1alpha1": "cloudcoil.models.keda.v1alpha1",
    "monitoring.coreos.com/v1": "cloudcoil.models.prometheus_operator.v1",
}
# The operators' schemas are not available offline: each of their resources is checked for
# the fields without which its operator would do nothing.
OPERATOR_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): ["replicas"],
    ("postgresql.cnpg.io/v1", "Cluster"): ["instances", "storage"],
    ("postgresql.cnpg.io/v1", "Database"): ["cluster", "name", "owner"],
    ("minio.min.io/v2", "Tenant"): ["pools"],
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


def with_component(folder: Path, overlay: str, component: str) -> Path:
    """A copy of deploy/k8s in `folder` whose `overlay` lists `component`, as the README tells
    a site to do; the overlay's folder."""
    tree = shutil.copytree(K8S, folder / "k8s")
    path = tree / "overlays" / overlay / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    kustomization["components"].append(f"../../components/{component}")
    path.write_text(yaml.safe_dump(kustomization))
    return path.parent


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request, tmp_path_factory) -> list[dict]:
    name, _, component = request.param.partition("+")
    if not component:
        return render(K8S / "overlays" / name)
    return render(with_component(tmp_path_factory.mktemp("site"), name, component))


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


def validate_custom_resource(obj: dict) -> None:
    """Valid against the model of its CRD, strictly: a field the CRD does not have is dropped
    by the model, so the object would not come back whole."""
    model = getattr(importlib.import_module(CRD_MODELS[obj["apiVersion"]]), obj["kind"])
    again = model.model_validate(obj).model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert again == obj, f"{obj['kind']}/{obj['metadata']['name']} has fields its CRD lacks"


def test_every_object_is_valid_against_its_schema(overlay):
    for obj in overlay:
        required = OPERATOR_KINDS.get((obj["apiVersion"], obj["kind"]))
        if required is not None:
            assert obj["metadata"]["name"].startswith("lodge-"), obj["metadata"]
            assert all(obj["spec"].get(field) for field in required), (obj["kind"], required)
        elif obj["apiVersion"] in CRD_MODELS:
            validate_custom_resource(obj)
        else:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    "breaks",
    [
        lambda spec: spec.update(scaleTargetRf=spec.pop("scaleTargetRef")),
        lambda spec: spec.update(minReplicaCount="one"),
        lambda spec: spec["triggers"][0].update(authRef={"name": "lodge-rabbitmq-queues"}),
        lambda spec: spec["triggers"][0]["metadata"].update(value=20),
    ],
    ids=["misspelt", "wrong-type", "unknown-field", "number-for-string"],
)
def test_a_custom_resource_its_crd_would_refuse_fails(tmp_path, breaks):
    objects = render(with_component(tmp_path, "small", "keda"))
    scaled = next(o for o in objects if o["kind"] == "ScaledObject")
    validate_custom_resource(scaled)
    breaks(scaled["spec"])
    with pytest.raises((AssertionError, pydantic.ValidationError)):
        validate_custom_resource(scaled)


def test_the_five_services_and_the_gateway_run_from_the_one_image(overlay):
    deployments = lodge_deployments(overlay)
    commands = {
        name: d["spec"]["template"]["spec"]["containers"][0]["args"]
        for name, d in deployments.items()
    }
    assert commands.pop("lodge-gateway") == ["gateway"]
    assert commands.pop("lodge-inbox") == ["inbox"]
    assert commands == {f"lodge-{name}": ["service", name] for name in SERVICE_CLASSES}
    jobs = {
        job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: job["spec"][
            "template"
        ]["spec"]["containers"][0]["args"]
        for job in of_kind(overlay, "Job").values()
    }
    assert jobs == {"migrate": ["migrate"], "broker-users": ["broker-users", "--apply"]}
    for name, deployment in deployments.items():
        [waits] = deployment["spec"]["template"]["spec"]["initContainers"]
        # the inbox works on the gateway's database
        owner = name.removeprefix("lodge-").replace("inbox", "gateway")
        assert waits["args"] == ["await-migrations", owner] and owner in DATABASE_OWNERS


def test_every_lodge_process_is_probed_bounded_locked_down_and_scaled(overlay):
    """By a HorizontalPodAutoscaler or by KEDA, never both: they would fight over replicas."""
    by_cpu = [
        hpa["spec"]["scaleTargetRef"]["name"]
        for hpa in of_kind(overlay, "HorizontalPodAutoscaler").values()
    ]
    by_queue = [
        so["spec"]["scaleTargetRef"]["name"] for so in of_kind(overlay, "ScaledObject").values()
    ]
    scaled = by_cpu + by_queue
    assert len(scaled) == len(set(scaled)), sorted(scaled)
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
        assert name in scaled, f"{name} has no HorizontalPodAutoscaler or ScaledObject"


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
        ["LODGE_AMQP_URI"]
        + [f"LODGE_AMQP_URI_{process.upper()}" for process in (*DATABASE_OWNERS, "inbox")]
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
        "inbox",
        "clamav",
        "migrate",
        "broker-users",
        "token-warnings",
        "upload-expiry",
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
        talks_to_platform = component not in ("clamav", "broker-users", "upload-expiry")
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

    cronjob = of_kind(overlay, "CronJob")["lodge-token-warnings"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    [container] = pod_template(cronjob)["spec"]["containers"]
    assert container["args"][0] in main.commands and container["args"] == ["warn-expiring-tokens"]
    assert {"secretRef": {"name": "lodge-secrets"}} in container["envFrom"]
    assert [e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]] == [
        "LODGE_AMQP_URI_GATEWAY"
    ]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_each_cronjob_runs_as_a_service_account_of_its_own_without_a_token(overlay):
    accounts = of_kind(overlay, "ServiceAccount")
    used = []
    for cronjob in of_kind(overlay, "CronJob").values():
        pod = pod_template(cronjob)["spec"]
        used.append(pod["serviceAccountName"])
        assert pod["automountServiceAccountToken"] is False
        assert accounts[pod["serviceAccountName"]]["automountServiceAccountToken"] is False
    assert len(set(used)) == len(used) and "lodge" not in used, used


def test_expired_uploads_are_swept_hourly_with_the_upload_folder_and_nothing_else(overlay):
    """`lodge expire-uploads` needs the gateway's upload folder and the settings: no Secret,
    no broker account (and no network but DNS: the NetworkPolicy test)."""
    from lodge.cli import main

    cronjob = of_kind(overlay, "CronJob")["lodge-upload-expiry"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = pod_template(cronjob)["spec"]
    [container] = pod["containers"]
    assert container["args"] == ["expire-uploads"] and "expire-uploads" in main.commands
    [settings] = container["envFrom"]  # no secretRef
    assert list(settings) == ["configMapRef"]
    assert settings["configMapRef"]["name"].startswith("lodge-config")
    assert all("valueFrom" not in e for e in container["env"])

    def upload_folder(pod: dict) -> tuple[str, dict, int]:
        [container] = pod["containers"]
        folder = {e["name"]: e.get("value") for e in container["env"]}["LODGE_UPLOAD_DIR"]
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == folder]
        [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        return folder, volume["persistentVolumeClaim"], pod["securityContext"]["fsGroup"]

    gateway = lodge_deployments(overlay)["lodge-gateway"]["spec"]["template"]["spec"]
    assert upload_folder(pod) == upload_folder(gateway)


def job_names(objects: list[dict]) -> dict[str, str]:
    return {
        job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: name
        for name, job in of_kind(objects, "Job").items()
    }


def test_a_job_gets_a_new_name_for_a_new_image_or_new_settings(tmp_path):
    """A Job's template cannot change, so `kubectl apply -k` of a new image or new settings
    must make a new Job: its name ends in the hash of what it runs. The same again keeps it."""
    tree = shutil.copytree(K8S, tmp_path / "k8s")
    small = tree / "overlays" / "small"
    first = render(small)
    names = job_names(first)
    assert set(names) == {"migrate", "broker-users"}
    for component, name in names.items():
        job = of_kind(first, "Job")[name]
        inputs = of_kind(first, "ConfigMap")[name]  # the ConfigMap whose hash it carries
        assert re.fullmatch(rf"lodge-{component}-[a-z0-9]{{10}}", name)
        assert inputs["data"]["image"] == job["spec"]["template"]["spec"]["containers"][0]["image"]
    assert job_names(render(small)) == names

    kustomization = small / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace('newTag: "0.1.0"', 'newTag: "0.2.0"')
    )
    new_image = job_names(render(small))
    assert all(new_image[c] != names[c] for c in names), (names, new_image)

    config = tree / "base" / "config.env"
    config.write_text(config.read_text().replace("LODGE_LOG_LEVEL=INFO", "LODGE_LOG_LEVEL=DEBUG"))
    new_settings = job_names(render(small))
    assert all(new_settings[c] not in (names[c], new_image[c]) for c in names)


SOME_UUID = "0b0e0f0a-0000-4000-8000-000000000000"


def lodge_queues() -> set[str]:
    """Every queue Lodge's processes consume or keep (reply queues with a made-up id)."""
    queues = {f"rpc.reply-standalone_rpc_client-{SOME_UUID}"}  # the gateway's
    for name in SERVICE_CLASSES:
        queues |= {dead_letter_queue(name).name, f"rpc-{name}", f"rpc.reply-{name}-{SOME_UUID}"}
        for queue in topology.event_queues(service_class(name)):
            queues |= {queue.name} | {retry.name for retry in retry_queues(queue.name)}
    return queues


def test_keda_scales_each_service_on_its_rpc_and_event_queues_only(tmp_path):
    """The ScaledObject's pattern picks out, of every queue Lodge has, exactly the service's
    RPC queue and its event queues (not their retry queues, not another's)."""
    objects = render(with_component(tmp_path, "small", "keda"))
    scaled = of_kind(objects, "ScaledObject")
    assert set(scaled) == {f"lodge-{name}" for name in SERVICE_CLASSES}
    assert of_kind(objects, "HorizontalPodAutoscaler").keys() == {"lodge-gateway", "lodge-inbox"}
    authentication = of_kind(objects, "TriggerAuthentication")
    everything = lodge_queues()
    for name in SERVICE_CLASSES:
        cls = service_class(name)
        scaled_object = scaled[f"lodge-{name}"]
        assert scaled_object["spec"]["scaleTargetRef"] == {"name": f"lodge-{name}"}
        [trigger] = scaled_object["spec"]["triggers"]
        assert (
            trigger["type"] == "rabbitmq" and trigger["authenticationRef"]["name"] in authentication
        )
        settings = trigger["metadata"]
        assert settings["useRegex"] == "true" and settings["operation"] == "sum"
        assert settings["protocol"] == "http" and settings["mode"] == "QueueLength"
        picked = {queue for queue in everything if re.search(settings["queueName"], queue)}
        expected = {queue.name for queue in topology.event_queues(cls)}
        if topology.serves_rpc(cls):
            expected.add(f"rpc-{name}")
        assert picked == expected, name


@pytest.mark.parametrize(("name", "bounds"), [("small", (1, 2)), ("production", (2, 12))])
def test_the_overlays_bound_the_services_replicas_whichever_scales_them(tmp_path, name, bounds):
    by_cpu = of_kind(render(K8S / "overlays" / name), "HorizontalPodAutoscaler")
    by_queue = of_kind(render(with_component(tmp_path, name, "keda")), "ScaledObject")
    for service in SERVICE_CLASSES:
        hpa, scaled = by_cpu[f"lodge-{service}"]["spec"], by_queue[f"lodge-{service}"]["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == bounds
        assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == bounds


def test_the_example_keda_secret_names_what_the_trigger_authentication_reads():
    path = K8S / "components" / "keda" / "triggerauthentication.yaml"
    authentication = yaml.safe_load(path.read_text())
    keys = {ref["key"] for ref in authentication["spec"]["secretTargetRef"]}
    secrets = {ref["name"] for ref in authentication["spec"]["secretTargetRef"]}
    assert secrets == {"lodge-keda"}
    assert set(env_file_names(K8S / "lodge-keda.example.env")) == keys == {"host"}
