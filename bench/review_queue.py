"""Review queue and "my deposits" benchmark: p95 of the staff queue page and API with
1,000,000 review tasks, and of the patron's deposit list with 1,000,000 deposits, in
PostgreSQL.

Starts a complete Lodge of its own (tests/support/system.py), bulk-loads N review tasks
(default 1,000,000; `--pending` of them open or claimed, the rest decided) straight into
approval's database with COPY, with their approver-group sets, and N deposits into intake's
(the demo student owns `--own` of them, 2,000 other depositors the rest), runs VACUUM
ANALYZE, and then requests, as the demo approver, the queue page (/staff/queue) and API
(/api/v1/reviews/queue) over a mix of tabs, filters, sorts and pages, and as the demo
student the "my deposits" page (/) and API (/api/v1/deposits) by status and page. Prints
p50/p95/max per view, with the target beside it, and for each endpoint the CPU a request
cost each of Lodge's processes and its PostgreSQL backends by database (what they spent
while its requests ran one after another, their timers' few milliseconds a second
included). Always stops the Lodge it started.

    python bench/review_queue.py -n 1000000 --requests 150 --own 120
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg2  # noqa: E402

from bench.scaleout import CpuMeter, DatabaseWatch  # noqa: E402
from bench.workload import add_lodge_arguments, bench_lodge, percentile  # noqa: E402
from services.approval.models import groups_key  # noqa: E402
from tests.support.system import PG_ADMIN_DSN, LodgeSystem, expect, signed_in  # noqa: E402

PROFILES = (
    ("thesis", "theses", ["approvers"], 14),
    ("dataset", "open-works", ["approvers"], None),
    ("chem-report", "open-works", ["chemistry"], 7),
)
APPROVERS = ("u-a", "u-b", "u-c", "u-d")
DEPOSITORS = [f"Depositor {n:04d}" for n in range(2000)]
TARGET_MS = 50
COPY_CHUNK = 100_000  # rows per COPY, so a million rows never sit in memory at once
QUEUE_VIEWS = [  # (label, query string)
    ("all, oldest", {}),
    ("unassigned", {"tab": "unassigned"}),
    ("mine", {"tab": "mine"}),
    ("others, newest", {"tab": "others", "sort": "newest"}),
    ("due first", {"sort": "due"}),
    ("overdue", {"overdue": "true"}),
    ("profile + collection", {"profile_id": "thesis", "collection": "theses"}),
    ("depositor", {"depositor": "Depositor 0042"}),
    ("older than 30 days", {"older_than_days": "30"}),
    ("page 40", {"page": "40"}),
]
DEPOSIT_STATUSES = ("draft", "submitted", "in_review", "returned", "archived", "declined")
DEPOSIT_VIEWS = [
    ("all", {}),
    ("drafts", {"status": "draft"}),
    ("in review", {"status": "in_review"}),
    ("archived", {"status": "archived"}),
    ("page 3", {"page": "3"}),
]


def seed(url: str, count: int, pending_share: float, approver_id: str) -> None:
    """COPY `count` review tasks and their group rows into approval's database."""
    sets = {(groups_key(groups), group) for _, _, groups, _ in PROFILES for group in groups}
    copy_rows(
        url,
        "review_tasks (id, deposit_id, revision, state, title, profile_id, depositor,"
        " approver_groups, assignee_id, assignee, deposit, created_at, updated_at,"
        " collection, depositor_id, depositor_name, due_at, claimed_at, groups_key)",
        task_rows(count, pending_share, approver_id),
    )
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO approver_group_sets (groups_key, group_name) "
            "VALUES (%s, %s) ON CONFLICT DO NOTHING",
            sorted(sets),
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('review_tasks', 'id'), %s)", (count,))
    vacuum(url, "review_tasks", "approver_group_sets")


