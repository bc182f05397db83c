"""Keeps a set of processes running, as `lodge run` needs: one that dies is started again
after a delay that doubles while it keeps dying, and every process is stopped cleanly
(SIGTERM, a grace period, then SIGKILL) when the supervisor stops.

Each child runs in a process group of its own, so a terminal's Ctrl-C reaches only the
supervisor, which then stops the children one way (SIGTERM), and whatever a child leaves
behind when it dies (a killed gunicorn master's workers) is killed with its group before
it is started again. Children get SIGTERM if the supervisor itself dies (Linux's
PR_SET_PDEATHSIG), so none outlives it.

No framework: `Backoff` is the restart policy alone, `describe_exit` words an exit for the
log, and `Supervisor` drives `subprocess.Popen` children from its caller's loop (`tick`),
so the caller keeps the main thread and its signal handlers.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

# beyond LODGE_SHUTDOWN_GRACE_SECONDS, for a process to exit once its drain is done
STOP_MARGIN_SECONDS = 5.0
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # the C library the interpreter runs on


def _die_with_parent() -> None:
    """Run in the child between fork and exec: SIGTERM when the supervisor dies."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass(frozen=True)
class Backoff:
    """Restart delays: `first`, then doubling up to `cap` while a process keeps dying; a
    process that ran `steady` seconds or more before it died starts over at `first`."""

    first: float = 1.0
    cap: float = 30.0
    steady: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap:
            raise ValueError("Backoff needs 0 < first <= cap")

    def next_delay(self, previous: float | None, ran_for: float) -> float:
        """The delay before the next start, given the delay before the last one (None if it
        never had to be restarted) and how long it ran this time."""
        if previous is None or ran_for >= self.steady:
            return self.first
        return min(previous * 2, self.cap)


def describe_exit(returncode: int) -> str:
    """`exited with code 3` or `was killed by SIGKILL` (Popen's negative return codes)."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


@dataclass
class Child:
    """One supervised program and its current process (None while it waits for a restart)."""

    name: str
    argv: Sequence[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    delay: float | None = None
    restarts: int = 0


class Supervisor:
    """Starts `programs` (name → argv) and keeps them running. Call `start()`, then `tick()`
    every fraction of a second from the caller's loop, and `stop()` once, at the end."""

    def __init__(
        self,
        programs: Mapping[str, Sequence[str]],
        *,
        log: Callable[[str], None],
        backoff: Backoff | None = None,
        grace: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.children = {name: Child(name, argv) for name, argv in programs.items()}
        self.log = log
        self.backoff = backoff or Backoff()
        self.grace = grace
        self.clock = clock
        self.stopping = False

    def start(self) -> None:
        for child in self.children.values():
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(
            list(child.argv), process_group=0, preexec_fn=_die_with_parent
        )
        child.started_at = self.clock()
        child.restart_at = None

    def pid(self, name: str) -> int | None:
        process = self.children[name].process
        return process.pid if process is not None and process.poll() is None else None

    def tick(self) -> None:
        """Notice processes that died, and start those whose delay has run out."""
        if self.stopping:
            return
        now = self.clock()
        for child in self.children.values():
            if child.process is not None:
                returncode = child.process.poll()
                if returncode is None:
                    continue
                _kill_group(child.process.pid)  # what it left behind
                ran_for = now - child.started_at
                child.delay = self.backoff.next_delay(child.delay, ran_for)
                child.restart_at = now + child.delay
                self.log(
                    f"{child.name} (pid {child.process.pid}) {describe_exit(returncode)} "
                    f"after {ran_for:.1f} s; restarting it in {child.delay:g} s"
                )
                child.process = None
            elif child.restart_at is not None and now >= child.restart_at:
                self._spawn(child)
                child.restarts += 1
                assert child.process is not None
                self.log(f"{child.name} restarted (pid {child.process.pid})")

    def stop(self) -> None:
        """SIGTERM every process, SIGKILL those still there after the grace period, and
        then whatever is left in their groups."""
        self.stopping = True
        running = [
            child.process
            for child in self.children.values()
            if child.process is not None and child.process.poll() is None
        ]
        for process in running:
            process.terminate()
        deadline = self.clock() + self.grace
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                self.log(f"pid {process.pid} ignored SIGTERM for {self.grace:g} s; killing it")
            _kill_group(process.pid)
            process.wait()
