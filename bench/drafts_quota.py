"""The drafts quota's count at scale: a patron (or a campus system's account) with N
deposits, a few of them unfinished, starts a new draft among other patrons' deposits (a
share of them unfinished too), and intake counts the patron's unfinished ones under the
patron's lock. Times that count (`quotas.usage`) in process on a PostgreSQL database of its
own, with the partial index of unfinished deposits by patron and then without it (dropped,
as before the index), and prints p50/p95 and what each plan read.

    python bench/drafts_quota.py -n 100000 --unfinished 5 --others 1000000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.review_queue import copy_rows, vacuum  # noqa: E402
from bench.workload import percentile  # noqa: E402
from kernel.platform.config import get_settings  # noqa: E402
from lodge.migrations import upgrade  # noqa: E402
from services.intake import quotas  # noqa: E402
from tests.support.system import PG_ADMIN_DSN, pg_admin  # noqa: E402

PATRON = {"id": "u-campus-system", "name": "Thesis office", "email": "", "locale": "en"}
INDEX = "ix_deposits_unfinished_depositor"


OTHER_PATRONS = 20_000
OTHERS_UNFINISHED = 0.2  # of the other patrons' deposits: drafts and returned ones


def rows(count: int, unfinished: int, others: int) -> Iterator[list]:
    now = datetime.now(UTC).isoformat()
    for number in range(count + others):
        if number < count:
            patron, open_ = PATRON, number < unfinished
        else:
            patron = {**PATRON, "id": f"u-{number % OTHER_PATRONS}", "name": "Someone"}
            open_ = number % 10 < OTHERS_UNFINISHED * 10
        status = ("draft", "returned")[number % 2] if open_ else "archived"
        yield [
            uuid.uuid4().hex,
            "thesis",
            1,
            status,
            1,
            f"Deposit {number}",
            json.dumps({"title": f"Deposit {number}"}),
            patron["id"],
            json.dumps(patron),
            "open",
            now,
            now,
        ]


def timed(engine, calls: int, unfinished: int) -> tuple[list[float], str]:
    limits = get_settings().quotas
    timings = []
    with Session(engine) as session:
        for _ in range(calls):
            started = time.perf_counter()
            used = quotas.usage(session, PATRON["id"], limits)
            timings.append((time.perf_counter() - started) * 1000)
        plan = session.execute(
            text(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM deposits "
                "WHERE depositor_id = :id AND status IN ('draft', 'returned')"
            ),
            {"id": PATRON["id"]},
        ).scalar_one()
    top = plan[0]["Plan"]
    scan = top.get("Plans", [top])[0]
    buffers = top["Shared Hit Blocks"] + top.get("Shared Read Blocks", 0)
    assert used["drafts"]["used"] == unfinished, used
    return timings, f"{scan['Node Type']} on {scan.get('Index Name', '-')}, {buffers} buffers"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100_000, help="the patron's deposits")
    parser.add_argument("--unfinished", type=int, default=5)
    parser.add_argument("--others", type=int, default=1_000_000, help="other patrons' deposits")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    name = f"lodge_bench_quota_{uuid.uuid4().hex[:8]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    try:
        upgrade("intake", url)
        copy_rows(
            url,
            "deposits (id, profile_id, profile_version, status, revision, title,"
            " metadata, depositor_id, depositor, access_policy, created_at, updated_at)",
            rows(args.n, args.unfinished, args.others),
        )
        vacuum(url, "deposits")
        print(
            f"one patron, {args.n:,} deposits, {args.unfinished} unfinished, among "
            f"{args.others:,} of {OTHER_PATRONS:,} others ({OTHERS_UNFINISHED:.0%} unfinished); "
            "ms per count"
        )
        for label in ("with the index", "without it"):
            if label == "without it":
                with engine.begin() as connection:
                    connection.execute(text(f"DROP INDEX {INDEX}"))
            timings, read = timed(engine, args.calls, args.unfinished)
            p50, p95 = statistics.median(timings), percentile(timings, 95)
            print(f"  {label:<15} p50 {p50:7.2f}  p95 {p95:7.2f}   plan: {read}")
    finally:
        engine.dispose()
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
