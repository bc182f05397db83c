"""A three-node RabbitMQ cluster of its own on this machine, beside the machine's broker.

Each node has its own name (`lodge-<run>-a@localhost`, …), AMQP, distribution and
management ports, data and log folders under one temporary folder, and the Erlang cookie
the three share (in a HOME of their own, where `rabbitmqctl` finds it too). The machine's
own node (rabbit@…, port 5672) is never touched: the nodes read none of its files.

    with RabbitCluster() as cluster:
        cluster.amqp_uri("vhost")   # "amqp://…@127.0.0.1:a/vhost;amqp://…@127.0.0.1:b/vhost;…"
        cluster.stop_node(cluster.nodes[0])

No pytest here: the end-to-end test and bench/cluster.py both use it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests

RABBIT_BIN = Path(os.environ.get("LODGE_TEST_RABBIT_BIN", "/usr/lib/rabbitmq/bin"))
HOST = "127.0.0.1"
USER, PASSWORD = "guest", "guest"


class ClusterError(RuntimeError):
    """The cluster did not form; the message ends with the tail of a node's log."""


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` distinct ports nothing listens on, below the kernel's ephemeral range (which
    the broker's own outgoing connections draw from)."""
    found: list[int] = []
    for port in range(20000 + secrets.randbelow(8000), 30000):
        if port_is_free(port):
            found.append(port)
            if len(found) == count:
                return found
    raise ClusterError(f"fewer than {count} free ports between 20000 and 30000")


@dataclass
class Node:
    name: str  # lodge-<run>-a@localhost
    amqp_port: int
    dist_port: int
    management_port: int
    base: Path
    process: subprocess.Popen | None = None
    running: bool = False

    @property
    def api(self) -> str:
        return f"http://{HOST}:{self.management_port}/api"

    @property
    def log_file(self) -> Path:
        return self.base / "log" / f"{self.name}.log"


class RabbitCluster:
    """Three RabbitMQ nodes joined in one cluster. See the module docstring."""

    letters = ("a", "b", "c")

    def __init__(self, start_timeout: float = 120.0):
        self.start_timeout = start_timeout
        self.run_id = uuid.uuid4().hex[:6]
        self.root = Path(tempfile.mkdtemp(prefix="lodge-cluster-"))
        self.home = self.root / "home"
        self.home.mkdir()
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        ports = free_ports(3 * len(self.letters))
        self.nodes = [
            Node(
                name=f"lodge-{self.run_id}-{letter}@localhost",
                amqp_port=ports[3 * i],
                dist_port=ports[3 * i + 1],
                management_port=ports[3 * i + 2],
                base=self.root / letter,
            )
            for i, letter in enumerate(self.letters)
        ]
        self._stopped = False

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> RabbitCluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> RabbitCluster:
        atexit.register(self.stop)
        try:
            # the first node starts alone; the others find it in their peer list and join it
            self._launch(self.nodes[0])
            self._await_startup(self.nodes[0])
            for node in self.nodes[1:]:
                self._launch(node)
            for node in self.nodes[1:]:
                self._await_startup(node)
            self.wait_for_running(len(self.nodes))
        except BaseException:
            self.stop()
            raise
        return self

    def _environment(self, node: Node) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("RABBITMQ_")}
        env.update(
            {
                "HOME": str(self.home),
                "RABBITMQ_NODENAME": node.name,
                # the machine's /etc/rabbitmq files name its own node: none of them is read
                "RABBITMQ_CONF_ENV_FILE": str(node.base / "rabbitmq-env.conf"),
                "RABBITMQ_CONFIG_FILE": str(node.base / "rabbitmq.conf"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(node.base / "advanced.config"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.base / "enabled_plugins"),
                "RABBITMQ_MNESIA_BASE": str(node.base / "mnesia"),
                "RABBITMQ_LOG_BASE": str(node.base / "log"),
                "RABBITMQ_NODE_IP_ADDRESS": HOST,
                "RABBITMQ_NODE_PORT": str(node.amqp_port),
                "RABBITMQ_DIST_PORT": str(node.dist_port),
                "ERL_EPMD_ADDRESS": HOST,
                # schedulers that sleep when idle: the machine is shared
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+sbwt none +sbwtdcpu none +sbwtdio none",
            }
        )
        return env

    def _launch(self, node: Node) -> None:
        taken = [
            p for p in (node.amqp_port, node.dist_port, node.management_port) if not port_is_free(p)
        ]
        if taken:
            raise ClusterError(f"ports {taken} for {node.name} are taken")
        for folder in ("mnesia", "log"):
            (node.base / folder).mkdir(parents=True)
        (node.base / "rabbitmq-env.conf").write_text("")
        (node.base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (node.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = {HOST}:{node.amqp_port}\n"
            f"management.tcp.ip = {HOST}\n"
            f"management.tcp.port = {node.management_port}\n"
            f"cluster_name = lodge-{self.run_id}\n"
            "cluster_formation.peer_discovery_backend = classic_config\n"
            + "".join(
                f"cluster_formation.classic_config.nodes.{i} = {peer.name}\n"
                for i, peer in enumerate(self.nodes, 1)
            )
            +
            # a loaded test machine: keep the nodes from pausing publishers
            "disk_free_limit.absolute = 50MB\n"
            "vm_memory_high_watermark.relative = 0.8\n"
        )
        log = open(node.base / "server.out", "ab")  # noqa: SIM115 - the child keeps it
        node.process = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")],
            env=self._environment(node),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def _await_startup(self, node: Node) -> None:
        """Until the node's management API answers (it starts after the broker itself)."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            if node.process is not None and node.process.poll() is not None:
                raise ClusterError(f"{node.name} exited.\n{self.log_tail(node)}")
            with contextlib.suppress(requests.RequestException):
                answer = requests.get(f"{node.api}/overview", auth=(USER, PASSWORD), timeout=5)
                if answer.status_code == 200:
                    node.running = True
                    return
            if time.monotonic() > deadline:
                raise ClusterError(f"{node.name} did not start.\n{self.log_tail(node)}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop every node and remove their folders; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        # SIGTERM stops an Erlang VM cleanly; nothing of the nodes is kept afterwards
        started = [node for node in self.nodes if node.process is not None]
        for node in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGTERM)
        for node in started:
            try:
                node.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait(timeout=10)
            node.running = False
            # the node's helpers (epmd excepted: it runs detached) share its process group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    # --- the nodes ------------------------------------------------------------------------

    def ctl(
        self, node: Node, *args: str, check: bool = True, timeout: float = 90
    ) -> subprocess.CompletedProcess:
        """`rabbitmqctl -n NODE ARGS` with the cluster's cookie."""
        result = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", node.name, *args],
            env=self._environment(node),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise ClusterError(
                f"rabbitmqctl -n {node.name} {' '.join(args)} failed: "
                f"{(result.stderr or result.stdout).strip()[-1500:]}"
            )
        return result

    def running_nodes(self) -> list[str]:
        """The running nodes as the management API of a running node sees them."""
        try:
            answer = self.management("GET", "nodes", params={"columns": "name,running"})
            answer.raise_for_status()
        except requests.RequestException:
            return []
        return sorted(node["name"] for node in answer.json() if node.get("running"))

    def wait_for_running(self, count: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            seen = self.running_nodes()
            if len(seen) == count:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"{count} nodes were not running after {timeout:.0f} s: {seen}")
            time.sleep(0.5)

    def running(self) -> list[Node]:
        return [node for node in self.nodes if node.running]

    def stop_node(self, node: Node) -> None:
        """Stop RabbitMQ on `node` (its Erlang VM stays up, as after `stop_app`), and wait
        until the others see it gone."""
        self.ctl(node, "stop_app")
        node.running = False
        self.wait_for_running(len(self.running()))

    def start_node(self, node: Node) -> None:
        self.ctl(node, "start_app")
        node.running = True
        self.wait_for_running(len(self.running()))

    def log_tail(self, node: Node, lines: int = 40) -> str:
        texts = []
        for path in (node.base / "server.out", node.log_file):
            if path.exists():
                texts += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(texts)

    # --- what clients use -------------------------------------------------------------------

    def amqp_uri(self, vhost: str, user: str = USER, password: str = PASSWORD) -> str:
        """Every node's URL for `vhost`, in kombu's failover form (`;` between them)."""
        path = quote(vhost, safe="")
        return ";".join(
            f"amqp://{user}:{password}@{HOST}:{node.amqp_port}/{path}" for node in self.nodes
        )

    @property
    def api(self) -> str:
        """The management API of a running node."""
        return self.running()[0].api

    def management(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.request(method, f"{self.api}/{path}", auth=(USER, PASSWORD), **kwargs)

    def queue_leaders(self, vhost: str) -> dict[str, str]:
        """Each queue of `vhost` → the node that holds it (its leader, for a quorum queue)."""
        response = self.management(
            "GET", f"queues/{quote(vhost, safe='')}", params={"columns": "name,node,leader"}
        )
        response.raise_for_status()
        return {q["name"]: q.get("leader") or q["node"] for q in response.json()}


class RabbitNode(RabbitCluster):
    """One RabbitMQ node of its own: a broker that nothing else on the machine loads, for a
    measurement that other users of the machine's broker would disturb."""

    letters = ("a",)
