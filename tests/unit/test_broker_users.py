"""`lodge broker-users` (print mode): the definitions it prints, what it never prints, and
the clear refusals of bad input. Applying them to the real broker: tests/interface."""

import base64
import hashlib
import json
import re

import pytest
from click.testing import CliRunner

from kernel.platform.config import DATABASE_OWNERS, get_settings
from lodge.cli import main
from tests.support.system import free_port

SHARED = "amqp://admin:admin-secret@broker.example.edu:5672/lodge"


@pytest.fixture
def env(lodge_env):
    lodge_env.setenv("LODGE_AMQP_URI", SHARED)
    for owner in DATABASE_OWNERS:
        lodge_env.delenv(f"LODGE_AMQP_URI_{owner.upper()}", raising=False)
    get_settings.cache_clear()
    return lodge_env


def run(*args):
    return CliRunner().invoke(main, ["broker-users", *args])


def matches(password_hash: str, password: str) -> bool:
    raw = base64.b64decode(password_hash)
    return hashlib.sha256(raw[:4] + password.encode()).digest() == raw[4:]


def test_prints_definitions_with_hashes_and_never_a_given_password(env):
    env.setenv(
        "LODGE_AMQP_URI_INTAKE", "amqp://lodge-intake:intake-secret@broker.example.edu/lodge"
    )
    result = run("--campus", "library")
    assert result.exit_code == 0, result.stderr
    definitions = json.loads(result.stdout)
    users = {user["name"]: user for user in definitions["users"]}
    assert set(users) == {f"lodge-{owner}" for owner in DATABASE_OWNERS} | {
        "lodge-inbox",
        "campus-library",
    }
    assert matches(users["lodge-intake"]["password_hash"], "intake-secret")
    assert "intake-secret" not in result.stdout + result.stderr
    assert "admin-secret" not in result.stdout + result.stderr
    # the others' passwords are made up, so shown once, on stderr only
    generated = dict(re.findall(r"user (\S+), new password (\S+)", result.stderr))
    assert set(generated) == set(users) - {"lodge-intake"}
    for user, password in generated.items():
        assert matches(users[user]["password_hash"], password)
        assert password not in result.stdout
    assert {entry["vhost"] for entry in definitions["permissions"]} == {"lodge"}


def test_a_password_with_reserved_characters_is_taken_as_the_process_will_use_it(env):
    env.setenv(
        "LODGE_AMQP_URI_LETTERS", "amqp://lodge-letters:p%40ss%2Fw%3Ard@broker.example.edu/lodge"
    )
    users = {user["name"]: user for user in json.loads(run().stdout)["users"]}
    assert matches(users["lodge-letters"]["password_hash"], "p@ss/w:rd")


def test_applying_to_a_management_api_that_is_not_there_fails_clearly(env):
    result = run("--apply", "--management-url", f"http://127.0.0.1:{free_port()}/api")
    assert result.exit_code == 1
    assert "management API at http://127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_topic_permissions_cover_every_topic_exchange_an_account_may_write(env):
    """No topic permission on an exchange means every routing key is allowed there."""
    definitions = json.loads(run().stdout)
    topics = {(entry["user"], entry["exchange"]) for entry in definitions["topic_permissions"]}
    topic_exchanges = {f"{owner}.events" for owner in DATABASE_OWNERS} | {
        "lodge.events",
        "lodge.inbox",
        "lodge.retry",
        "nameko-rpc",
    }
    for entry in definitions["permissions"]:
        for exchange in topic_exchanges:
            if re.fullmatch(entry["write"], exchange) or re.fullmatch(entry["read"], exchange):
                assert (entry["user"], exchange) in topics, (entry["user"], exchange)


@pytest.mark.parametrize(
    "name", ["Library", "../x", "a.b", "a b", "x" * 41, "", "bad\x0bname", "-x"]
)
def test_a_bad_campus_name_is_refused_clearly(env, name):
    result = run("--campus", name)
    assert result.exit_code == 1, result.stdout
    assert "a campus consumer's name is" in result.stderr


@pytest.mark.parametrize(
    "uri,message",
    [
        ("amqp://lodge-intake@broker.example.edu/lodge", "names no user and password"),
        ("amqp://lodge-intake:pw@broker.example.edu/other", "is for virtual host 'other'"),
        ("amqp://admin:admin-secret@broker.example.edu/lodge", "share a broker user"),
    ],
)
def test_a_process_url_that_cannot_be_its_account_is_refused_clearly(env, uri, message):
    env.setenv("LODGE_AMQP_URI_INTAKE", uri)
    env.setenv("LODGE_AMQP_URI_APPROVAL", "amqp://admin:x@broker.example.edu/lodge")
    result = run()
    assert result.exit_code == 1, result.stdout
    assert message in result.stderr


