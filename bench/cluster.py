"""Cluster benchmark: deposits made while a RabbitMQ node stops, and what became of them.

Starts a three-node RabbitMQ cluster of its own (tests/support/cluster.py) and a Lodge on
it (tests/support/system.py), makes N open-works deposits one after another, stops the
node every process is connected to once K are submitted (the scenario of
tests/e2e/test_broker_cluster.py), and prints how long each phase took, how many requests
were answered 503 and sent again, and how many deposits were lost, duplicated, left without
their item or letters, or dead-lettered. Always stops what it started.

    python bench/cluster.py -n 40 --stop-after 10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.e2e.test_broker_cluster import through_a_stop  # noqa: E402
from tests.support.cluster import RabbitCluster  # noqa: E402
from tests.support.system import LodgeSystem  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--deposits", type=int, default=40)
    parser.add_argument("--stop-after", type=int, default=10, help="deposits before the stop")
    args = parser.parse_args()
    if not 0 < args.stop_after <= args.deposits:
        parser.error("--stop-after must be between 1 and the number of deposits")

    began = time.monotonic()
    with RabbitCluster() as cluster:
        cluster_up = time.monotonic() - began
        with LodgeSystem("postgresql", label="bench-cluster", cluster=cluster) as system:
            lodge_up = time.monotonic() - began - cluster_up
            outcome = through_a_stop(cluster, system, args.deposits, args.stop_after)

    deposits = len(outcome.deposits)
    print(f"{deposits} deposits, node {outcome.stopped} stopped after {args.stop_after}")
    print(f"  queue leaders on it:          {outcome.leaders_on_stopped}")
    print(f"  cluster started in            {cluster_up:6.1f} s")
    print(f"  Lodge started in              {lodge_up:6.1f} s")
    for phase, seconds in outcome.seconds.items():
        print(f"  {phase + ':':<30}{seconds:6.1f} s")
    print(f"  answered 503 and sent again:  {outcome.retried}")
    print(f"  not made (client gave up):    {len(outcome.failures)}")
    print(f"  not archived:                 {len(outcome.unarchived)}")
    print(f"  made more than once:          {sum(n > 1 for n in outcome.made.values())}")
    print(f"  without exactly one item:     {sum(n != 1 for n in outcome.items.values())}")
    print(
        f"  letters missing / duplicated: {sum(n == 0 for n in outcome.letters.values())} / "
        f"{sum(n > 1 for n in outcome.letters.values())}"
    )
    print(f"  dead letters:                 {sum(outcome.dead_letters.values())}")
    print(f"  a service-to-service call:    {outcome.profile_status}")
    for failure in outcome.failures:
        print(f"  failure: {failure}")
    clean = (
        not outcome.failures
        and not outcome.unarchived
        and set(outcome.made.values()) == {1}
        and set(outcome.items.values()) == {1}
        and set(outcome.letters.values()) == {1}
        and not outcome.dead_letters
    )
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