def task_rows(count: int, pending_share: float, approver_id: str) -> Iterator[list]:
    rng = random.Random(5)
    now = datetime.now(UTC)
    assignees = APPROVERS + (approver_id,)
    for number in range(1, count + 1):
        profile, collection, approver_groups, turnaround = rng.choice(PROFILES)
        created = now - timedelta(minutes=rng.randrange(365 * 24 * 60))
        roll = rng.random()
        state = (
            "decided"
            if roll >= pending_share
            else "claimed"
            if roll < pending_share / 3
            else "open"
        )
        assignee = rng.choice(assignees) if state != "open" else None
        name = rng.choice(DEPOSITORS)
        depositor = {"id": f"u-{name[-4:]}", "name": name, "email": "", "locale": "en"}
        deposit_id = uuid.uuid4().hex
        yield [
            number,
            deposit_id,
            1,
            state,
            f"Bench deposit {number}",
            profile,
            json.dumps(depositor),
            json.dumps(approver_groups),
            assignee or "",
            json.dumps({"id": assignee, "name": assignee, "email": "", "locale": "en"})
            if assignee
            else "",
            json.dumps({"id": deposit_id, "revision": 1, "files": [], "metadata": {}}),
            created.isoformat(),
            created.isoformat(),
            collection,
            depositor["id"],
            name,
            (created + timedelta(days=turnaround)).isoformat() if turnaround else "",
            # claims are recent: older ones would be released by the idle-claim timer
            max(created, now - timedelta(minutes=rng.randrange(120))).isoformat()
            if state == "claimed"
            else "",
            groups_key(approver_groups),
        ]


def seed_deposits(url: str, count: int, owner: dict, own: int) -> None:
    """COPY `count` deposits into intake's database, `own` of them the owner's."""
    copy_rows(
        url,
        "deposits (id, profile_id, profile_version, status, revision, title,"
        " metadata, depositor_id, depositor, access_policy, created_at, updated_at)",
        deposit_rows(count, owner, own),
    )
    vacuum(url, "deposits")


def deposit_rows(count: int, owner: dict, own: int) -> Iterator[list]:
    rng = random.Random(7)
    now = datetime.now(UTC)
    for number in range(count):
        if number < own:
            depositor = owner
        else:
            name = rng.choice(DEPOSITORS)
            depositor = {"id": f"u-{name[-4:]}", "name": name, "email": "", "locale": "en"}
        status = rng.choice(DEPOSIT_STATUSES)
        updated = now - timedelta(minutes=rng.randrange(365 * 24 * 60))
        title = f"Bench deposit {number}"
        yield [
            uuid.uuid4().hex,
            "thesis",
            1,
            status,
            1,
            title,
            json.dumps({"title": title, "creator": depositor["name"]}),
            depositor["id"],
            json.dumps(depositor),
            "open",
            updated.isoformat(),
            updated.isoformat(),
        ]


def copy_rows(url: str, table_and_columns: str, rows: Iterator[list]) -> None:
    """COPY the rows in chunks, in one transaction."""
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        while chunk := list(itertools.islice(rows, COPY_CHUNK)):
            text = io.StringIO()
            csv.writer(text).writerows(chunk)
            text.seek(0)
            cursor.copy_expert(
                f"COPY {table_and_columns} FROM STDIN WITH (FORMAT csv, NULL '')", text
            )


def vacuum(url: str, *tables: str) -> None:
    connection = psycopg2.connect(url)
    connection.autocommit = True  # VACUUM runs outside a transaction
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")
    connection.close()


