"""A gateway app on its own fresh PostgreSQL database, for tests of what the gateway does
alone: sign-in, sessions, rate limits, tokens and headers. No services are needed."""

import re

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from gateway.auth import identity
from lodge.migrations import upgrade

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
# no broker: two nodes that refuse, so a call fails at once, where a lone node is tried
# again after a 2 s pause (kombu's failover moves to the next node without one)
NO_BROKER = "amqp://guest:guest@127.0.0.1:1/;amqp://guest:guest@127.0.0.1:2/"


@pytest.fixture(scope="session")
def gateway_template(postgres_database):
    """A gateway database migrated and holding the three users every gateway app starts
    with, made once: each test's database is a copy (CREATE DATABASE … TEMPLATE), which
    spares each test the migrations and three Argon2 hashes, about 0.6 s."""
    url = postgres_database("gateway_template")
    upgrade("gateway", url)
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        for username, roles in (("pat", ["patron"]), ("ada", ["admin"]), ("alex", ["approver"])):
            identity.create_user(
                session, username, username.title(), f"{username}@x.edu", PASSWORD, [], roles
            )
    engine.dispose()  # a template is copied only while nobody is connected to it
    return url.rsplit("/", 1)[1]


@pytest.fixture
def gateway_app(lodge_env, postgres_database, gateway_template):
    url = postgres_database("gateway", template=gateway_template)
    lodge_env.setenv("LODGE_GATEWAY_DATABASE_URL", url)
    lodge_env.setenv("LODGE_AMQP_URI", NO_BROKER)
    from gateway.app import create_app

    app = create_app({"TESTING": True, "SESSION_COOKIE_SECURE": False})
    yield app
    app.extensions["lodge.database"].engine.dispose()


def page_csrf(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def sign_in(client, username, password=PASSWORD, address="10.0.0.1"):
    token = page_csrf(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )
