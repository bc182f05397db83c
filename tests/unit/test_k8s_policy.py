"""deploy/k8s policy, as kube-linter would check it (its binary cannot be fetched here): every
rule runs over every object each overlay renders and names what breaks it, and each rule is
shown to fail on a manifest made to break it.

A workload may be excused from a rule with the annotation kube-linter reads,
`ignore-check.kube-linter.io/<rule>: <why>`; the reason must be given."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import pytest

from tests.unit.test_k8s_manifests import K8S, pod_template, render, selects

IGNORE = "ignore-check.kube-linter.io/"
WORKLOADS = ("Deployment", "Job", "CronJob")
# the well-known labels the kubelet and cloud providers put on every node
TOPOLOGY_KEYS = {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}

Rule = Callable[[list[dict]], Iterator[str]]
RULES: dict[str, Rule] = {}


def rule(name: str):
    def register(check: Rule) -> Rule:
        RULES[name] = check
        return check

    return register


def excused(workload: dict, name: str) -> bool:
    reason = workload["metadata"].get("annotations", {}).get(IGNORE + name, "")
    return bool(reason.strip())


def containers(objects: list[dict], name: str, kinds=WORKLOADS, init: bool = True):
    """(where, pod spec, container) for each container of each workload not excused from `name`."""
    for workload in objects:
        if workload["kind"] not in kinds or excused(workload, name):
            continue
        pod = pod_template(workload)["spec"]
        found = pod["containers"] + (pod.get("initContainers", []) if init else [])
        for container in found:
            where = f"{workload['kind']}/{workload['metadata']['name']} {container['name']}"
            yield where, pod, container


@rule("latest-tag")
def tagged_images(objects: list[dict]) -> Iterator[str]:
    for where, _, container in containers(objects, "latest-tag"):
        image = container["image"]
        if "@sha256:" in image:
            continue
        name, _, tag = image.rpartition(":")
        if not name or "/" in tag or tag == "latest":
            yield f"{where}: image {image!r} has no fixed tag"


@rule("no-liveness-probe")
def liveness_probes(objects: list[dict]) -> Iterator[str]:
    for where, _, container in containers(
        objects, "no-liveness-probe", kinds=("Deployment",), init=False
    ):
        if "livenessProbe" not in container:
            yield f"{where}: no livenessProbe"


@rule("no-readiness-probe")
def readiness_probes(objects: list[dict]) -> Iterator[str]:
    for where, _, container in containers(
        objects, "no-readiness-probe", kinds=("Deployment",), init=False
    ):
        if "readinessProbe" not in container:
            yield f"{where}: no readinessProbe"


@rule("run-as-non-root")
def non_root(objects: list[dict]) -> Iterator[str]:
    for where, pod, container in containers(objects, "run-as-non-root"):
        pod_says = pod.get("securityContext", {}).get("runAsNonRoot")
        says = container.get("securityContext", {}).get("runAsNonRoot", pod_says)
        if says is not True:
            yield f"{where}: runAsNonRoot is not true"


@rule("no-read-only-root-fs")
def read_only_root(objects: list[dict]) -> Iterator[str]:
    for where, _, container in containers(objects, "no-read-only-root-fs"):
        if container.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
            yield f"{where}: the root file system is writable"


@rule("privilege-escalation-container")
def no_escalation(objects: list[dict]) -> Iterator[str]:
    for where, _, container in containers(objects, "privilege-escalation-container"):
        context = container.get("securityContext", {})
        if context.get("allowPrivilegeEscalation") is not False or context.get("privileged"):
            yield f"{where}: may escalate privileges"


@rule("drop-all-capabilities")
def capabilities_dropped(objects: list[dict]) -> Iterator[str]:
    for where, _, container in containers(objects, "drop-all-capabilities"):
        capabilities = container.get("securityContext", {}).get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []) or capabilities.get("add"):
            yield f"{where}: keeps Linux capabilities"


@rule("unset-resource-requirements")
def resources_set(objects: list[dict]) -> Iterator[str]:
    """CPU and memory requested, memory limited (kube-linter's defaults). No CPU limit on
    purpose: a throttled gunicorn or nameko worker answers late instead of using a core
    that is idle; memory has to be bounded, a leak must not take the node."""
    for where, _, container in containers(objects, "unset-resource-requirements"):
        resources = container.get("resources", {})
        for part, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
            if not resources.get(part, {}).get(key):
                yield f"{where}: no {part}.{key}"


def deployments(objects: list[dict], name: str) -> Iterator[tuple[dict, dict]]:
    for deployment in objects:
        if deployment["kind"] == "Deployment" and not excused(deployment, name):
            yield deployment, deployment["spec"]["template"]["metadata"]["labels"]


@rule("no-pod-disruption-budget")
def disruption_budgets(objects: list[dict]) -> Iterator[str]:
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    for deployment, labels in deployments(objects, "no-pod-disruption-budget"):
        namespace = deployment["metadata"].get("namespace")
        if not any(
            budget["metadata"].get("namespace") == namespace
            and selects(budget["spec"]["selector"], labels)
            for budget in budgets
        ):
            yield f"Deployment/{deployment['metadata']['name']}: no PodDisruptionBudget"


@rule("no-topology-spread")
def spread(objects: list[dict]) -> Iterator[str]:
    for deployment, labels in deployments(objects, "no-topology-spread"):
        constraints = deployment["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
        spread_over = {
            c["topologyKey"] for c in constraints if selects(c.get("labelSelector", {}), labels)
        }
        if missing := TOPOLOGY_KEYS - spread_over:
            yield (
                f"Deployment/{deployment['metadata']['name']}: its pods are not spread over "
                f"{', '.join(sorted(missing))}"
            )


@pytest.fixture(scope="module", params=("small", "production"))
def rendered(request) -> list[dict]:
    return render(K8S / "overlays" / request.param)


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rendered_object_keeps_the_rule(rendered, name):
    assert list(RULES[name](rendered)) == []


def test_every_excuse_gives_its_reason(rendered):
    """An excuse names a rule that exists and says why."""
    for workload in rendered:
        for key, reason in workload["metadata"].get("annotations", {}).items():
            if key.startswith(IGNORE):
                assert key.removeprefix(IGNORE) in RULES, key
                assert len(reason.strip()) > 20, (workload["metadata"]["name"], key)


# --- each rule fails on a manifest that breaks it -------------------------------------------


def gateway(objects: list[dict]) -> dict:
    [deployment] = [
        o for o in objects if (o["kind"], o["metadata"]["name"]) == ("Deployment", "lodge-gateway")
    ]
    return deployment


def gateway_pod(objects: list[dict]) -> dict:
    return gateway(objects)["spec"]["template"]["spec"]


def in_container(path: str, value=None):
    """A change to the gateway's container: set the field at `path` (dots) to `value`, or
    remove it when `value` is None."""

    def breaks(objects):
        *parents, last = path.split(".")
        node = gateway_pod(objects)["containers"][0]
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            del node[last]
        else:
            node[last] = value

    return breaks


def pod_runs_as_root(objects):
    gateway_pod(objects)["securityContext"]["runAsNonRoot"] = False


def no_budget(objects):
    objects.remove(
        next(
            o
            for o in objects
            if (o["kind"], o["metadata"]["name"]) == ("PodDisruptionBudget", "lodge-gateway")
        )
    )


def no_zone_spread(objects):
    pod = gateway_pod(objects)
    pod["topologySpreadConstraints"] = [
        c for c in pod["topologySpreadConstraints"] if "zone" not in c["topologyKey"]
    ]


def spread_counts_other_pods(objects):
    for constraint in gateway_pod(objects)["topologySpreadConstraints"]:
        constraint["labelSelector"] = {"matchLabels": {"app.kubernetes.io/component": "clamav"}}


BREAKS = [
    ("latest-tag", in_container("image", "registry.example.edu/lodge:latest")),
    ("latest-tag", in_container("image", "registry.example.edu/lodge")),
    ("latest-tag", in_container("image", "registry.example.edu:5000/lodge")),
    ("no-liveness-probe", in_container("livenessProbe")),
    ("no-readiness-probe", in_container("readinessProbe")),
    ("run-as-non-root", pod_runs_as_root),
    ("run-as-non-root", in_container("securityContext.runAsNonRoot", False)),
    ("no-read-only-root-fs", in_container("securityContext.readOnlyRootFilesystem", False)),
    ("privilege-escalation-container", in_container("securityContext.allowPrivilegeEscalation")),
    ("privilege-escalation-container", in_container("securityContext.privileged", True)),
    ("drop-all-capabilities", in_container("securityContext.capabilities.drop", ["NET_RAW"])),
    ("drop-all-capabilities", in_container("securityContext.capabilities.add", ["NET_ADMIN"])),
    ("unset-resource-requirements", in_container("resources.requests.cpu")),
    ("unset-resource-requirements", in_container("resources.requests.memory")),
    ("unset-resource-requirements", in_container("resources.limits.memory")),
    ("no-pod-disruption-budget", no_budget),
    ("no-topology-spread", no_zone_spread),
    ("no-topology-spread", spread_counts_other_pods),
]


@pytest.fixture(scope="module")
def small() -> list[dict]:
    return render(K8S / "overlays" / "small")


@pytest.mark.parametrize(
    ("name", "breaks"), BREAKS, ids=[f"{name}-{i}" for i, (name, _) in enumerate(BREAKS)]
)
def test_each_rule_names_the_object_that_breaks_it_and_only_that_rule_fails(small, name, breaks):
    objects = copy.deepcopy(small)
    breaks(objects)
    found = list(RULES[name](objects))
    assert found and {f.split()[0].rstrip(":") for f in found} == {"Deployment/lodge-gateway"}
    others = {other: list(check(objects)) for other, check in RULES.items() if other != name}
    assert not any(others.values()), others


def test_an_excuse_without_a_reason_excuses_nothing(small):
    objects = copy.deepcopy(small)
    in_container("image", "registry.example.edu/lodge")(objects)
    annotations = gateway(objects)["metadata"].setdefault("annotations", {})
    annotations[IGNORE + "latest-tag"] = " "
    assert len(list(tagged_images(objects))) == 1
    annotations[IGNORE + "latest-tag"] = "a reason long enough to be read as one"
    assert list(tagged_images(objects)) == []
