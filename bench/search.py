"""Search benchmark: full-text search and collection browse over many items.

Creates a fresh PostgreSQL (or SQLite) inventory database, migrates it, inserts N items
with generated titles, creators, keywords and years in batches (search columns filled
as item creation fills them), then times the queries the search and browse pages make:
a rare word, a common word, a word plus a year filter, a collection page deep in the
list. Prints p50/p95 per query. The database is dropped afterwards.

    python bench/search.py --items 100000 --database postgresql
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import func, insert  # noqa: E402

from kernel.platform.db import Database  # noqa: E402
from lodge.migrations import upgrade  # noqa: E402
from services.inventory import search  # noqa: E402
from services.inventory.models import Item  # noqa: E402
from services.inventory.records import seed_collections  # noqa: E402
from tests.support.system import PG_ADMIN_DSN, pg_admin  # noqa: E402

WORDS = [
    "moss",
    "lichen",
    "peat",
    "bog",
    "fen",
    "tide",
    "glacier",
    "river",
    "delta",
    "dune",
    "heath",
    "forest",
    "soil",
    "carbon",
    "nitrogen",
    "bird",
    "wader",
    "insect",
    "beetle",
    "climate",
    "drought",
    "flood",
    "sediment",
    "coral",
    "reef",
    "plankton",
    "whale",
    "seal",
    "archive",
    "letter",
    "census",
    "parish",
    "school",
    "railway",
    "harbour",
    "mill",
]
NAMES = (
    "Sam Student",
    "Fran Faculty",
    "Ada Lovelace",
    "Mary Anning",
    "Alan Turing",
    "Rosalind Franklin",
    "Gregor Mendel",
    "Emmy Noether",
)


def record(rng: random.Random, number: int) -> dict:
    title = " ".join(rng.choice(WORDS) for _ in range(5)).capitalize() + f" {number}"
    return {
        "title": [title],
        "creator": [rng.choice(NAMES)],
        "subject": rng.sample(WORDS, 3),
        "date": [f"{rng.randint(1990, 2026)}-01-01"],
        "description": ["Generated for the search benchmark."],
    }


def seed(database: Database, count: int, batch: int = 5000) -> None:
    rng = random.Random(7)
    postgres = not database.is_sqlite
    now = datetime.now(UTC)
    with database.unit_of_work() as uow:
        seed_collections(uow.session)
    for start in range(0, count, batch):
        rows = []
        for number in range(start, min(start + batch, count)):
            data = record(rng, number)
            item_id = uuid.uuid4().hex
            rows.append(
                {
                    "id": item_id,
                    "identifier": f"ark:/99999/bench-{item_id[:16]}",
                    "deposit_id": item_id,
                    "revision": 1,
                    "collection_id": "theses" if number % 3 else "open-works",
                    "access": "open",
                    "record": data,
                    "created_at": now,
                    "datestamp": now.replace(microsecond=0),
                    "year": search.year_of(data),
                    "search_text": search.search_text(data),
                }
            )
        with database.unit_of_work() as uow:
            uow.session.execute(insert(Item), rows)
        print(f"\rseeded {min(start + batch, count)} items", end="", flush=True)
    if postgres:
        with database.unit_of_work() as uow:  # what search.index does at item creation
            uow.session.execute(
                Item.__table__.update().values(
                    search_vector=func.to_tsvector(search.TS_CONFIG, Item.search_text)
                )
            )
        with database.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE items")
    print()


def timed(database: Database, label: str, runs: int, **query) -> None:
    page = query.pop("page", 1)
    times, total = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        with database.reading() as session:
            statement = search.matching(
                session, query.get("query"), query.get("year"), query.get("set_spec")
            )
            _, total = search.page(session, statement, page, 20)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(
        f"{label:<40} {total:>8} hits   p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    name = f"lodge_bench_search_{uuid.uuid4().hex[:8]}"
    folder = tempfile.TemporaryDirectory()
    if args.database == "postgresql":
        pg_admin(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{Path(folder.name) / 'inventory.db'}"
    try:
        upgrade("inventory", url)
        database = Database(url, "inventory")
        seed(database, args.items)
        print(f"{args.items} items on {args.database}, {args.runs} runs each, 20 a page")
        timed(database, "rare word ('turing')", args.runs, query="turing")
        timed(database, "common word ('moss')", args.runs, query="moss")
        timed(
            database,
            "two words + year ('peat carbon', 2020)",
            args.runs,
            query="peat carbon",
            year=2020,
        )
        timed(database, "collection page 50 ('theses')", args.runs, set_spec="theses", page=50)
        database.dispose()
    finally:
        if args.database == "postgresql":
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        folder.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
