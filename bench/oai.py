"""OAI-PMH and landing-page benchmark at scale: records/s of a full harvest, a deep page
against the first, and the landing page and `/id/` resolution.

Starts a complete Lodge of its own on PostgreSQL (tests/support/system.py), seeds
inventory's items table with N items by COPY (default 1,000,000; half in each demo
collection, two items per datestamp second so the id tie-break is exercised, one in a
hundred withdrawn), then, over HTTP through the gateway, prints each figure with its target:
- for oai_dc and datacite, the first ListRecords page (LODGE_OAI_PAGE_SIZE records, or
  --page-size) against the page at half the list, asked for with a resumption token built
  for that position, alternating: median and p95, and deep/first of the medians (target
  ≤ 1.2; a page of 500 in ≤ 62.5 ms is 8,000 records/s);
  with the records kept rendered (services/inventory/renderings.py), and rendered afresh
  (the kept renderings dropped before each request);
- the same for a set-selective harvest (set=theses, so half the list deep);
- a full harvest by one harvester of each format, following resumption tokens to the end,
  twice: the first renders and keeps every record, the second reads them; records/s
  (target ≥ 8,000), checking that every record came exactly once;
- the landing page `/items/<id>` of random items, a withdrawn one's tombstone (410) counted
  as an answer, and `/id/<identifier>` for items' ARKs and works' concept identifiers (the
  302 to the landing page): p50 and p95 (targets ≤ 20 ms and ≤ 40 ms).
Always stops the Lodge it started, which drops its databases.

    python bench/oai.py                         # 1,000,000 items, 30 rounds
    python bench/oai.py -n 100000 --rounds 10 --no-full-harvest
    python bench/oai.py --page-size 100         # pages of 100 records, not the default
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg2  # noqa: E402
import requests  # noqa: E402

from bench.workload import copy_in_chunks, percentile  # noqa: E402
from gateway.oai.pmh import encode_token  # noqa: E402
from kernel.platform.config import get_settings  # noqa: E402
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
    "concept_id",
    "concept_identifier",
    "version",
)
DEEP_TARGET = 1.2
HARVEST_TARGET = 8000  # records/s; a page's target is its length at this rate
LANDING_TARGETS = (20.0, 40.0)  # p50, p95 ms
FORMATS = ("oai_dc", "datacite")
TOKEN = re.compile(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>")
HEADER_IDENTIFIER = re.compile(rb"<header[^>]*><identifier>([^<]+)</identifier>")


def item_id(n: int) -> str:
    return f"b{n:031x}"


def ark(n: int) -> str:
    return f"ark:/99999/bench-{n:08d}"


def concept_ark(n: int) -> str:
    return f"ark:/99999/work-{n:08d}"


def withdrawn(n: int) -> bool:
    return n % 100 == 99


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
        gone = withdrawn(n)
        collection = "theses" if n % 2 else "open-works"
        out.write(
            "\t".join(
                (
                    item_id(n),
                    ark(n),
                    f"bench-{n:08d}",
                    "1",
                    collection,
                    "open",
                    record.replace("\\", "\\\\"),
                    moment,
                    creators,
                    moment,
                    moment if gone else "\\N",
                    "Seeded withdrawal" if gone else "\\N",
                    f"w{n:031x}",  # each item a work of its own, version 1
                    concept_ark(n),
                    "1",
                )
            )
            + "\n"
        )
    out.seek(0)
    return out


def seed(dsn: str, count: int) -> None:
    connection = psycopg2.connect(dsn)
    try:
        copy_in_chunks(connection, "items", COLUMNS, count, CHUNK, seed_rows)
        with connection.cursor() as cursor:
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


def timed(session: requests.Session, url: str, params: dict, page: int) -> float:
    started = time.perf_counter()
    response = session.get(url, params=params, timeout=120)
    elapsed = time.perf_counter() - started
    if (
        response.status_code != 200
        or b"<error" in response.content
        or response.content.count(b"<record>") != page
    ):
        raise RuntimeError(f"unexpected answer to {params}: {response.text[:500]}")
    return elapsed


def figures(times: list[float]) -> str:
    p50, p95 = percentile(times, 50) * 1000, percentile(times, 95) * 1000
    return f"p50 {p50:7.1f} ms   p95 {p95:7.1f} ms"


def forget_renderings(dsn: str) -> None:
    """Drop every kept rendering: the next page of each is rendered afresh."""
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE item_renderings")
        connection.commit()
    finally:
        connection.close()


def compare(
    session, url: str, label: str, first: dict, deep: dict, rounds: int, page: int, forget=None
) -> bool:
    """First page against deep page, alternating; whether both targets are met. With
    `forget`, called before each request, every page is rendered afresh; without, every
    page but the first of each is read from the renderings kept."""
    for params in (first, deep):  # warm both paths once
        timed(session, url, params, page)
    first_times: list[float] = []
    deep_times: list[float] = []
    for _ in range(rounds):
        for params, times in ((first, first_times), (deep, deep_times)):
            if forget:
                forget()
            times.append(timed(session, url, params, page))
    ratio = percentile(deep_times, 50) / percentile(first_times, 50)
    target = 1000 * page / HARVEST_TARGET
    print(label)
    for name, times in (("first page", first_times), ("deep page ", deep_times)):
        print(f"  {name}: {figures(times)}   ({rounds} requests; target p50 ≤ {target:.1f} ms)")
    print(f"  deep / first (medians): {ratio:.2f}  (target ≤ {DEEP_TARGET})")
    slowest = max(percentile(first_times, 50), percentile(deep_times, 50)) * 1000
    return ratio <= DEEP_TARGET and slowest <= target


def full_harvest(session, url: str, prefix: str, count: int, label: str) -> bool:
    """One harvester through the whole list, page after page as its tokens lead; every
    record must come exactly once."""
    seen: set[bytes] = set()
    params: dict = {"verb": "ListRecords", "metadataPrefix": prefix}
    started = time.perf_counter()
    pages = 0
    while True:
        response = session.get(url, params=params, timeout=120)
        if response.status_code != 200 or b"<error" in response.content:
            raise RuntimeError(f"unexpected answer to {params}: {response.text[:500]}")
        identifiers = HEADER_IDENTIFIER.findall(response.content)
        seen.update(identifiers)
        pages += 1
        token = TOKEN.search(response.content)
        if token is None:
            break
        params = {"verb": "ListRecords", "resumptionToken": token.group(1).decode()}
        if pages % 500 == 0:
            print(f"\r  {prefix}: {len(seen):,} records", end="", flush=True)
    elapsed = time.perf_counter() - started
    if len(seen) != count:
        raise RuntimeError(f"{prefix}: the harvest saw {len(seen):,} distinct records of {count:,}")
    rate = count / elapsed
    print(
        f"\rFull harvest, {prefix}, {label}: {count:,} records in {pages:,} pages, "
        f"{elapsed:.1f} s: {rate:,.0f} records/s  (target ≥ {HARVEST_TARGET:,})"
    )
    return rate >= HARVEST_TARGET


def landing(session, base_url: str, count: int, samples: int) -> bool:
    """Landing pages and resolutions of random items: a tombstone (410) is an answer."""
    met = True
    sample = random.sample(range(count), samples)
    cases = (
        ("/items/<id>", lambda n: f"/items/{item_id(n)}", lambda n: 410 if withdrawn(n) else 200),
        ("/id/<ARK>", lambda n: f"/id/{ark(n)}", lambda n: 302),
        ("/id/<concept ARK>", lambda n: f"/id/{concept_ark(n)}", lambda n: 302),
    )
    for label, path, expected in cases:
        times, tombstones = [], 0
        session.get(base_url + path(sample[0]), allow_redirects=False, timeout=60)  # warm
        for n in sample:
            started = time.perf_counter()
            response = session.get(base_url + path(n), allow_redirects=False, timeout=60)
            times.append(time.perf_counter() - started)
            if response.status_code != expected(n):
                raise RuntimeError(f"{path(n)}: {response.status_code}, not {expected(n)}")
            tombstones += response.status_code == 410
        print(
            f"{label:<18} {samples} random items of {count:,}: {figures(times)}   "
            f"(targets ≤ {LANDING_TARGETS[0]:.0f} / ≤ {LANDING_TARGETS[1]:.0f} ms)"
            + (f"; {tombstones} tombstones (410)" if tombstones else "")
        )
        met &= (
            percentile(times, 50) * 1000 <= LANDING_TARGETS[0]
            and percentile(times, 95) * 1000 <= LANDING_TARGETS[1]
        )
    return met


def run(system: LodgeSystem, args) -> int:
    dsn = system.database_urls["inventory"]
    print(f"Seeding {args.n:,} items into inventory (PostgreSQL, COPY)...")
    seed(dsn, args.n)
    url = f"{system.base_url}/oai"
    session = requests.Session()
    half, in_set = args.n // 2, args.n // 4
    middle, middle_of_set = position_at(dsn, half, None), position_at(dsn, in_set, "theses")
    met = True
    for prefix in FORMATS:
        selection = {"metadataPrefix": prefix, "from": None, "until": None, "set": None}
        deep_token = encode_token("ListRecords", selection, middle, half)
        pages = (
            {"verb": "ListRecords", "metadataPrefix": prefix},
            {"verb": "ListRecords", "resumptionToken": deep_token},
        )
        label = f"ListRecords {prefix}, {args.n:,} items, page at {half:,}"
        met &= compare(session, url, f"{label}, records kept", *pages, args.rounds, args.page_size)
        # rendered afresh: a harvest's first pass over records new or changed
        compare(
            session,
            url,
            f"{label}, rendered afresh",
            *pages,
            args.rounds,
            args.page_size,
            forget=lambda: forget_renderings(dsn),
        )
    set_selection = {"metadataPrefix": "oai_dc", "from": None, "until": None, "set": "theses"}
    met &= compare(
        session,
        url,
        f"ListRecords oai_dc set=theses, page at {in_set:,}",
        {"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "theses"},
        {
            "verb": "ListRecords",
            "resumptionToken": encode_token("ListRecords", set_selection, middle_of_set, in_set),
        },
        args.rounds,
        args.page_size,
    )
    met &= landing(session, system.base_url, args.n, args.landing)
    if args.full_harvest:
        forget_renderings(dsn)
        for prefix in FORMATS:  # the first renders and keeps every record; the next reads them
            full_harvest(session, url, prefix, args.n, "first, rendering")
            met &= full_harvest(session, url, prefix, args.n, "again, records kept")
    return 0 if met else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="items to seed (default 1,000,000)")
    parser.add_argument(
        "--rounds", type=int, default=30, help="timed requests per page (default 30)"
    )
    parser.add_argument(
        "--landing", type=int, default=200, help="requests of each landing kind (default 200)"
    )
    parser.add_argument(
        "--no-full-harvest",
        dest="full_harvest",
        action="store_false",
        help="skip the full harvests (each reads every record)",
    )
    parser.add_argument(
        "--label", default="bench-oai", help="names the run's databases and vhost (bench-oai)"
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=get_settings().oai.page_size,
        help="records per page, LODGE_OAI_PAGE_SIZE (default: its setting, %(default)s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the Lodge log in test-artifacts/")
    args = parser.parse_args()
    # a loaded machine may need longer to start it: LODGE_TEST_START_TIMEOUT seconds
    system = LodgeSystem(
        "postgresql",
        label=args.label,
        keep_artifacts=args.keep or None,
        extra_env={"LODGE_OAI_PAGE_SIZE": str(args.page_size)},
    )
    system.start()
    try:
        return run(system, args)
    finally:
        system.stop()


if __name__ == "__main__":
    sys.exit(main())
