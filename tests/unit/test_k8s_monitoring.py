"""deploy/k8s/components/monitoring: an overlay with it renders and stays valid; the
PodMonitor reaches the ports the processes serve their metrics on; and the alert rules and
the dashboard are PromQL that parses, naming only metrics kernel/platform/metrics.py defines
(and the dashboard shows every one of them), so the three cannot drift apart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate
import promql_parser
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from kernel.platform import metrics
from tests.unit.test_k8s_manifests import (
    CRD_MODELS,
    K8S,
    KUBERNETES_VERSION,
    OPERATOR_KINDS,
    env_file_names,
    of_kind,
    pod_labels,
    render,
    selects,
    validate_custom_resource,
    with_component,
)

COMPONENT = K8S / "components" / "monitoring"
MONITORING_KINDS = {
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
PROCESSES = ("gateway", "intake", "validation", "approval", "letters", "inventory", "inbox")
# what Prometheus itself records about each scrape
PROMETHEUS_OWN = {"up"}
# labels Prometheus gives every target of the PodMonitor
TARGET_LABELS = {"job", "instance", "pod", "namespace", "container", "endpoint"}
# Grafana's own variables, as a query would see them
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1d"}


@pytest.fixture(scope="module")
def monitored(tmp_path_factory) -> list[dict]:
    """The production overlay with the monitoring component, as the README says to add it."""
    return render(with_component(tmp_path_factory.mktemp("site"), "production", "monitoring"))


def defined_samples() -> dict[str, set[str]]:
    """Each metric kernel/platform/metrics.py defines, by its name: the sample names
    Prometheus stores for it."""
    found: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        [family] = value.describe()
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
            "gauge": [""],
        }[family.type]
        found[family.name] = {family.name + suffix for suffix in suffixes}
    return found


def selectors(expression: str) -> list[str]:
    """The metric names a PromQL expression reads, parsed as Prometheus parses it."""
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    names: list[str] = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            names.append(node.name)

    promql_parser.walk(promql_parser.parse(expression), visit)
    return names


def rules() -> list[dict]:
    document = yaml.safe_load((COMPONENT / "rules.yaml").read_text())
    return [rule for group in document["spec"]["groups"] for rule in group["rules"]]


def dashboard() -> dict:
    return json.loads((COMPONENT / "dashboard.json").read_text())


def dashboard_queries() -> list[str]:
    return [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]


def test_an_overlay_with_the_component_renders_valid_objects(monitored):
    kinds = {(o["apiVersion"], o["kind"]) for o in monitored}
    assert kinds >= MONITORING_KINDS
    for obj in monitored:
        key = (obj["apiVersion"], obj["kind"])
        if key in OPERATOR_KINDS:
            continue  # as in the overlays' own test
        if obj["apiVersion"] in CRD_MODELS:  # the PodMonitor and the PrometheusRule, strictly
            validate_custom_resource(obj)
            assert obj["metadata"]["namespace"] == "lodge"
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    [board] = [c for c in of_kind(monitored, "ConfigMap").values() if "lodge.json" in c["data"]]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(board["data"]["lodge.json"]) == dashboard()


def test_the_pod_monitor_scrapes_each_process_where_it_serves_its_metrics(monitored):
    [monitor] = of_kind(monitored, "PodMonitor").values()
    pods = pod_labels(monitored)
    scraped = {
        name for name, labels in pods.items() if selects(monitor["spec"]["selector"], labels)
    }
    assert scraped == set(PROCESSES)
    secret_keys = env_file_names(K8S / "lodge-secrets.example.env")
    ports_used = set()
    for deployment in of_kind(monitored, "Deployment").values():
        template = deployment["spec"]["template"]
        if template["metadata"]["labels"].get("app.kubernetes.io/component") not in PROCESSES:
            continue
        [container] = template["spec"]["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        [endpoint] = [e for e in monitor["spec"]["podMetricsEndpoints"] if e["port"] in ports]
        ports_used.add(endpoint["port"])
        assert endpoint["path"] == "/metrics"
        credentials = endpoint["authorization"]["credentials"]
        assert endpoint["authorization"]["type"] == "Bearer"
        assert credentials["name"] == "lodge-secrets"
        assert credentials["key"] == "LODGE_METRICS_TOKEN" and credentials["key"] in secret_keys
        [relabel] = endpoint["relabelings"]
        assert relabel["targetLabel"] == "job" and relabel["replacement"] == "lodge-$1"
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        if endpoint["port"] == "metrics":  # a service: LODGE_METRICS_BIND is that port
            assert env["LODGE_METRICS_BIND"] == f"0.0.0.0:{ports['metrics']}"
        else:
            assert env["LODGE_GATEWAY_BIND"] == f"0.0.0.0:{ports['http']}"
    assert ports_used == {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}


def test_prometheus_reaches_the_metrics_ports_and_nothing_else(monitored):
    [policy] = [
        p
        for name, p in of_kind(monitored, "NetworkPolicy").items()
        if name == "lodge-metrics-from-prometheus"
    ]
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    pods = pod_labels(monitored)
    opened = {
        name for name, labels in pods.items() if selects(policy["spec"]["podSelector"], labels)
    }
    assert opened == set(PROCESSES)
    served = set()
    for deployment in of_kind(monitored, "Deployment").values():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        served.update(
            port["containerPort"]
            for port in container.get("ports", [])
            if port["name"] in ("metrics", "http")
        )
    assert {port["port"] for port in rule["ports"]} == served


def test_the_rules_and_the_dashboard_are_promql_that_parses():
    for rule in rules():
        assert selectors(rule["expr"]), rule["alert"]
        if "for" in rule:
            promql_parser.parse_duration(rule["for"])
    for query in dashboard_queries():
        assert selectors(query), query
    with pytest.raises(ValueError):  # the parser does refuse what Prometheus refuses
        selectors("sum by (service (rate(lodge_rpc_seconds_count[5m]))")


def test_the_rules_and_the_dashboard_name_only_metrics_lodge_defines():
    known = set().union(*defined_samples().values()) | PROMETHEUS_OWN
    for expression in [rule["expr"] for rule in rules()] + dashboard_queries():
        unknown = set(selectors(expression)) - known
        assert not unknown, f"{expression} names metrics Lodge does not define: {unknown}"


def test_the_dashboard_shows_every_metric_lodge_defines():
    shown = {name for query in dashboard_queries() for name in selectors(query)}
    for name, samples in defined_samples().items():
        assert samples & shown, f"no panel shows {name}"


def test_each_alert_is_labelled_and_explains_itself_in_labels_its_query_keeps():
    found = rules()
    names = [rule["alert"] for rule in found]
    assert len(names) == len(set(names))
    for rule in found:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        used = set(re.findall(r"\$labels\.(\w+)", " ".join(rule["annotations"].values())))
        grouped = set(re.findall(r"by \(([^)]*)\)", rule["expr"]))
        kept = {label.strip() for group in grouped for label in group.split(",")}
        if not grouped:  # not aggregated: the series keep their own labels
            kept = TARGET_LABELS | set(re.findall(r"(\w+)=", rule["expr"]))
        assert used <= kept, f"{rule['alert']} shows labels its query drops: {used - kept}"


def test_the_alerts_the_operators_rely_on_are_there():
    exprs = {rule["alert"]: rule for rule in rules()}
    read = {name: set(selectors(rule["expr"])) for name, rule in exprs.items()}
    assert "lodge_dead_letters_total" in read["LodgeDeadLetters"]
    assert "lodge_dead_letters_parked" in read["LodgeDeadLettersParked"]
    outbox = exprs["LodgeOutboxNotDraining"]
    assert read["LodgeOutboxNotDraining"] == {"lodge_outbox_oldest_seconds"}
    assert outbox["expr"].endswith("> 300") and outbox["for"] == "5m"
    assert read["LodgeProcessDown"] == read["LodgeProcessMissing"] == {"up"}
    for process in PROCESSES:
        assert f'up{{job="lodge-{process}"}}' in exprs["LodgeProcessMissing"]["expr"]
    assert read["LodgeGatewayErrors"] == {"lodge_http_requests_total"}


def test_the_component_is_documented_where_operators_look():
    readme = (K8S / "README.md").read_text()
    assert "components/monitoring" in readme
    assert Path(COMPONENT / "kustomization.yaml").read_text().startswith("# Optional")


def test_the_dashboard_panels_lie_on_grafanas_grid_without_overlapping():
    board = dashboard()
    assert board["uid"] == "lodge"
    [variable] = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    taken: set[tuple[int, int]] = set()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        place = panel["gridPos"]
        assert place["x"] >= 0 and place["x"] + place["w"] <= 24, panel["title"]
        cells = {
            (place["x"] + dx, place["y"] + dy)
            for dx in range(place["w"])
            for dy in range(place["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
