"""Root fixtures. Services run on eventlet, so the monkey patch comes before anything else."""

import eventlet

eventlet.monkey_patch()

import psycogreen.eventlet  # noqa: E402

psycogreen.eventlet.patch_psycopg()

import uuid  # noqa: E402
import warnings  # noqa: E402

import pytest  # noqa: E402

from tests.support.system import (  # noqa: E402
    PG_ADMIN_DSN,
    create_vhost,
    delete_vhost,
    pg_admin,
    pg_admin_each,
)

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)


def pytest_addoption(parser):
    parser.addoption(
        "--keep-artifacts",
        action="store_true",
        help="keep logs of end-to-end runs under test-artifacts/",
    )
    parser.addoption(
        "--soak-minutes",
        type=float,
        default=20.0,
        help="how long the soak test (tests/soak, marker `soak`) drives load",
    )


@pytest.fixture(scope="session")
def soak_minutes(request) -> float:
    return request.config.getoption("--soak-minutes")


@pytest.fixture(scope="session")
def postgres_database():
    """A factory of fresh, empty PostgreSQL databases, dropped at the end of the session."""
    created = []

    def create(label: str, template: str | None = None) -> str:
        """A new database, or a copy of the database `template` (which nobody may be
        connected to)."""
        name = f"lodge_test_{label}_{uuid.uuid4().hex[:8]}"
        pg_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        created.append(name)
        return PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"

    yield create
    pg_admin_each(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in created)


@pytest.fixture
def rabbit_vhost():
    """A fresh RabbitMQ virtual host, so tests never share queues with each other or a dev run."""
    name = f"lodge-test-{uuid.uuid4().hex[:10]}"
    try:
        # a creation that timed out here may still finish on a busy broker: deleted either way
        create_vhost(name)
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        delete_vhost(name)


@pytest.fixture
def lodge_env(tmp_path, monkeypatch):
    """Point Lodge's settings at a scratch data folder; tests add database and broker URLs."""
    from kernel.platform.config import get_settings

    monkeypatch.setenv("LODGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LODGE_SECRET_KEY", "test-secret-" + uuid.uuid4().hex)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def clamd(tmp_path_factory):
    """A private clamd on a local socket with a generated EICAR signature database."""
    from tests.support.clamd import ClamdProcess

    process = ClamdProcess(tmp_path_factory.mktemp("clamd")).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 endpoint (moto_server on a free port) for the whole session; see
    tests/support/s3.py. Take a bucket per test with `s3_endpoint.new_bucket()`."""
    from tests.support.s3 import S3Endpoint

    with S3Endpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def datacite_server():
    """A local DataCite (tests/support/datacite.py) for the whole session."""
    from tests.support.datacite import DataCiteServer

    with DataCiteServer() as server:
        yield server


@pytest.fixture
def datacite(datacite_server):
    """The session's local DataCite, answering well again after the test (which may have
    made it misbehave, or stopped it)."""
    yield datacite_server
    if datacite_server.process is None:
        datacite_server.start()
    datacite_server.misbehave("ok")
