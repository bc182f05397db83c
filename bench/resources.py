"""What each Lodge process uses, for the Kubernetes requests and limits (deploy/k8s/README.md).

Starts a complete Lodge of its own (tests/support/system.py, PostgreSQL), samples every
process of `lodge run` from /proc twice a second, idle for a while and then through the
pipeline benchmark's deposits (bench/pipeline.py), and prints per process: resident memory
idle and at its peak (a gateway's master and workers, or validation and its reader
processes, summed; and the largest single process), and CPU used while the deposits went
through (seconds, and cores on average over that window). Then the peak memory of each
one-shot command a Job or CronJob runs, against the same Lodge.

    python bench/resources.py -n 200 --rate 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.system import LodgeSystem  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 0.5


def process_name(pid: int) -> str | None:
    """`gateway`, `inbox` or a service's name for a process of `lodge run` (forked children
    keep their parent's command line), else None."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [a.decode() for a in args if a]
    if "lodge" not in words:
        return None
    rest = words[words.index("lodge") + 1 :]
    if rest[:1] in (["gateway"], ["inbox"]):
        return rest[0]
    if rest[:1] == ["service"] and len(rest) > 1:
        return rest[1]
    return None


def processes_below(root: int) -> dict[int, str]:
    """The processes below `root` (other Lodges on the machine are not ours to count), each
    named by itself or by its nearest named ancestor: validation's reader processes
    (`python -m services.validation.technical`) and their children count as validation."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    named: dict[int, str] = {}
    todo: list[tuple[int, str | None]] = [(root, None)]
    while todo:
        pid, inherited = todo.pop()
        for child in children.get(pid, []):
            name = process_name(child) or inherited
            if name is not None:
                named[child] = name
            todo.append((child, name))
    return named


def usage(pid: int) -> tuple[int, float] | None:
    """Resident bytes and CPU seconds (user + system) of one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return pages * PAGE, (int(fields[11]) + int(fields[12])) / TICKS


class Sampler(threading.Thread):
    """Per process name: the latest summed RSS, the peak, and the CPU seconds of every
    process seen (a process that ended keeps what it used)."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root = root
        self.rss: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.largest: dict[str, int] = {}  # the most one process of that name held
        self.cpu_by_pid: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self.sample()

    def sample(self) -> None:
        rss: dict[str, int] = {}
        for pid, name in processes_below(self.root).items():
            if (used := usage(pid)) is None:
                continue
            rss[name] = rss.get(name, 0) + used[0]
            self.largest[name] = max(self.largest.get(name, 0), used[0])
            self.cpu_by_pid[pid] = (name, used[1])
        self.rss = rss
        for name, value in rss.items():
            self.peak[name] = max(self.peak.get(name, 0), value)

    def cpu(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for name, seconds in self.cpu_by_pid.values():
            totals[name] = totals.get(name, 0.0) + seconds
        return totals

    def stop(self) -> None:
        self._stop.set()


def command_peak(system: LodgeSystem, *args: str) -> str:
    """Peak resident memory of `lodge ARGS` run to its end, or why it failed."""
    process = subprocess.Popen(
        [system.python, "-m", "lodge", *args],
        cwd=REPO_ROOT,
        env=system.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    errors = process.stderr.read().decode(errors="replace")
    _, status, rusage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        return f"failed ({process.returncode}): {errors.strip().splitlines()[-1:]}"
    return f"{rusage.ru_maxrss / 1024:>6.0f}Mi"


def report(
    sampler: Sampler,
    idle: dict[str, int],
    cpu_before: dict[str, float],
    cpu_after: dict[str, float],
    window: float,
    args: argparse.Namespace,
) -> None:
    mib = 1024 * 1024
    print(f"\nresources per process, {args.n} deposits at {args.rate:g}/s over {window:.0f} s:")
    print(f"{'process':<12} {'idle':>8} {'peak':>8} {'largest':>8} {'CPU s':>7} {'cores':>6}")
    for name in sorted(cpu_after):
        used = cpu_after[name] - cpu_before.get(name, 0.0)
        memory = [idle.get(name, 0), sampler.peak.get(name, 0), sampler.largest.get(name, 0)]
        print(
            f"{name:<12} " + " ".join(f"{value / mib:>6.0f}Mi" for value in memory),
            f"{used:>7.1f} {used / window:>6.2f}",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="deposits (default 200)")
    parser.add_argument("--rate", type=float, default=5.0, help="submits per second (default 5)")
    parser.add_argument("--idle", type=float, default=20.0, help="idle seconds sampled first")
    args = parser.parse_args()
    # here, not at the top: the pipeline bench imports this module's sampler
    from bench.pipeline import run_deposits

    system = LodgeSystem("postgresql", label="resources")
    try:
        system.start()
        assert system.process is not None
        sampler = Sampler(system.process.pid)
        sampler.start()
        try:
            time.sleep(args.idle)  # what the processes use when nothing happens
            idle = dict(sampler.rss)
            sampler.peak.clear()
            cpu_before, loaded_at = sampler.cpu(), time.monotonic()
            run_deposits(system, args.n, rate=args.rate)
            sampler.sample()
            window = time.monotonic() - loaded_at
            cpu_after = sampler.cpu()
            report(sampler, idle, cpu_before, cpu_after, window, args)
        finally:
            sampler.stop()
        print("\npeak memory of the one-shot commands:")
        for command in (
            ("migrate",),
            ("await-migrations",),
            ("broker-users",),
            ("expire-uploads",),
            ("warn-expiring-tokens",),
        ):
            print(f"lodge {' '.join(command):<22} {command_peak(system, *command)}", flush=True)
    finally:
        system.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
