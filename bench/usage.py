"""Usage statistics benchmark: does counting slow the landing page, even under a burst?

Starts two complete Lodges on PostgreSQL (tests/support/system.py) side by side, one with
LODGE_USAGE_COUNTING=false and one with true, publishes one item in each, and times the
item's landing page as browsers ask for it (each request another user agent, so none is a
double click of another), taking turns between the two so that what else the machine
does weighs on both alike:
- quiet: `--quiet` requests to each, one at a time, alternating;
- burst: `--burst` requests (1,000 by default) from `--threads` threads at once, to one
  Lodge and then the other, twice (off, on, on, off), each request timed;
and prints p50/p95 of each. It then waits until the counting Lodge's page shows every
view made and says how long after the last burst that was (nothing lost).
With `--own-broker` both run on a three-node RabbitMQ cluster of the benchmark's own
(tests/support/cluster.py) instead of the machine's broker, for a machine whose broker
others load. Always stops what it started.

    python bench/usage.py
    python bench/usage.py --burst 2000 --threads 32 --own-broker
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import requests  # noqa: E402

from bench.workload import percentile  # noqa: E402
from tests.e2e.test_publication import publish  # noqa: E402
from tests.support.cluster import RabbitCluster  # noqa: E402
from tests.support.system import LodgeSystem  # noqa: E402

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.{}"
CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


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


def lodge(counting: bool, cluster: RabbitCluster | None) -> LodgeSystem:
    return LodgeSystem(
        "postgresql",
        label="bench-usage",
        start_timeout=180,
        cluster=cluster,
        extra_env={"LODGE_USAGE_COUNTING": str(counting).lower()},
    )


def burst(url: str, args, tag: str) -> tuple[list[float], float]:
    started = time.monotonic()
    with ThreadPoolExecutor(args.threads) as pool:
        seconds = list(
            pool.map(lambda n: timed_get(url, BROWSER.format(f"{tag}{n}")), range(args.burst))
        )
    return seconds, time.monotonic() - started


def measure(off: LodgeSystem, on: LodgeSystem, args) -> None:
    urls = {}
    for mode, system in (("off", off), ("on", on)):
        item = publish(system, {"title": "Usage benchmark"})
        urls[mode] = f"{system.base_url}/items/{item['id']}"
        for n in range(20):  # warm the workers' RPC pools and templates
            timed_get(urls[mode], BROWSER.format(f"warm{n}"))
    quiet: dict[str, list[float]] = {"off": [], "on": []}
    for n in range(args.quiet):
        for mode in ("off", "on"):
            quiet[mode].append(timed_get(urls[mode], BROWSER.format(f"q{n}")))
    bursts: dict[str, list[float]] = {"off": [], "on": []}
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for round_, mode in enumerate(("off", "on", "on", "off")):
        seconds, took = burst(urls[mode], args, f"b{round_}-")
        bursts[mode] += seconds
        rates[mode].append(args.burst / took)
    ended = time.monotonic()
    for mode in ("off", "on"):
        label = f"counting {mode}"
        print(summary(f"{label}: quiet, one at a time", quiet[mode]))
        print(
            summary(f"{label}: bursts of {args.burst}, {args.threads} threads", bursts[mode])
            + f"   ({min(rates[mode]):.0f}-{max(rates[mode]):.0f} pages/s)"
        )
    expected = 20 + args.quiet + 2 * args.burst
    deadline = time.monotonic() + 60
    while (shown := views_shown(urls["on"])) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    print(
        f"counting on: the page shows {shown} of {expected} views "
        f"{time.monotonic() - ended:.1f} s after the last burst ended"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quiet", type=int, default=200, help="requests one at a time")
    parser.add_argument("--burst", type=int, default=1000, help="requests in the burst")
    parser.add_argument("--threads", type=int, default=16, help="threads of the burst")
    parser.add_argument(
        "--own-broker", action="store_true", help="a RabbitMQ cluster of its own, not the machine's"
    )
    args = parser.parse_args()
    with (
        RabbitCluster() if args.own_broker else contextlib.nullcontext() as cluster,
        lodge(False, cluster) as off,
        lodge(True, cluster) as on,
    ):
        measure(off, on, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
