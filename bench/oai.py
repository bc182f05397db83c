"""OAI-PMH benchmark: is a page 500,000 records deep as fast as the first one?

Starts a complete Lodge of its own on PostgreSQL (tests/support/system.py), seeds
inventory's items table with N items by COPY (default 1,000,000; half in each demo
collection, two items per datestamp second so the id tie-break is exercised, one in a
hundred withdrawn), then times over HTTP, alternating, repeated:
- the first ListRecords page (oai_dc, 100 records) against the page at half the list,
  asked for with a resumption token built for that position, as a harvester resumes;
- the same for a set-selective harvest (set=theses, so half the list deep);
and prints median and p95 of each and the deep/first ratio of the medians (target ≤ 1.5).
It then prints the item landing page's p50/p95 (GET /items/<id>, random seeded items).
Always stops the Lodge it started.

    python bench/oai.py                 # 1,000,000 items, 30 rounds
    python bench/oai.py -n 100000 --rounds 10
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg2  # noqa: E402
import requests  # noqa: E402

from gateway.oai.pmh import encode_token  # noqa: E402
from tests.support.system import LodgeSystem  # noqa: E402

START = datetime(2020, 1, 1, tzinfo=UTC)
CHUNK = 50_000
COLUMNS = (
    "id",
    "identifier",
    "deposit_id",
    "revision",
    "collection_id",
    "access",
    "record",
    "created_at",
    "creators",
    "datestamp",
    "withdrawn_at",
    "withdrawal_reason",
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def item_id(n: int) -> str:
    return f"b{n:031x}"


def seed_rows(first: int, last: int) -> io.StringIO:
    """Tab-separated rows for COPY: items first..last-1."""
    out = io.StringIO()
    for n in range(first, last):
        moment = (START + timedelta(seconds=n // 2)).isoformat()
        record = json.dumps(
            {
                "title": [f"Seeded work {n}"],
                "creator": ["Bench, Author"],
                "description": [
                    "An item seeded by bench/oai.py to measure OAI-PMH paging at depth."
                ],
                "date": [str(2000 + n % 25)],
                "subject": ["benchmark", "oai"],
                "type": ["Thesis"],
            }
        )
        creators = json.dumps([{"name": "Bench, Author", "orcid": None}])
        withdrawn = moment if n % 100 == 99 else "\\N"
        reason = "Seeded withdrawal" if n % 100 == 99 else "\\N"
        collection = "theses" if n % 2 else "open-works"
        out.write(
            "\t".join(
                (
                    item_id(n),
                    f"ark:/99999/bench-{n:08d}",
                    f"bench-{n:08d}",
                    "1",
                    collection,
                    "open",
                    record.replace("\\", "\\\\"),
                    moment,
                    creators,
                    moment,
                    withdrawn,
                    reason,
                )
            )
            + "\n"
        )
    out.seek(0)
    return out


def seed(dsn: str, count: int) -> None:
    started = time.perf_counter()
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            for first in range(0, count, CHUNK):
                cursor.copy_expert(
                    f"COPY items ({', '.join(COLUMNS)}) FROM STDIN",
                    seed_rows(first, min(first + CHUNK, count)),
                )
                connection.commit()
                done = min(first + CHUNK, count)
                print(
                    f"\r  seeded {done:,}/{count:,} items ({time.perf_counter() - started:.0f} s)",
                    end="",
                    flush=True,
                )
            cursor.execute("ANALYZE items")
        connection.commit()
    finally:
        connection.close()
    print()


def position_at(dsn: str, offset: int, collection: str | None) -> dict:
    """The datestamp and id of the record just before `offset` in harvest order: what a
    harvester's token holds after reading `offset` records. (OFFSET here, once, in setup.)"""
    where = "WHERE collection_id = %s" if collection else ""
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT datestamp, id FROM items {where} ORDER BY datestamp, id OFFSET %s LIMIT 1",
                ([collection] if collection else []) + [offset - 1],
            )
            datestamp, identifier = cursor.fetchone()
    finally:
        connection.close()
    return {"datestamp": datestamp.isoformat(), "item_id": identifier}


def timed(session: requests.Session, url: str, params: dict) -> float:
    started = time.perf_counter()
    response = session.get(url, params=params, timeout=120)
    elapsed = time.perf_counter() - started
    if (
        response.status_code != 200
        or b"<error" in response.content
        or response.content.count(b"<record>") != 100
    ):
        raise RuntimeError(f"unexpected answer to {params}: {response.text[:500]}")
    return elapsed


def compare(session, url: str, label: str, first: dict, deep: dict, rounds: int) -> float:
    for params in (first, deep):  # warm both paths once
        timed(session, url, params)
    first_times, deep_times = [], []
    for _ in range(rounds):
        first_times.append(timed(session, url, first))
        deep_times.append(timed(session, url, deep))
    ratio = percentile(deep_times, 50) / percentile(first_times, 50)
    print(f"{label}")
    for name, times in (("first page", first_times), ("deep page ", deep_times)):
        print(
            f"  {name}: median {percentile(times, 50) * 1000:7.1f} ms   "
            f"p95 {percentile(times, 95) * 1000:7.1f} ms   ({rounds} requests)"
        )
    print(f"  deep / first (medians): {ratio:.2f}  (target ≤ 1.5)")
    return ratio


def run(system: LodgeSystem, args) -> int:
    dsn = system.database_urls["inventory"]
    print(f"Seeding {args.n:,} items into inventory (PostgreSQL, COPY)...")
    seed(dsn, args.n)
    url = f"{system.base_url}/oai"
    session = requests.Session()
    selection = {"metadataPrefix": "oai_dc", "from": None, "until": None, "set": None}
    half = args.n // 2
    deep_token = encode_token("ListRecords", selection, position_at(dsn, half, None), half)
    ratios = [
        compare(
            session,
            url,
            f"ListRecords oai_dc, {args.n:,} items, page at {half:,}",
            {"verb": "ListRecords", "metadataPrefix": "oai_dc"},
            {"verb": "ListRecords", "resumptionToken": deep_token},
            args.rounds,
        )
    ]
    in_set = half // 2
    set_selection = {**selection, "set": "theses"}
    set_token = encode_token(
        "ListRecords", set_selection, position_at(dsn, in_set, "theses"), in_set
    )
    ratios.append(
        compare(
            session,
            url,
            f"ListRecords oai_dc set=theses, page at {in_set:,}",
            {"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "theses"},
            {"verb": "ListRecords", "resumptionToken": set_token},
            args.rounds,
        )
    )

    pages = []
    for n in random.sample(range(args.n), args.landing):
        started = time.perf_counter()
        response = session.get(f"{system.base_url}/items/{item_id(n)}", timeout=60)
        pages.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"landing page {item_id(n)}: {response.status_code}")
    print(
        f"Item landing page /items/<id> ({args.landing} random items of {args.n:,}): "
        f"p50 {percentile(pages, 50) * 1000:.1f} ms   p95 {percentile(pages, 95) * 1000:.1f} ms"
    )
    return 0 if max(ratios) <= 1.5 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="items to seed (default 1,000,000)")
    parser.add_argument(
        "--rounds", type=int, default=30, help="timed requests per page (default 30)"
    )
    parser.add_argument(
        "--landing", type=int, default=200, help="landing page requests (default 200)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the Lodge log in test-artifacts/")
    args = parser.parse_args()
    system = LodgeSystem(
        "postgresql", label="bench-oai", keep_artifacts=args.keep or None, start_timeout=180
    )
    system.start()
    try:
        return run(system, args)
    finally:
        system.stop()


if __name__ == "__main__":
    sys.exit(main())
