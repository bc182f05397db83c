"""Dashboard and staff-list benchmark: intake's queries with 100,000 deposits on PostgreSQL.

Creates a fresh PostgreSQL database, migrates it as intake's, and seeds N deposits (default
100,000) with their history in SQL: spread over two years, three profiles, every status,
decisions between 2 hours and 10 days after submission (open-works ones automatic).
Then times, many times each, what the staff pages ask intake for:

- `deposit_statistics` (counts by status, submissions and decisions per week, median time
  to decision per profile) for 12 and 52 weeks;
- `search_deposits` (the list of every deposit): first page, a status filter, words in the
  title, and a depositor.

Prints p50 and p95 per query in milliseconds and drops the database at the end.

    python bench/dashboard.py -n 100000 --repeat 30
"""

from __future__ import annotations

import argparse
import statistics as stats
import sys
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import text  # noqa: E402

from kernel.contracts.actors import Actor  # noqa: E402
from kernel.platform.db import Database  # noqa: E402
from lodge.migrations import upgrade  # noqa: E402
from services.intake import deposits, statistics  # noqa: E402
from tests.support.system import PG_ADMIN_DSN, pg_admin  # noqa: E402

STAFF = Actor(id="bench-staff", name="Bench", roles=("approver",))

SEED = """
INSERT INTO deposits (id, profile_id, profile_version, status, revision, title, metadata,
                      depositor_id, depositor, access_policy, created_at, updated_at)
SELECT md5(i::text), (ARRAY['thesis', 'open-works', 'report'])[i % 3 + 1], 1,
       CASE WHEN i % 20 = 0 THEN 'draft' WHEN i % 20 = 1 THEN 'submitted'
            WHEN i % 20 IN (2, 3) THEN 'in_review' WHEN i % 20 = 4 THEN 'returned'
            WHEN i % 20 = 5 THEN 'declined' WHEN i % 20 = 6 THEN 'withdrawn'
            ELSE 'archived' END,
       1, 'Deposit ' || i || ' on ' || (ARRAY['moss', 'tides', 'peat', 'heather'])[i % 4 + 1],
       '{}', 'user-' || (i % 5000),
       json_build_object('id', 'user-' || (i % 5000), 'name', 'Person ' || (i % 5000),
                         'email', 'p' || (i % 5000) || '@example.edu', 'locale', 'en'),
       'open', t, t + interval '1 day'
FROM (SELECT i, now() - (i % 728) * interval '1 day' - (i % 24) * interval '1 hour' AS t
      FROM generate_series(1, :n) AS i) AS numbered;

INSERT INTO deposit_history (deposit_id, revision, from_status, to_status, actor, at)
SELECT id, 1, NULL, 'draft', '{"id": "bench"}', created_at FROM deposits;
INSERT INTO deposit_history (deposit_id, revision, from_status, to_status, actor, at)
SELECT id, 1, 'draft', 'submitted', '{"id": "bench"}', created_at + interval '1 hour'
FROM deposits WHERE status <> 'draft';
INSERT INTO deposit_history (deposit_id, revision, from_status, to_status, actor, at)
SELECT id, 1, 'submitted', 'in_review', '{"id": "system"}', created_at + interval '61 minutes'
FROM deposits WHERE status IN ('in_review', 'returned', 'declined', 'archived');
INSERT INTO deposit_history (deposit_id, revision, from_status, to_status, actor, reason_code, at)
SELECT id, 1, 'in_review', CASE status WHEN 'archived' THEN 'approved' ELSE status END,
       '{"id": "approver"}', CASE WHEN profile_id = 'open-works' THEN 'automatic' END,
       created_at + (2 + abs(hashtext(id)) % 240) * interval '1 hour'
FROM deposits WHERE status IN ('returned', 'declined', 'archived');
INSERT INTO deposit_history (deposit_id, revision, from_status, to_status, actor, at)
SELECT id, 1, 'approved', 'archived', '{"id": "system"}', updated_at
FROM deposits WHERE status = 'archived';
"""


def timed(call, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return stats.median(samples), samples[max(0, round(0.95 * len(samples)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="deposits to seed")
    parser.add_argument("--repeat", type=int, default=30, help="runs of each query")
    args = parser.parse_args()

    name = f"lodge_bench_dashboard_{uuid.uuid4().hex[:8]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade("intake", url)
        database = Database(url, "intake")
        started = time.perf_counter()
        with database.engine.begin() as connection:
            for statement in filter(str.strip, SEED.split(";")):
                connection.execute(text(statement), {"n": args.n})
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))  # as autovacuum leaves a settled table
        with database.reading() as session:
            history = session.scalar(text("SELECT count(*) FROM deposit_history"))
        print(
            f"seeded {args.n:,} deposits and {history:,} history rows "
            f"in {time.perf_counter() - started:.1f} s"
        )

        def search(**criteria):
            arguments = {
                "status": None,
                "profile_id": None,
                "title": None,
                "depositor_ids": [],
                "depositor_id": None,
                "page": 1,
                "per_page": 25,
                **criteria,
            }
            return lambda: _in_session(
                database, lambda s: deposits.search_deposits(s, STAFF, **arguments)
            )

        queries = {
            "statistics, 12 weeks": lambda: _in_session(
                database, lambda s: statistics.deposit_statistics(s, 12)
            ),
            "statistics, 52 weeks": lambda: _in_session(
                database, lambda s: statistics.deposit_statistics(s, 52)
            ),
            "all deposits, page 1": search(),
            "all deposits, page 40": search(page=40),
            "all deposits, in review": search(status="in_review"),
            "all deposits, title words": search(title="4242"),
            "all deposits, a depositor": search(depositor_ids=["user-42"], title="person 42"),
        }
        print(f"{'query':<28} {'p50 ms':>8} {'p95 ms':>8}")
        for label, call in queries.items():
            call()  # warm the cache, as a running service is
            p50, p95 = timed(call, args.repeat)
            print(f"{label:<28} {p50:8.1f} {p95:8.1f}")
        database.dispose()
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


def _in_session(database: Database, work):
    with database.reading() as session:
        result = work(session)
        if isinstance(result, dict) and "items" in result:
            list(result["items"])
        return result


if __name__ == "__main__":
    sys.exit(main())