def measure(
    session, url: str, views: list, requests: int, expect_json: bool
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {label: [] for label, _ in views}
    for round_number in range(requests):
        label, params = views[round_number % len(views)]
        started = time.perf_counter()
        response = session.get(url, params=params, timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (label, response.status_code, response.text[:300])
        if expect_json:
            assert "items" in response.json()
        timings[label].append(elapsed)
    return timings


def report(title: str, timings: dict[str, list[float]]) -> float:
    everything = [value for values in timings.values() for value in values]
    p95 = percentile(everything, 95)
    print(
        f"\n{title}: {len(everything)} requests, p50 {percentile(everything, 50):.0f} ms, "
        f"p95 {p95:.0f} ms, max {max(everything):.0f} ms "
        f"({'within' if p95 <= TARGET_MS else 'over'} the {TARGET_MS} ms target)"
    )
    for label, values in timings.items():
        p50_ms, p95_ms = percentile(values, 50), percentile(values, 95)
        print(f"  {label:<22} p50 {p50_ms:6.0f} ms   p95 {p95_ms:6.0f} ms")
    return p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-n",
        "--tasks",
        type=int,
        default=1_000_000,
        help="review tasks, and deposits (default 1,000,000)",
    )
    parser.add_argument(
        "--pending",
        type=float,
        default=0.3,
        help="share of tasks still open or claimed (default 0.3)",
    )
    parser.add_argument(
        "--own", type=int, default=120, help="deposits that are the demo student's (default 120)"
    )
    parser.add_argument("--requests", type=int, default=150, help="requests per endpoint")
    add_lodge_arguments(parser, "bench-queue")
    args = parser.parse_args()

    with bench_lodge(args) as system:
        started = time.perf_counter()
        seed(
            system.database_urls["approval"],
            args.tasks,
            args.pending,
            _user(system, "approver")["id"],
        )
        seed_deposits(
            system.database_urls["intake"], args.tasks, _user(system, "student"), args.own
        )
        print(
            f"seeded {args.tasks} review tasks ({args.pending:.0%} pending) and {args.tasks} "
            f"deposits ({args.own} the student's) in {time.perf_counter() - started:.1f} s"
        )
        approver_api, approver_pages = system.client("approver"), signed_in(system, "approver")
        student_api, student_pages = system.client("student"), signed_in(system, "student")
        counts = expect(approver_api.get("/api/v1/reviews/queue"), 200)["counts"]
        print(f"the approver's queue: {counts}")
        endpoints = [  # (title, session, path, views, JSON?)
            (
                "queue API  GET /api/v1/reviews/queue",
                approver_api,
                "/api/v1/reviews/queue",
                QUEUE_VIEWS,
                True,
            ),
            ("queue page GET /staff/queue", approver_pages, "/staff/queue", QUEUE_VIEWS, False),
            (
                "my deposits API  GET /api/v1/deposits",
                student_api,
                "/api/v1/deposits",
                DEPOSIT_VIEWS,
                True,
            ),
            ("my deposits page GET /", student_pages, "/", DEPOSIT_VIEWS, False),
        ]
        p95s = []
        assert system.process is not None
        admin = psycopg2.connect(PG_ADMIN_DSN)
        admin.autocommit = True
        backends = DatabaseWatch(
            admin, [url.rsplit("/", 1)[1] for url in system.database_urls.values()]
        )
        try:
            for title, session, path, views, expect_json in endpoints:
                url = f"{system.base_url}{path}"
                for _ in range(3):  # connections, caches and the RPC pool warm up first
                    session.get(url, timeout=60)
                meter = CpuMeter([system.process.pid], backends.current)
                meter.start()
                timings = measure(session, url, views, args.requests, expect_json)
                spent = meter.stop()
                p95s.append(report(title, timings))
                report_cpu(spent, args.requests)
        finally:
            admin.close()
    return 0 if max(p95s) <= TARGET_MS else 1


def report_cpu(spent: dict[tuple[str, int], float], requests: int) -> None:
    """CPU ms a request by process (a service, the gateway's master and workers, a
    database's backends), largest first."""
    by_name: dict[str, float] = {}
    for (name, _), seconds in spent.items():
        by_name[name] = by_name.get(name, 0.0) + seconds * 1000 / requests
    shown = sorted(((ms, name) for name, ms in by_name.items() if ms >= 0.05), reverse=True)
    print(
        f"  CPU a request: {sum(by_name.values()):.1f} ms ("
        + ", ".join(f"{name} {ms:.1f}" for ms, name in shown)
        + ")"
    )


def _user(system: LodgeSystem, username: str) -> dict:
    with (
        psycopg2.connect(system.database_urls["gateway"]) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT id, name, email FROM users WHERE username = %s", (username,))
        user_id, name, email = cursor.fetchone()
    return {"id": user_id, "name": name, "email": email, "locale": "en"}


if __name__ == "__main__":
    sys.exit(main())
