"""Sitemap benchmark: what do /sitemap.xml and its parts cost at 1,000,000 items?

Starts a complete Lodge of its own on PostgreSQL (tests/support/system.py), seeds
inventory's items table as bench/oai.py does (COPY; two items per datestamp second, one in
a hundred withdrawn), vacuums it as autovacuum would, then times over HTTP, repeated:
- /sitemap.xml, the sitemap index (20 parts of 50,000 at 1,000,000 items);
- /sitemaps/2.xml, the first part of items, and the last part, the deepest keyset hop;
- a conditional GET of the index with its ETag (304);
and prints median and p95 of each, with the size of a part. Always stops the Lodge it
started.

    python bench/sitemaps.py                 # 1,000,000 items, 10 rounds
    python bench/sitemaps.py -n 100000 --rounds 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg2  # noqa: E402
import requests  # noqa: E402

from bench.oai import percentile, seed  # noqa: E402
from tests.support.system import LodgeSystem  # noqa: E402


def vacuum(dsn: str) -> None:
    """What autovacuum does to a table soon after a bulk load: the visibility map lets the
    sitemaps' hops read the index alone."""
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE items")
    finally:
        connection.close()


def timed(session: requests.Session, url: str, status: int, **headers) -> tuple[float, int]:
    started = time.perf_counter()
    response = session.get(url, headers=headers, timeout=300)
    elapsed = time.perf_counter() - started
    if response.status_code != status:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    return elapsed, len(response.content)


def measure(session, label: str, url: str, rounds: int, status: int = 200, **headers) -> float:
    timed(session, url, status, **headers)  # warm
    results = [timed(session, url, status, **headers) for _ in range(rounds)]
    times = [elapsed for elapsed, _ in results]
    print(
        f"  {label:<32} median {percentile(times, 50) * 1000:8.1f} ms   "
        f"p95 {percentile(times, 95) * 1000:8.1f} ms   {results[-1][1] / 1024:8.0f} KiB"
    )
    return percentile(times, 50)


def run(system: LodgeSystem, args) -> int:
    dsn = system.database_urls["inventory"]
    print(f"Seeding {args.n:,} items into inventory (PostgreSQL, COPY)...")
    seed(dsn, args.n)
    vacuum(dsn)
    session = requests.Session()
    index = session.get(f"{system.base_url}/sitemap.xml", timeout=300)
    parts = index.text.count("<sitemap>")
    print(f"/sitemap.xml is an index of {parts} sitemaps ({args.n:,} items, 1% withdrawn)")
    measure(session, "/sitemap.xml (index)", f"{system.base_url}/sitemap.xml", args.rounds)
    first = f"{system.base_url}/sitemaps/2.xml"
    measure(session, "/sitemaps/2.xml (first items)", first, args.rounds)
    measure(
        session,
        f"/sitemaps/{parts}.xml (last items)",
        f"{system.base_url}/sitemaps/{parts}.xml",
        args.rounds,
    )
    measure(
        session,
        "/sitemap.xml, If-None-Match (304)",
        f"{system.base_url}/sitemap.xml",
        args.rounds,
        status=304,
        **{"If-None-Match": index.headers["ETag"]},
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="items to seed (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=10, help="timed requests each (default 10)")
    parser.add_argument("--keep", action="store_true", help="keep the Lodge log in test-artifacts/")
    args = parser.parse_args()
    system = LodgeSystem(
        "postgresql", label="bench-sitemaps", keep_artifacts=args.keep or None, start_timeout=180
    )
    system.start()
    try:
        return run(system, args)
    finally:
        system.stop()


if __name__ == "__main__":
    sys.exit(main())
