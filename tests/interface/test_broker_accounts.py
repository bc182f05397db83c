"""Each process's own broker account (`lodge broker-users`), on the real RabbitMQ: it may
publish only its own events and use only its own queues; a campus account only reads."""

import uuid
from urllib.parse import quote

import pytest
import requests
from amqp.exceptions import AccessRefused
from kombu import Connection
from nameko.amqp.publish import Publisher
from sqlalchemy import select

from kernel.contracts.events import new_event
from kernel.platform.config import DATABASE_OWNERS, get_settings, nameko_config
from kernel.platform.db import Database, DeadLetter
from kernel.platform.storage import get_storage
from lodge import broker_users
from services.inventory.records import seed_collections
from services.inventory.service import InventoryService
from tests.support.system import RABBIT_API, RABBIT_AUTH, poll_until

INVENTORY_QUEUE = "evt-approval-deposit_approved--inventory.on_deposit_approved"


@pytest.fixture
def accounts(broker, lodge_env):
    """Every process on its own account (names unique to this test), and one campus account."""
    run = uuid.uuid4().hex[:8]
    vhost = broker["AMQP_URI"].rsplit("/", 1)[1]
    for process in (*DATABASE_OWNERS, "inbox"):
        lodge_env.setenv(
            f"LODGE_AMQP_URI_{process.upper()}",
            f"amqp://lodge-{process}-{run}:pw-{process}-{run}@127.0.0.1:5672/{vhost}",
        )
    get_settings.cache_clear()
    found = broker_users.accounts(broker["AMQP_URI"], (f"t{run}",))
    broker_users.apply(broker["AMQP_URI"], broker_users.management_url(broker["AMQP_URI"]), found)
    uris = {
        account.label: f"amqp://{account.user}:{quote(account.password, safe='')}"
        f"@127.0.0.1:5672/{vhost}"
        for account in found
    }
    uris["campus"] = uris.pop(f"campus:t{run}")
    uris["campus_name"] = f"t{run}"
    yield uris
    for account in found:
        requests.delete(f"{RABBIT_API}/users/{account.user}", auth=RABBIT_AUTH, timeout=10)


def attempt(uri: str, action) -> None:
    """Run `action(channel)` and wait for the broker's verdict (a refusal closes the channel)."""
    with Connection(uri) as connection:
        channel = connection.channel()
        channel.confirm_select()
        action(channel)
        channel.basic_qos(0, 1, False)  # a round trip: an earlier refusal surfaces here


def publish(exchange: str, routing_key: str, body: bytes = b"{}"):
    return lambda channel: channel.basic_publish(
        channel.prepare_message(body), exchange=exchange, routing_key=routing_key
    )


def test_the_inbox_reads_requests_and_answers_systems_only(accounts):
    attempt(accounts["inbox"], lambda channel: channel.basic_get("lodge.inbox.requests"))
    attempt(accounts["inbox"], publish("lodge.events", "system.thesis.reply"))
    attempt(accounts["inbox"], publish("lodge.dead-letter", "inbox"))
    for exchange, key in (
        ("lodge.events", "system.thesis.intake.deposit_submitted"),
        ("lodge.events", "intake.deposit_submitted"),
        ("lodge.inbox", "thesis.deposit"),
        ("intake.events", "deposit_submitted"),
    ):
        with pytest.raises(AccessRefused):
            attempt(accounts["inbox"], publish(exchange, key))
    with pytest.raises(AccessRefused):
        attempt(accounts["inbox"], lambda channel: channel.queue_delete("lodge.inbox.requests"))


def test_a_service_publishes_its_own_events(accounts):
    attempt(accounts["validation"], publish("validation.events", "deposit_validated"))
    attempt(accounts["validation"], publish("lodge.events", "validation.deposit_validated"))
    # for the campus system whose deposit it is
    attempt(
        accounts["validation"],
        publish("lodge.events", "system.thesis-flow.validation.deposit_validated"),
    )
    # its own delay queues, one per backoff step (50 ms, then 100 ms: LODGE_HANDLER_*)
    attempt(accounts["inventory"], publish("lodge.retry", f"{INVENTORY_QUEUE}.retry.50ms"))
    attempt(accounts["inventory"], publish("lodge.retry", f"{INVENTORY_QUEUE}.retry.100ms"))


