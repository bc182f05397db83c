"""Interface tests: services in nameko containers on a real RabbitMQ (a fresh vhost each)."""

import pytest
from kombu import Connection, Queue

from kernel.contracts.profiles import ProfileDefinitionSchema
from kernel.platform.db import Database
from lodge.migrations import upgrade
from services.intake.deposits import save_profile
from services.intake.seed import DEMO_PROFILES, SYSTEM_ACTOR
from tests.support.vhost_pool import VhostPool, amqp_uri

# quick retries: the topology's retry queues follow these
QUICK_RETRIES = {"LODGE_HANDLER_MAX_ATTEMPTS": "3", "LODGE_HANDLER_RETRY_DELAY_MS": "50"}


@pytest.fixture(scope="session")
def declared_vhosts():
    with VhostPool(QUICK_RETRIES) as pool:
        yield pool


@pytest.fixture
def broker(declared_vhosts, lodge_env):
    """Settings and nameko config pointing at this test's fresh vhost, with quick retries,
    and the topology `lodge migrate` declares (services declare no shared exchange)."""
    from kernel.platform.config import get_settings

    for key, value in QUICK_RETRIES.items():
        lodge_env.setenv(key, value)
    vhost = declared_vhosts.take()
    lodge_env.setenv("LODGE_AMQP_URI", amqp_uri(vhost))
    # importing the services may have read the settings before these
    get_settings.cache_clear()
    yield {"AMQP_URI": amqp_uri(vhost), "max_workers": 4}
    declared_vhosts.drop(vhost)


@pytest.fixture
def migrated(broker):
    """Migrate an owner's SQLite database in the scratch data folder."""
    from kernel.platform.config import get_settings

    def migrate(owner: str) -> str:
        url = get_settings().database_url(owner)
        upgrade(owner, url)
        return url

    return migrate


@pytest.fixture
def migrated_pg(broker, lodge_env, postgres_database):
    """Migrate an owner's database on a fresh PostgreSQL one, which its setting names."""
    from kernel.platform.config import get_settings

    def migrate(owner: str) -> str:
        url = postgres_database(owner)
        lodge_env.setenv(f"LODGE_{owner.upper()}_DATABASE_URL", url)
        get_settings.cache_clear()
        upgrade(owner, url)
        return url

    return migrate


@pytest.fixture
def intake_db(migrated):
    """Intake's database with the demo thesis profile."""
    url = migrated("intake")
    with Database(url, "intake").unit_of_work() as uow:
        save_profile(
            uow,
            SYSTEM_ACTOR,
            "thesis",
            ProfileDefinitionSchema().load(DEMO_PROFILES["thesis"]),
            create=True,
        )
    return url


def wait_for_message(amqp_uri: str, queue_name: str, timeout: float = 15):
    """Block until a message is in `queue_name`, then take it (acknowledged). The queue is
    `lodge migrate`'s, so not declared again here (with other arguments)."""
    with Connection(amqp_uri) as connection:
        queue = connection.SimpleQueue(Queue(queue_name, no_declare=True))
        try:
            message = queue.get(block=True, timeout=timeout)
            message.ack()
            return message
        finally:
            queue.close()
