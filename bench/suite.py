"""How long the test suite takes, and where: runs pytest (the whole suite, or the paths
given) with every test's setup, call and teardown timed, and prints the wall time against
the target beside the seconds per file (setup, call, teardown), slowest first. Other
arguments go to pytest.

    .venv/bin/python bench/suite.py                       # the whole suite, as CI runs it
    .venv/bin/python bench/suite.py tests/e2e/test_quotas.py tests/e2e/test_crawlers.py
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 20 * 60  # `make test` on the two-core machine, idle
AIM_SECONDS = 15 * 60  # pytest alone, leaving room for the install and the linters
OUTPUT = REPO_ROOT / "test-artifacts" / "suite-output.txt"  # kept when a test failed
DURATION = re.compile(r"^([\d.]+)s (setup|call|teardown)\s+(\S+?)::")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=["tests"])
    parser.add_argument("--top", type=int, default=40, help="files to list (default 40)")
    args, extra = parser.parse_known_args()
    command = [sys.executable, "-m", "pytest", "--durations=0", "-q", *args.paths, *extra]
    started = time.monotonic()
    run = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    per_file: dict[str, dict[str, float]] = collections.defaultdict(
        lambda: collections.defaultdict(float)
    )
    for line in run.stdout.splitlines():
        match = DURATION.match(line.strip())
        if match:
            seconds, phase, path = match.groups()
            per_file[path][phase] += float(seconds)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "(no output)"
    print(f"pytest {' '.join(args.paths)}: {summary}")
    print(
        f"wall time {wall:.0f} s; target for the whole suite < {TARGET_SECONDS} s with the "
        f"install and linters, aim {AIM_SECONDS} s of pytest"
    )
    print(f"\n{'seconds':>8} {'setup':>7} {'call':>7} {'teardown':>8}  file")
    ranked = sorted(per_file.items(), key=lambda item: -sum(item[1].values()))
    for path, phases in ranked[: args.top]:
        print(
            f"{sum(phases.values()):8.1f} {phases['setup']:7.1f} {phases['call']:7.1f} "
            f"{phases['teardown']:8.1f}  {path}"
        )
    timed = sum(sum(phases.values()) for phases in per_file.values())
    print(f"{timed:8.1f} in all files' tests; the rest of the wall time is collection and start")
    failed = [line for line in run.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    if failed:
        OUTPUT.parent.mkdir(exist_ok=True)
        OUTPUT.write_text(run.stdout + run.stderr)
        print("\n" + "\n".join(failed) + f"\n(pytest's whole output: {OUTPUT})")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
