"""Items' OAI-PMH records kept as rendered, and when a kept one may still be used.

Rendering a record needs the item, its files and its work's versions; in a full harvest
that was most of inventory's time. A harvest keeps what it renders (item_renderings) and
uses it again while nothing it was made from has changed:
- the item, its files and its work: `Item.serial` moves on every update of the row,
  whenever one of its files is added, removed or changed, and on every version of a work
  when a version is added, renamed or given a DOI, or the work its concept DOI (mapper
  events in models.py, so no write path through the ORM can forget them);
- the site's address and name, and the code that renders records (`RENDERING_CODE`): a
  digest of them;
- the day: in oai_openaire an embargoed item is open once its embargo ends, so its
  rendering in that format expires then.
A harvest keeps what it rendered in a transaction of its own, once its page is read and
before it answers; a failure to keep costs only a render later. A rendering kept from an
older serial is never used, whichever harvest wrote last.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from datetime import date
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from kernel.platform.db import Database
from kernel.platform.dependencies import Store
from services.inventory.models import Item, ItemRendering

log = logging.getLogger(__name__)

# the code a record is rendered by: a release that changes any of it renders every record
# afresh (processes of two releases side by side each render what the other kept)
RENDERING_CODE = (
    "kernel.contracts.oai",
    "kernel.contracts.resource_types",
    "kernel.policy.text",
    "services.inventory.crosswalks",
    "services.inventory.identifiers",
    "services.inventory.oai",
    "services.inventory.openaire",
    "services.inventory.versions",
)
# the formats whose record changes with the day: oai_openaire calls an embargo that has
# ended open
DATED_FORMATS = frozenset({"oai_openaire"})


def _fingerprint(modules: tuple[str, ...]) -> str:
    source = hashlib.blake2b(digest_size=16)
    for name in modules:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        source.update(Path(spec.origin).read_bytes())
    return source.hexdigest()


CODE_FINGERPRINT = _fingerprint(RENDERING_CODE)


def digest(base_url: str, repository_name: str) -> str:
    """What a record is rendered from besides the item and its work (the site, the code
    that renders it), in 32 characters."""
    text = json.dumps([base_url, repository_name, CODE_FINGERPRINT])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def expires_on(item: Item, metadata_prefix: str, today: date) -> date | None:
    """The day an item's rendering in a format stops being right: in a dated format, its
    embargo's end, if still ahead."""
    if (
        metadata_prefix in DATED_FORMATS
        and item.access == "embargo"
        and item.embargo_until is not None
        and item.embargo_until > today
    ):
        return item.embargo_until
    return None


def usable(row: Any, wanted_digest: str, today: date) -> bool:
    """Whether the rendering joined to a page's row (`kept_serial`, `kept_digest`,
    `kept_expires_on`, `kept_body`) is one of the item as it is now."""
    return (
        row.kept_body is not None
        and row.kept_serial == row.serial
        and row.kept_digest == wanted_digest
        and (row.kept_expires_on is None or row.kept_expires_on > today)
    )


def rendering(
    item: Item, metadata_prefix: str, wanted_digest: str, body: str, today: date
) -> dict[str, Any]:
    return {
        "item_id": item.id,
        "metadata_prefix": metadata_prefix,
        "serial": item.serial,
        "digest": wanted_digest,
        "expires_on": expires_on(item, metadata_prefix, today),
        "body": body,
    }


def keep(database: Database | Store, renderings: list[dict[str, Any]]) -> None:
    """Store renderings in place of what was kept for the same items and formats: the old
    rows deleted and the new inserted, in key order, so two harvests keeping one page take
    their locks in one order (the later one's insert then fails on the first's rows, which
    are as good). Not an upsert: SQLAlchemy sends an upsert of many rows as one statement
    a row, where a plain insert goes as a few multi-row statements (a page of 500: 30 ms
    against 90)."""
    if not renderings:
        return
    table = cast("Table", ItemRendering.__table__)
    rows = sorted(renderings, key=lambda r: (r["metadata_prefix"], r["item_id"]))
    try:
        with database.apart() as session:
            connection = session.connection()
            for prefix in sorted({row["metadata_prefix"] for row in rows}):
                items = [row["item_id"] for row in rows if row["metadata_prefix"] == prefix]
                connection.execute(
                    delete(table).where(
                        table.c.metadata_prefix == prefix, table.c.item_id.in_(items)
                    )
                )
            connection.execute(insert(table), rows)
    except IntegrityError as err:  # another harvest kept them first, or the item is gone
        log.info("did not keep %d rendered records: %s", len(renderings), err.orig)
    except SQLAlchemyError:
        log.warning(
            "could not keep %d rendered records; they are rendered again when next asked for",
            len(renderings),
            exc_info=True,
        )