@pytest.mark.parametrize(
    "routing_key",
    [
        f"{INVENTORY_QUEUE}.retry",  # the one shared retry queue of before
        f"{INVENTORY_QUEUE}.retry.200ms",  # a delay the settings do not call for
        f"{INVENTORY_QUEUE}.retry.#",
    ],
)
def test_a_service_retries_only_through_its_own_delay_queues(accounts, routing_key):
    with pytest.raises(AccessRefused):
        attempt(accounts["inventory"], publish("lodge.retry", routing_key))


@pytest.mark.parametrize(
    "exchange,routing_key",
    [
        ("approval.events", "deposit_approved"),  # another service's exchange
        ("validation.events", "deposit_approved"),  # its own exchange, another's event
        ("lodge.events", "approval.deposit_approved"),  # a CloudEvent in another's name
        ("lodge.events", "system.thesis-flow.approval.deposit_approved"),  # the same, for a system
        ("lodge.events", "system.thesis-flow.reply"),  # a reply to a system's request
        ("lodge.events", "system.a.b.validation.deposit_validated"),  # no system's name
        ("", INVENTORY_QUEUE),  # straight into inventory's queue
        ("lodge.retry", f"{INVENTORY_QUEUE}.retry.50ms"),  # through inventory's retry queue
        ("nameko-rpc", "intake.submit"),  # an RPC only the gateway makes
    ],
)
def test_validation_cannot_forge_what_others_publish(accounts, exchange, routing_key):
    with pytest.raises(AccessRefused):
        attempt(accounts["validation"], publish(exchange, routing_key))


def test_the_gateway_only_calls_services(accounts):
    attempt(accounts["gateway"], publish("nameko-rpc", "intake.get_deposit"))
    for exchange, routing_key in [
        ("intake.events", "deposit_submitted"),
        ("lodge.events", "intake.deposit_submitted"),
        ("nameko-rpc", str(uuid.uuid4())),
    ]:  # a forged reply
        with pytest.raises(AccessRefused):
            attempt(accounts["gateway"], publish(exchange, routing_key))


@pytest.mark.parametrize(
    "action",
    [
        lambda channel: channel.basic_consume(INVENTORY_QUEUE),  # another's queue
        lambda channel: channel.basic_consume("lodge.dead-letter.inventory"),
        # its own dead letters are read only: declared and bound by `lodge migrate`
        lambda channel: channel.queue_declare("lodge.dead-letter.validation", durable=True),
        lambda channel: channel.exchange_declare("approval.events", "topic", durable=True),
        lambda channel: channel.exchange_delete("lodge.events"),
        lambda channel: channel.queue_declare("rpc-inventory", durable=True),
        # its own queue bound to every approval decision
        lambda channel: channel.queue_bind(
            "evt-intake-deposit_submitted--validation.on_deposit_submitted", "approval.events", "#"
        ),
    ],
    ids=[
        "consume",
        "consume-dead-letters",
        "declare-dead-letters",
        "declare-exchange",
        "delete-exchange",
        "declare-queue",
        "bind",
    ],
)
def test_validation_cannot_use_what_is_not_its_own(accounts, action):
    with pytest.raises(AccessRefused):
        attempt(accounts["validation"], action)


def test_a_service_consumes_its_own_dead_letters(accounts):
    own = "lodge.dead-letter.validation"
    attempt(accounts["validation"], lambda channel: channel.basic_consume(own))


def test_inventory_may_bind_its_queue_only_to_the_event_it_handles(accounts):
    attempt(
        accounts["inventory"],
        lambda channel: channel.queue_bind(INVENTORY_QUEUE, "approval.events", "deposit_approved"),
    )
    with pytest.raises(AccessRefused):
        attempt(
            accounts["inventory"],
            lambda channel: channel.queue_bind(INVENTORY_QUEUE, "approval.events", "#"),
        )


def test_a_campus_account_reads_lodge_events_and_publishes_nothing(accounts):
    queue = f"campus.{accounts['campus_name']}.deposits"

    def subscribe(channel):
        channel.queue_declare(queue, durable=True, auto_delete=False)
        channel.queue_bind(queue, "lodge.events", "intake.#")

    attempt(accounts["campus"], subscribe)
    attempt(accounts["intake"], publish("lodge.events", "intake.deposit_submitted", b'"hello"'))
    with Connection(accounts["campus"]) as connection:
        channel = connection.channel()
        message = poll_until(
            lambda: channel.basic_get(queue, no_ack=True),
            timeout=15,
            description="the event reaching the campus queue",
        )
        assert message.body == b'"hello"'
    for action in [
        publish("lodge.events", "intake.deposit_submitted"),
        publish("intake.events", "deposit_submitted"),
        publish("", queue),
        lambda channel: channel.queue_declare("elsewhere", durable=True),
        lambda channel: channel.basic_consume(INVENTORY_QUEUE),
        lambda channel: channel.queue_bind(queue, "approval.events", "#"),
    ]:
        with pytest.raises(AccessRefused):
            attempt(accounts["campus"], action)


def test_applying_again_keeps_a_made_up_password_and_every_limit(broker, accounts):
    shared = broker["AMQP_URI"]
    again = broker_users.accounts(shared, (accounts["campus_name"],))
    assert broker_users.apply(shared, broker_users.management_url(shared), again) == []
    attempt(
        accounts["campus"],
        lambda channel: channel.queue_declare(
            f"campus.{accounts['campus_name']}.again", durable=True, auto_delete=False
        ),
    )
    with pytest.raises(AccessRefused):
        attempt(accounts["campus"], publish("lodge.events", "intake.deposit_submitted"))
    with pytest.raises(AccessRefused):
        attempt(accounts["validation"], publish("validation.events", "deposit_approved"))


@pytest.fixture
def inventory_on_its_account(container_factory, broker, accounts, migrated):
    """Inventory in a nameko container, connected as its own broker account; its database."""

    with Database(migrated("inventory"), "inventory").unit_of_work() as uow:
        seed_collections(uow.session)
    container = container_factory(InventoryService, {**broker, **nameko_config("inventory")})
    container.start()
    return Database(get_settings().database_url("inventory"), "inventory")


def parked_letter(database):
    """The reason and attempts of the dead letter inventory parked, consuming its
    dead-letter queue on its own account."""

    def first():
        with database.reading() as session:
            return session.execute(select(DeadLetter.reason, DeadLetter.attempts)).first()

    return poll_until(first, timeout=30, description="a dead letter parked")


def publish_approval(amqp_uri: str, deposit: dict) -> None:
    """As approval would, with the shared account: whoever can still publish it."""
    event = new_event(
        "approval",
        "deposit_approved",
        deposit_id=deposit["id"],
        revision=1,
        deposit=deposit,
        decision={
            "decision": "approve",
            "actor": {"id": "system"},
            "at": "2026-11-29T10:00:00+00:00",
        },
    )
    Publisher(amqp_uri).publish(event, exchange="approval.events", routing_key="deposit_approved")


def test_a_forged_approval_naming_other_files_is_dead_lettered_and_touches_nothing(
    broker, inventory_on_its_account
):
    """Whoever can still publish deposit_approved cannot make inventory copy and delete
    files outside that deposit's staging area."""
    storage = get_storage()
    victim = storage.save("permanent/d-archived/f1", iter([b"%PDF-1.4 archived"]))
    publish_approval(broker["AMQP_URI"], deposit_with("d-forged", victim))
    letter = parked_letter(inventory_on_its_account)
    assert "outside the deposit's staging area" in letter.reason
    assert letter.attempts == 1
    assert storage.exists(victim.key)
    assert not storage.exists("permanent/d-forged/f1")


def test_a_service_on_its_own_account_retries_and_dead_letters(broker, inventory_on_its_account):
    """Retries go through lodge.retry and dead letters through lodge.dead-letter, both of
    which the account may publish on; neither needs the default exchange."""
    staged = get_storage().save("staging/d-bad/f1", iter([b"%PDF-1.4 staged"]))
    deposit = deposit_with("d-bad", staged)
    deposit["files"][0]["sha256"] = "0" * 64  # the copy will not match: FixityError
    publish_approval(broker["AMQP_URI"], deposit)
    letter = parked_letter(inventory_on_its_account)
    assert letter.attempts == 3
    assert "FixityError" in letter.reason


def deposit_with(deposit_id: str, stored) -> dict:
    return {
        "id": deposit_id,
        "revision": 1,
        "title": "A deposit",
        "profile": {
            "id": "thesis",
            "version": 1,
            "name": "Thesis",
            "fields": [],
            "file_rules": {},
            "approval": {"mode": "manual"},
            "target_collection": "theses",
            "access": "open",
        },
        "depositor": {"id": "u1"},
        "metadata": {},
        "files": [
            {
                "id": "f1",
                "filename": "a.pdf",
                "size": stored.size,
                "sha256": stored.sha256,
                "md5": stored.md5,
                "media_type": "application/pdf",
                "storage_key": stored.key,
            }
        ],
    }
