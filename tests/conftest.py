"""Root fixtures. Services run on eventlet, so the monkey patch comes before anything else."""
import eventlet

eventlet.monkey_patch()

import psycogreen.eventlet  # noqa: E402

psycogreen.eventlet.patch_psycopg()

import os  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402

import psycopg2  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)

PG_ADMIN_DSN = os.environ.get("LODGE_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBIT_API = os.environ.get("LODGE_TEST_RABBIT_API", "http://127.0.0.1:15672/api")
RABBIT_AUTH = ("guest", "guest")


def pytest_addoption(parser):
    parser.addoption("--keep-artifacts", action="store_true",
                     help="keep logs of end-to-end runs under test-artifacts/")


def _pg_admin(sql: str) -> None:
    connection = psycopg2.connect(PG_ADMIN_DSN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@pytest.fixture(scope="session")
def postgres_database():
    """A factory of fresh, empty PostgreSQL databases, dropped at the end of the session."""
    created = []

    def create(label: str) -> str:
        name = f"lodge_test_{label}_{uuid.uuid4().hex[:8]}"
        _pg_admin(f'CREATE DATABASE "{name}"')
        created.append(name)
        return PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"

    yield create
    for name in created:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def rabbit_vhost():
    """A fresh RabbitMQ virtual host, so tests never share queues with each other or a dev run."""
    name = f"lodge-test-{uuid.uuid4().hex[:10]}"
    response = requests.put(f"{RABBIT_API}/vhosts/{name}", auth=RABBIT_AUTH, timeout=10)
    response.raise_for_status()
    requests.put(f"{RABBIT_API}/permissions/{name}/guest", auth=RABBIT_AUTH, timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    requests.delete(f"{RABBIT_API}/vhosts/{name}", auth=RABBIT_AUTH, timeout=30)


@pytest.fixture
def lodge_env(tmp_path, monkeypatch):
    """Point Lodge's settings at a scratch data folder; tests add database and broker URLs."""
    from services.common.config import get_settings

    monkeypatch.setenv("LODGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LODGE_SECRET_KEY", "test-secret-" + uuid.uuid4().hex)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
