"""Usage statistics benchmark: does counting slow the landing page, even under a burst?

Starts a complete Lodge of its own on PostgreSQL (tests/support/system.py) twice, with
LODGE_USAGE_COUNTING=false and then true, publishes one item in each, and times the
item's landing page as browsers ask for it (each request another user agent, so none is a
double click of another):
- quiet: `--quiet` requests one after another;
- burst: `--burst` requests (1,000 by default) from `--threads` threads at once, each timed;
and prints p50/p95 of each. With counting on it then waits until the landing page shows
every view the burst made and says how long after the burst that was (nothing lost).
With `--own-broker` both run on a three-node RabbitMQ cluster of the benchmark's own
(tests/support/cluster.py) instead of the machine's broker, for a machine whose broker
others load. Always stops what it started.

    python bench/usage.py
    python bench/usage.py --burst 2000 --threads 32 --own-broker
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import requests  # noqa: E402

from tests.e2e.test_publication import publish  # noqa: E402
from tests.support.cluster import RabbitCluster  # noqa: E402
from tests.support.system import LodgeSystem  # noqa: E402

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.{}"
CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def timed_get(url: str, agent: str) -> float:
    started = time.perf_counter()
    response = requests.get(url, headers={"User-Agent": agent}, timeout=60)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code}")
    return elapsed


def views_shown(url: str) -> int:
    """The views on the page, asked as a crawler (which counts nothing)."""
    page = requests.get(url, headers={"User-Agent": CRAWLER}, timeout=60).text
    found = re.search(r'data-usage="views">(\d+)<', page)
    return int(found.group(1)) if found else -1


def summary(label: str, seconds: list[float]) -> str:
    return (
        f"{label:<34} n={len(seconds):<5} p50 {percentile(seconds, 50) * 1000:6.1f} ms"
        f"   p95 {percentile(seconds, 95) * 1000:6.1f} ms"
    )


def measure(counting: bool, args, cluster: RabbitCluster | None) -> None:
    system = LodgeSystem(
        "postgresql",
        label="bench-usage",
        start_timeout=180,
        cluster=cluster,
        extra_env={"LODGE_USAGE_COUNTING": str(counting).lower()},
    )
    system.start()
    try:
        item = publish(system, {"title": "Usage benchmark"})
        url = f"{system.base_url}/items/{item['id']}"
        for n in range(20):  # warm the workers' RPC pools and templates
            timed_get(url, BROWSER.format(f"warm{n}"))
        quiet = [timed_get(url, BROWSER.format(f"q{n}")) for n in range(args.quiet)]
        started = time.monotonic()
        with ThreadPoolExecutor(args.threads) as pool:
            burst = list(
                pool.map(lambda n: timed_get(url, BROWSER.format(f"b{n}")), range(args.burst))
            )
        burst_seconds = time.monotonic() - started
        mode = "counting on " if counting else "counting off"
        print(summary(f"{mode}: quiet, one at a time", quiet))
        print(
            summary(f"{mode}: burst, {args.threads} threads", burst)
            + f"   ({args.burst / burst_seconds:.0f} pages/s)"
        )
        if counting:
            expected = 20 + args.quiet + args.burst
            deadline = time.monotonic() + 60
            while (shown := views_shown(url)) < expected and time.monotonic() < deadline:
                time.sleep(0.2)
            after = time.monotonic() - started - burst_seconds
            print(
                f"{mode}: the page shows {shown} of {expected} views "
                f"{after:.1f} s after the burst ended"
            )
    finally:
        system.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quiet", type=int, default=200, help="requests one at a time")
    parser.add_argument("--burst", type=int, default=1000, help="requests in the burst")
    parser.add_argument("--threads", type=int, default=16, help="threads of the burst")
    parser.add_argument(
        "--own-broker", action="store_true", help="a RabbitMQ cluster of its own, not the machine's"
    )
    args = parser.parse_args()
    with RabbitCluster() if args.own_broker else contextlib.nullcontext() as cluster:
        for counting in (False, True):
            measure(counting, args, cluster)
    return 0


if __name__ == "__main__":
    sys.exit(main())
