"""The restart policy of `lodge run` (lodge/supervisor.py), and the supervisor on tiny real
processes: a crash loop is retried at capped delays, a stop ends everything."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lodge.supervisor import Backoff, Supervisor, describe_exit
from tests.support.system import poll_until

REPO_ROOT = Path(__file__).resolve().parents[2]
# the tests' eventlet warns of every fork; `lodge run` itself runs without eventlet
pytestmark = pytest.mark.filterwarnings("ignore:Using fork:DeprecationWarning")


def test_delays_start_at_one_second_double_and_stop_at_the_cap():
    backoff = Backoff()
    delays, delay = [], None
    for _ in range(8):
        delay = backoff.next_delay(delay, ran_for=0.5)
        delays.append(delay)
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_process_that_ran_steadily_starts_over_at_the_first_delay():
    backoff = Backoff(first=1, cap=30, steady=30)
    assert backoff.next_delay(16, ran_for=29.9) == 30
    assert backoff.next_delay(16, ran_for=30) == 1
    assert backoff.next_delay(None, ran_for=0) == 1


@pytest.mark.parametrize(("first", "cap"), [(0, 30), (-1, 30), (5, 1)])
def test_a_backoff_that_could_busy_loop_or_never_grow_is_refused(first, cap):
    with pytest.raises(ValueError):
        Backoff(first=first, cap=cap)


@pytest.mark.parametrize(
    ("returncode", "words"),
    [
        (0, "exited with code 0"),
        (3, "exited with code 3"),
        (-9, "was killed by SIGKILL"),
        (-15, "was killed by SIGTERM"),
        (-200, "was killed by signal 200"),
    ],
)
def test_an_exit_is_worded_for_the_log(returncode, words):
    assert describe_exit(returncode) == words


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_process_that_keeps_crashing_is_restarted_at_growing_capped_delays():
    lines: list[str] = []
    supervisor = Supervisor(
        {
            "crasher": python("import sys; sys.exit(3)"),
            "sleeper": python("import time; time.sleep(60)"),
        },
        log=lines.append,
        backoff=Backoff(first=0.05, cap=0.2, steady=60),
        grace=5,
    )
    supervisor.start()
    sleeper = supervisor.pid("sleeper")
    try:

        def restarted_five_times():
            supervisor.tick()
            return supervisor.children["crasher"].restarts >= 5

        poll_until(restarted_five_times, timeout=30, interval=0.01, description="five restarts")
    finally:
        supervisor.stop()
    delays = [
        float(match.group(1))
        for line in lines
        if (
            match := re.search(
                r"crasher \(pid \d+\) exited with code 3 after [\d.]+ s; "
                r"restarting it in ([\d.]+) s",
                line,
            )
        )
    ]
    assert delays[:5] == [0.05, 0.1, 0.2, 0.2, 0.2]
    assert sum("crasher restarted (pid " in line for line in lines) >= 5
    # the crash loop never touched its neighbour, which the stop then ended
    assert not any("sleeper" in line for line in lines)
    assert supervisor.children["sleeper"].process.pid == sleeper
    assert supervisor.children["sleeper"].process.returncode == -15


def test_a_stop_terminates_everything_and_kills_what_ignores_sigterm():
    lines: list[str] = []
    stubborn = python(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)"
    )
    supervisor = Supervisor(
        {"stubborn": stubborn, "polite": python("import time; time.sleep(60)")},
        log=lines.append,
        grace=1,
    )
    supervisor.start()
    # wait until the stubborn one has set its handler, or SIGTERM would end it anyway
    pid = supervisor.pid("stubborn")
    poll_until(lambda: _ignores_sigterm(pid), timeout=30, description="the child ignoring SIGTERM")
    supervisor.stop()
    assert supervisor.children["polite"].process.returncode == -15
    assert supervisor.children["stubborn"].process.returncode == -9
    assert lines == [f"pid {pid} ignored SIGTERM for 1 s; killing it"]
    supervisor.tick()  # a stopped supervisor restarts nothing
    assert all(child.restarts == 0 for child in supervisor.children.values())


def _ignores_sigterm(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as status:
        ignored = next(line for line in status if line.startswith("SigIgn:"))
    return bool(int(ignored.split()[1], 16) & (1 << (15 - 1)))


def test_what_a_dead_process_left_behind_is_killed_before_it_starts_again(tmp_path):
    """A gunicorn master killed outright leaves its workers; the supervisor kills its group."""
    orphan_pid = tmp_path / "orphan.pid"
    leaves_an_orphan = python(
        "import subprocess, sys\n"
        "orphan = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(orphan_pid)!r}, 'w').write(str(orphan.pid))\n"
        "sys.exit(1)"
    )
    lines: list[str] = []
    supervisor = Supervisor(
        {"parent": leaves_an_orphan},
        log=lines.append,
        backoff=Backoff(first=60, cap=60),
        grace=5,
    )
    supervisor.start()
    try:

        def died():
            supervisor.tick()
            return supervisor.children["parent"].process is None

        poll_until(died, timeout=30, description="the parent's exit")
        pid = int(orphan_pid.read_text())
        poll_until(lambda: not _alive(pid), timeout=10, description="the orphan's end")
    finally:
        supervisor.stop()
    assert lines[0].startswith("parent (pid ") and "exited with code 1" in lines[0]


def test_children_get_sigterm_when_the_supervisor_dies(tmp_path):
    """A supervisor killed outright (SIGKILL) leaves no child running."""
    child_pid = tmp_path / "child.pid"
    code = (
        "import os, sys, time\n"
        "from lodge.supervisor import Supervisor\n"
        f"sleeper = [sys.executable, '-c', 'import time; time.sleep(60)']\n"
        "supervisor = Supervisor({'sleeper': sleeper}, log=print, grace=5)\n"
        "supervisor.start()\n"
        f"open({str(child_pid)!r}, 'w').write(str(supervisor.pid('sleeper')))\n"
        "time.sleep(60)"
    )
    supervisor_process = subprocess.Popen(python(code), cwd=REPO_ROOT)
    try:
        pid = int(
            poll_until(
                lambda: child_pid.exists() and child_pid.read_text(),
                timeout=30,
                description="the child's start",
            )
        )
        assert _alive(pid)
    finally:
        supervisor_process.kill()
        supervisor_process.wait()
    poll_until(lambda: not _alive(pid), timeout=10, description="the child's end")


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
