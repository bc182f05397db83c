"""`lodge run` brings back a service or gateway that was killed, and still stops cleanly.

The tests run in order on one Lodge of their own: a service is killed, then the gateway,
then the whole Lodge is stopped as a terminal's Ctrl-C stops it."""

from __future__ import annotations

import os
import re
import signal

import pytest
import requests

from tests.e2e.test_lifecycles import make_archived_work
from tests.support.system import LodgeStartError, LodgeSystem, poll_until


@pytest.fixture(scope="module")
def supervised_lodge():
    with LodgeSystem("sqlite", label="supervised") as system:
        yield system


def replaced(system: LodgeSystem, name: str, old_pid: int) -> int:
    """The pid of `name` once `lodge run` has started a new one in place of `old_pid`."""
    return poll_until(
        lambda: (pid := system.processes().get(name)) not in (None, old_pid) and pid,
        timeout=90,
        interval=0.2,
        description=f"a new {name} process",
    )


def test_a_killed_service_is_started_again_and_deposits_still_flow(supervised_lodge):
    lodge = supervised_lodge
    assert set(lodge.processes()) >= {"intake", "validation", "approval", "letters", "inventory"}
    old = lodge.processes()["intake"]
    os.kill(old, signal.SIGKILL)
    new = replaced(lodge, "intake", old)
    assert re.search(
        rf"lodge run: intake \(pid {old}\) was killed by SIGKILL after [\d.]+ s; "
        rf"restarting it in 1 s\n.*lodge run: intake restarted \(pid {new}\)",
        lodge.log_text(),
        re.DOTALL,
    ), lodge.log_tail()
    student = lodge.client("student", timeout=60)
    make_archived_work(lodge, student, "after intake was killed")
    assert lodge.processes()["intake"] == new


def test_a_killed_gateway_comes_back_on_its_port(supervised_lodge):
    lodge = supervised_lodge
    old = lodge.processes()["gateway"]
    old_workers = lodge.gateway_workers()
    assert old_workers
    os.kill(old, signal.SIGKILL)
    new = replaced(lodge, "gateway", old)

    def answers() -> bool:
        try:
            return requests.get(f"{lodge.base_url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    poll_until(answers, timeout=90, interval=0.2, description="the gateway answering again")
    assert f"gateway (pid {old}) was killed by SIGKILL" in lodge.log_text()
    # the dead master's workers leave; only the new master's serve the port
    poll_until(
        lambda: not set(old_workers) & set(_live_pids()),
        timeout=60,
        description="the old gateway workers exiting",
    )
    assert lodge.gateway_workers() and lodge.processes()["gateway"] == new
    make_archived_work(lodge, lodge.client("student", timeout=60), "after the gateway was killed")


def test_ctrl_c_stops_every_process_cleanly(supervised_lodge):
    """SIGINT to `lodge run`'s process group, as a terminal's Ctrl-C: each child gets
    SIGTERM from `lodge run` alone and stops within the grace period; nothing is left."""
    lodge = supervised_lodge
    children = lodge.processes()
    os.killpg(lodge.process.pid, signal.SIGINT)
    poll_until(lambda: lodge.process.poll() is not None, timeout=90, description="the stop")
    log = lodge.log_text()
    assert "lodge run: stopping" in log and "ignored SIGTERM" not in log, lodge.log_tail()
    assert lodge.process.returncode == 0
    assert not set(children.values()) & set(_live_pids())
    lodge.stop()
    assert lodge.leftovers == []


def _live_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def test_a_failed_migration_stops_every_process_it_started(tmp_path):
    """`lodge run` starts the processes while `lodge migrate --seed` runs; when that fails
    (here intake's database does not exist), none of them ever served, and none is left."""
    missing = f"postgresql://postgres@127.0.0.1:5432/lodge_missing_{os.getpid()}"
    system = LodgeSystem(
        "sqlite",
        label="unmigrated",
        extra_env={"LODGE_INTAKE_DATABASE_URL": missing},
        keep_artifacts=True,  # the whole log, read below
    )
    with pytest.raises(LodgeStartError, match="exited with 1 before it was ready"):
        system.start()  # stops it too, killing and listing whatever outlived it
    log = system.artifact_path.read_text()
    assert "`lodge migrate --seed` exited with code 1" in log, log[-3000:]
    assert "service started" not in log and "Listening at" not in log, log[-3000:]
    assert system.leftovers == []
