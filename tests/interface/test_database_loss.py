"""Database connections that die under Lodge (the server restarted or dropped them): the
next requests get fresh connections, a read that lost its connection is read again, and
what harvests keep survives.
The backends are killed with pg_terminate_backend on the test's own database."""

import pytest
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy import func, select

from kernel.contracts.exceptions import Unavailable
from kernel.contracts.profiles import ProfileDefinitionSchema
from kernel.platform.db import ConnectionCheck, Database
from kernel.platform.messaging import rpc
from services.intake.deposits import save_profile
from services.intake.models import Profile
from services.intake.seed import DEMO_PROFILES, SYSTEM_ACTOR
from services.intake.service import IntakeService
from services.inventory.models import Item, ItemRendering
from services.inventory.records import seed_collections
from services.inventory.service import InventoryService
from tests.services.conftest import STUDENT, THESIS_METADATA
from tests.services.test_oai_records import insert_items
from tests.support.system import pg_admin


def terminate_backends(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    pg_admin(
        # with a timeout it returns once each backend is gone, not when it was told to go
        f"SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )


@pytest.fixture
def intake_pg(migrated_pg):
    """Intake's database on PostgreSQL, with the demo thesis profile."""
    url = migrated_pg("intake")
    database = Database(url, "intake")
    with database.unit_of_work() as uow:
        save_profile(
            uow,
            SYSTEM_ACTOR,
            "thesis",
            ProfileDefinitionSchema().load(DEMO_PROFILES["thesis"]),
            create=True,
        )
    database.dispose()
    return url


def test_a_service_answers_after_its_database_connections_were_killed(
    container_factory, broker, intake_pg
):
    container_factory(IntakeService, broker).start()
    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=15) as services:
        assert [p["id"] for p in services.intake.list_profiles(actor=STUDENT)] == ["thesis"]
        terminate_backends(intake_pg)
        assert [p["id"] for p in services.intake.list_profiles(actor=STUDENT)] == ["thesis"]
        terminate_backends(intake_pg)
        created = services.intake.create_deposit(
            actor=STUDENT, profile_id="thesis", metadata=THESIS_METADATA, on_behalf_of=None
        )
        assert services.intake.get_deposit(actor=STUDENT, deposit_id=created["id"])["id"]


def test_a_pooled_connection_is_pinged_only_once_the_server_dropped_it(intake_pg, monkeypatch):
    """A well connection is taken without a round trip; one whose backend the server
    ended is pinged, found dead and replaced, so the write after it commits."""
    database = Database(intake_pg, "intake")
    pings = []
    ping = database.engine.dialect.do_ping
    monkeypatch.setattr(
        database.engine.dialect, "do_ping", lambda connection: pings.append(1) or ping(connection)
    )

    def count_while_writing() -> int:
        with database.unit_of_work() as uow:
            return uow.session.scalar(select(func.count()).select_from(Profile))

    assert [count_while_writing() for _ in range(3)] == [1, 1, 1]
    assert pings == []
    terminate_backends(intake_pg)
    assert count_while_writing() == 1
    assert pings == [1]
    assert count_while_writing() == 1
    assert pings == [1]
    # a connection that sat in the pool is pinged whatever its socket shows: a peer that
    # vanished (a crashed host, a NAT that forgot it) says nothing
    monkeypatch.setattr(ConnectionCheck, "IDLE_SECONDS", 0.0)
    assert count_while_writing() == 1
    assert pings == [1, 1]
    database.dispose()


class Counter:
    """A service's RPC methods in miniature, on a database whose pool does not ping."""

    name = "counter"

    def __init__(self, url: str):
        self.store = Database(url, "intake", check_connections=False)  # as service tests give it
        self.attempts = 0

    def _count(self, session) -> int:
        self.attempts += 1
        return session.scalar(select(func.count()).select_from(Profile))

    @rpc
    def count_profiles(self):
        with self.store.reading() as session:
            return self._count(session)

    @rpc
    def count_while_writing(self):
        with self.store.unit_of_work() as uow:
            return self._count(uow.session)


def test_a_read_that_lost_its_connection_is_read_once_more_and_a_write_is_not(intake_pg):
    """A write that lost its connection answers Unavailable (503 at the gateway)."""
    counter = Counter(intake_pg)
    assert counter.count_profiles() == 1  # the pool now holds a connection
    terminate_backends(intake_pg)
    counter.attempts = 0
    assert counter.count_profiles() == 1
    assert counter.attempts == 2
    terminate_backends(intake_pg)
    counter.attempts = 0
    with pytest.raises(Unavailable):
        counter.count_while_writing()
    assert counter.attempts == 1
    counter.store.dispose()


@pytest.fixture
def inventory_pg(migrated_pg):
    """Inventory's database on PostgreSQL, with the demo collections."""
    database = Database(migrated_pg("inventory"), "inventory")
    with database.unit_of_work() as uow:
        seed_collections(uow.session)
    yield database
    database.dispose()


def test_harvests_keep_their_renderings_across_killed_connections(
    container_factory, broker, inventory_pg
):
    """The running service keeps what a harvest rendered, in a transaction of its own, and
    answers the next harvests from it, rendering afresh only what changed, though its
    database connections were killed in between."""
    container_factory(InventoryService, broker).start()
    insert_items(inventory_pg, 3)

    def kept() -> dict[str, str]:
        with inventory_pg.reading() as session:
            return dict(session.execute(select(ItemRendering.item_id, ItemRendering.body)).all())

    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=15) as services:
        first = services.inventory.harvest(metadata_prefix="oai_dc", limit=10)["records"]
        assert kept() == {r["item_id"]: r["metadata"] for r in first}
        terminate_backends(inventory_pg.engine.url.render_as_string(hide_password=False))
        assert services.inventory.harvest(metadata_prefix="oai_dc", limit=10)["records"] == first
        with inventory_pg.unit_of_work() as uow:
            uow.session.get(Item, "item0001").record = {"title": ["Corrected"]}
        terminate_backends(inventory_pg.engine.url.render_as_string(hide_password=False))
        after = services.inventory.harvest(metadata_prefix="oai_dc", limit=10)["records"]
    assert "<dc:title>Corrected</dc:title>" in after[1]["metadata"]
    assert [after[0], after[2]] == [first[0], first[2]]
    assert kept()["item0001"] == after[1]["metadata"]


def test_a_search_answers_after_its_connections_were_killed(
    container_factory, broker, inventory_pg
):
    """A browse lists newest first with a read beside its count, on a connection of its
    own: both are fresh after the server dropped them."""
    container_factory(InventoryService, broker).start()
    insert_items(inventory_pg, 5)
    url = inventory_pg.engine.url.render_as_string(hide_password=False)
    browse = {"query": None, "year": None, "collection": "theses", "page": 1, "per_page": 3}
    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=15) as services:
        first = services.inventory.search_items(**browse)
        assert [item["id"] for item in first["items"]] == ["item0004", "item0003", "item0002"]
        for _ in range(2):
            terminate_backends(url)
            assert services.inventory.search_items(**browse) == first
