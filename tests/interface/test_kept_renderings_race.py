"""Two writers of one work at once, on PostgreSQL's own connections: a version archived
while the work is given its concept DOI. The move of the work's serials waits for the
version being added and moves it too, so no harvest keeps that version without the
concept DOI for good."""

import threading

import psycopg2
from sqlalchemy import select

from kernel.platform.db import Database
from services.inventory.models import CONCEPT, DoiRegistration, Item
from services.inventory.records import seed_collections
from tests.services.test_oai_records import START, insert_items, item_row
from tests.services.test_oai_renderings import _work_of
from tests.support.system import poll_until


def waiting_for_a_lock(url: str) -> bool:
    connection = psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0] > 0
    finally:
        connection.close()


def test_a_concept_doi_given_while_a_version_is_archived_moves_that_versions_serial(
    migrated_pg,
):
    url = migrated_pg("inventory")
    database = Database(url, "inventory")
    with database.unit_of_work() as uow:
        seed_collections(uow.session)
    insert_items(database, 2)
    _work_of(database, "item0000", "item0001")
    with database.reading() as session:
        work = session.get(Item, "item0000")
        concept = {"concept_id": work.concept_id, "concept_identifier": work.concept_identifier}

    archiving = database.sessions()  # as versions.continue_work: the latest version locked
    archiving.scalar(select(Item).where(Item.id == "item0001").with_for_update())
    archiving.add(item_row(2, START, version=3, **concept))
    archiving.flush()
    serial = archiving.scalar(select(Item.serial).where(Item.id == "item0002"))

    failures: list[BaseException] = []

    def give_the_concept_doi() -> None:
        try:
            with database.unit_of_work() as uow:
                uow.session.add(
                    DoiRegistration(
                        doi="10.5555/the-work", item_id="item0000", kind=CONCEPT, state="reserved"
                    )
                )
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            failures.append(err)

    giving = threading.Thread(target=give_the_concept_doi)
    giving.start()
    try:
        poll_until(lambda: waiting_for_a_lock(url), description="the concept DOI waiting")
        archiving.commit()
    finally:
        archiving.close()
        giving.join(timeout=30)
    assert not giving.is_alive() and not failures, failures
    with database.reading() as session:
        assert session.scalar(select(Item.serial).where(Item.id == "item0002")) == serial + 1
    database.dispose()