def test_a_service_may_publish_to_the_delay_queues_its_retry_settings_call_for(env):
    """One delay queue per backoff step (100, 200, 400 ms here), matched exactly."""
    env.setenv("LODGE_HANDLER_MAX_ATTEMPTS", "4")
    env.setenv("LODGE_HANDLER_RETRY_DELAY_MS", "100")
    get_settings.cache_clear()
    definitions = json.loads(run().stdout)
    (retry,) = [
        entry
        for entry in definitions["topic_permissions"]
        if entry["user"] == "lodge-inventory" and entry["exchange"] == "lodge.retry"
    ]
    queue = "evt-approval-deposit_approved--inventory.on_deposit_approved"
    for delay in ("100ms", "200ms", "400ms"):
        assert re.fullmatch(retry["write"], f"{queue}.retry.{delay}")
    for other in (f"{queue}.retry", f"{queue}.retry.800ms", f"{queue}.retry.50ms", "#"):
        assert not re.fullmatch(retry["write"], other), other
    assert ".*" not in retry["write"]
    (inventory,) = [e for e in definitions["permissions"] if e["user"] == "lodge-inventory"]
    # lodge migrate declares the delay queues; the service only publishes to them
    assert not re.fullmatch(inventory["configure"], f"{queue}.retry.100ms")


def register_system(env, tmp_path, name: str, broker_user: str) -> None:
    """A campus system in a migrated gateway database, as the staff page registers one."""
    from gateway.models import CampusSystem, User
    from kernel.platform.db import Database
    from lodge.migrations import upgrade

    url = f"sqlite:///{tmp_path}/gateway.db"
    env.setenv("LODGE_GATEWAY_DATABASE_URL", url)
    get_settings.cache_clear()
    upgrade("gateway", url)
    database = Database(url, source="test")
    with database.unit_of_work() as uow:
        uow.session.add(User(id="u" * 32, username=name, name=name, email=f"{name}@x.edu"))
        uow.session.flush()
        uow.session.add(
            CampusSystem(
                id="s" * 32,
                name=name,
                label=name,
                user_id="u" * 32,
                broker_user=broker_user,
                allowed_hosts=[],
                sends_people=False,
            )
        )
    database.dispose()


def test_a_registered_campus_system_may_send_and_hear_only_its_own_keys(env, tmp_path):
    register_system(env, tmp_path, "thesis", "thesis-workflow")
    result = run()
    assert result.exit_code == 0, result.stderr
    definitions = json.loads(result.stdout)
    assert re.search(r"system:thesis: user thesis-workflow, new password \S+", result.stderr)
    (account,) = [e for e in definitions["permissions"] if e["user"] == "thesis-workflow"]
    topics = {
        entry["exchange"]: entry
        for entry in definitions["topic_permissions"]
        if entry["user"] == "thesis-workflow"
    }
    for key in ("thesis.deposit", "thesis.person"):
        assert re.fullmatch(topics["lodge.inbox"]["write"], key)
    for key in ("library.deposit", "thesis.other", "thesis.deposit.x", "#", "*.deposit"):
        assert not re.fullmatch(topics["lodge.inbox"]["write"], key), key
    assert re.fullmatch(topics["lodge.events"]["read"], "system.thesis.reply")
    assert re.fullmatch(topics["lodge.events"]["read"], "system.thesis.intake.deposit_submitted")
    for key in ("system.library.reply", "#", "intake.deposit_submitted", "system.*.reply"):
        assert not re.fullmatch(topics["lodge.events"]["read"], key), key
    assert not re.fullmatch(topics["lodge.events"]["write"], "system.thesis.reply")
    assert re.fullmatch(account["configure"], "campus.thesis.events")
    for queue in ("campus.library.events", "lodge.inbox.requests", "rpc-intake"):
        assert not re.fullmatch(account["configure"], queue), queue
        assert not re.fullmatch(account["read"], queue), queue
    assert re.fullmatch(account["write"], "lodge.inbox")
    assert not re.fullmatch(account["write"], "lodge.events")


def test_the_inbox_may_reply_to_any_system_and_nothing_else_on_lodge_events(env):
    definitions = json.loads(run().stdout)
    (events,) = [
        entry
        for entry in definitions["topic_permissions"]
        if entry["user"] == "lodge-inbox" and entry["exchange"] == "lodge.events"
    ]
    assert re.fullmatch(events["write"], "system.thesis.reply")
    for key in ("system.thesis.intake.deposit_submitted", "intake.deposit_submitted", "#"):
        assert not re.fullmatch(events["write"], key), key
    (inbox,) = [e for e in definitions["permissions"] if e["user"] == "lodge-inbox"]
    assert re.fullmatch(inbox["read"], "lodge.inbox.requests")
    assert not re.fullmatch(inbox["configure"], "lodge.inbox.requests")
