"""Two `lodge gateway`s on one port with LODGE_GATEWAY_REUSE_PORT, as bench/scaleout.py runs
them: both listen and the port answers; without the setting the second cannot bind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests

from tests.support.system import free_port, lone_gateway, poll_until


def listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:`port` (/proc/net/tcp: state 0A is LISTEN)."""
    local = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1] == local and row.split()[3] == "0A")


@pytest.fixture
def gateways(tmp_path):
    port = free_port()
    started: list[subprocess.Popen] = []

    def start(reuse_port: bool) -> subprocess.Popen:
        settings = {"LODGE_GATEWAY_REUSE_PORT": "true"} if reuse_port else {}
        process = lone_gateway(tmp_path, port, stderr=subprocess.PIPE, **settings)
        started.append(process)
        return process

    yield port, start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_two_gateways_share_a_port_with_reuse_port(gateways):
    port, start = gateways
    first, second = start(True), start(True)

    poll_until(lambda: listeners(port) == 2, timeout=60, description="two listeners")
    poll_until(lambda: answers(port), timeout=60, description="the port answering")
    assert first.poll() is None and second.poll() is None


def test_without_reuse_port_the_second_gateway_cannot_bind(gateways):
    port, start = gateways
    first = start(False)
    poll_until(lambda: answers(port), timeout=60, description="the first answering")

    second = start(False)

    assert second.wait(timeout=60) != 0
    assert second.stderr is not None
    assert "Address already in use" in second.stderr.read().decode(errors="replace")
    assert first.poll() is None
