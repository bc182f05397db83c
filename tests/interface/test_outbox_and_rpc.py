"""The outbox relay, RPC contracts and the declared topology, on real RabbitMQ."""

import json

import pytest
from amqp.exceptions import NotFound as NotFoundOnBroker
from kombu import Connection, Exchange, Queue
from nameko.standalone.events import get_event_exchange
from nameko.standalone.rpc import ClusterRpcClient
from nameko.testing.services import entrypoint_waiter

from kernel.contracts.cloudevents import event_type
from kernel.contracts.events import new_event
from kernel.contracts.exceptions import InvalidInput, NotFound
from kernel.platform.config import get_settings
from kernel.platform.db import Database, MessagingBase
from kernel.platform.messaging import OutboxRelay
from kernel.platform.observability import identifier
from lodge.topology import declare
from services.intake.service import IntakeService
from services.validation.service import ValidationService
from tests.services.conftest import PDF, STUDENT, THESIS_METADATA
from tests.support.outbox import queue_status_changes
from tests.support.system import poll_until

SUBMITTED = event_type("intake", "deposit_submitted")
STATUS_CHANGED = event_type("intake", "deposit_status_changed")


def submit_thesis(rpc):
    from kernel.platform.storage import get_storage

    deposit = rpc.intake.create_deposit(
        actor=STUDENT, profile_id="thesis", metadata=THESIS_METADATA
    )
    stored = get_storage().save(f"staging/{deposit['id']}/f1", iter([PDF]))
    rpc.intake.add_file(
        actor=STUDENT,
        deposit_id=deposit["id"],
        file={
            "id": "f1",
            "filename": "moss.pdf",
            "size": stored.size,
            "sha256": stored.sha256,
            "md5": stored.md5,
            "media_type": "application/pdf",
            "storage_key": stored.key,
        },
    )
    rpc.intake.update_deposit(actor=STUDENT, deposit_id=deposit["id"], accept_terms=True)
    return rpc.intake.submit(actor=STUDENT, deposit_id=deposit["id"])


def test_domain_errors_cross_rpc_as_themselves(container_factory, broker, intake_db):
    container_factory(IntakeService, broker).start()
    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=10) as rpc:
        with pytest.raises(InvalidInput) as error:
            rpc.intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata={"hue": "red"})
        assert error.value.fields == {"metadata": {"hue": ["is not a field of this profile"]}}
        with pytest.raises(InvalidInput) as error:
            rpc.intake.get_deposit(actor=STUDENT)
        assert error.value.fields == {"deposit_id": ["Missing data for required field."]}
        with pytest.raises(NotFound):
            rpc.intake.get_deposit(actor=STUDENT, deposit_id="nope")


def test_an_event_published_before_its_consumer_starts_is_not_lost(
    container_factory, broker, intake_db, migrated
):
    """`lodge migrate` declares every queue, so events wait for services that start later."""
    migrated("validation")
    declare(broker["AMQP_URI"])
    intake = container_factory(IntakeService, broker)
    intake.start()
    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=10) as rpc:
        deposit = submit_thesis(rpc)
    validation = container_factory(ValidationService, broker)
    with entrypoint_waiter(validation, "on_deposit_submitted", timeout=15):
        validation.start()
    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=10) as rpc:
        report = rpc.validation.get_report(deposit_id=deposit["id"], revision=1)
    assert report["passed"] is True


def test_lifecycle_events_go_out_as_cloudevents(container_factory, broker, intake_db):
    watcher = Queue(
        "campus-watcher",
        exchange=Exchange("lodge.events", type="topic", durable=True),
        routing_key="intake.#",
        durable=False,
        auto_delete=False,
    )
    with Connection(broker["AMQP_URI"]) as connection:
        watcher(connection.channel()).declare()
    container_factory(IntakeService, broker).start()
    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=10) as rpc:
        deposit = submit_thesis(rpc)
    received = {}
    with Connection(broker["AMQP_URI"]) as connection:
        queue = connection.SimpleQueue(watcher)
        while set(received) != {SUBMITTED, STATUS_CHANGED}:
            message = queue.get(block=True, timeout=15)
            message.ack()
            assert message.content_type == "application/cloudevents+json"
            event = json.loads(message.body)
            received[event["type"]] = event
        queue.close()
    submitted = received[SUBMITTED]
    base_url = get_settings().site.base_url
    assert submitted["specversion"] == "1.0"
    assert submitted["source"] == f"{base_url}/lodge/intake"
    assert submitted["subject"] == deposit["id"]
    assert submitted["dataschema"] == f"{base_url}/schemas/events/{SUBMITTED}.json"
    assert submitted["time"] == submitted["data"]["occurred_at"]
    assert submitted["data"]["deposit"]["revision"] == 1
    assert "lodgesystem" not in submitted  # no campus system made it
    # the submitting worker's correlation id, as an extension attribute
    assert identifier(submitted["correlationid"])
    assert received[STATUS_CHANGED]["correlationid"] == (submitted["correlationid"])


def test_an_event_about_a_systems_deposit_also_goes_out_on_its_keys(broker):
    """A campus system follows the deposits it made on `system.<name>.…` alone (the only
    keys its broker user may bind), the event naming it and its request."""
    declare(broker["AMQP_URI"])
    exchange = Exchange("lodge.events", type="topic", durable=True)
    with Connection(broker["AMQP_URI"]) as connection:
        channel = connection.channel()
        followed = Queue("campus.thesis-flow.events", exchange, "system.thesis-flow.#")(channel)
        everything = Queue("all-events", exchange, "intake.#")(channel)
        for queue in (followed, everything):
            queue.declare()
        relay = OutboxRelay(None, "intake", broker["AMQP_URI"])
        origin = {"system": "thesis-flow", "source": "urn:tf", "event_id": "t-1", "mode": "submit"}
        person = {"id": "u1", "name": "Pat", "email": "pat@example.org", "locale": "en"}
        for made_by in (origin, None):
            relay.publish(
                "deposit_status_changed",
                new_event(
                    "intake",
                    "deposit_status_changed",
                    deposit_id="d1",
                    revision=1,
                    to_status="submitted",
                    actor=person,
                    depositor=person,
                    origin=made_by,
                ),
            )
        message = poll_until(lambda: followed.get(no_ack=True), timeout=15)
        event = json.loads(message.body)
        assert (
            message.delivery_info["routing_key"]
            == "system.thesis-flow.intake.deposit_status_changed"
        )
        assert (event["type"], event["lodgesystem"], event["lodgerequestid"]) == (
            STATUS_CHANGED,
            "thesis-flow",
            "t-1",
        )
        both = [poll_until(lambda: everything.get(no_ack=True), timeout=15) for _ in range(2)]
        assert [json.loads(m.body).get("lodgesystem") for m in both] == ["thesis-flow", None]
        assert followed.get(no_ack=True) is None  # the other deposit is nobody's


def test_a_running_service_keeps_touching_its_liveness_file(
    container_factory, broker, intake_db, lodge_env, tmp_path
):
    """What the Kubernetes liveness probe reads (deploy/k8s): the file's age."""
    alive = tmp_path / "alive"
    lodge_env.setenv("LODGE_LIVENESS_FILE", str(alive))
    get_settings.cache_clear()
    container_factory(IntakeService, broker).start()
    first = poll_until(
        lambda: alive.exists() and alive.stat().st_mtime_ns,
        timeout=15,
        description="the liveness file",
    )
    poll_until(
        lambda: alive.stat().st_mtime_ns > first,
        timeout=15,
        description="a second touch of the liveness file",
    )


def test_a_round_the_broker_refuses_leaves_its_rows_for_the_next(broker, tmp_path):
    """A round's messages are sent together and confirmed together, and its rows deleted
    only once every one is confirmed: a publish the broker refuses (to an exchange that is
    not there) fails the round and keeps every row; the next round publishes them."""
    database = Database(f"sqlite:///{tmp_path / 'outbox.db'}", "intake")
    MessagingBase.metadata.create_all(database.engine)
    exchange = Exchange("lodge.events", type="topic", durable=True)
    with Connection(broker["AMQP_URI"]) as connection:
        Queue("relay-watcher", exchange, "intake.#")(connection.channel()).declare()
    queue_status_changes(database, 3)
    relay = OutboxRelay(database, "intake", broker["AMQP_URI"])
    relay.exchange = Exchange("nowhere.events", type="topic")  # declared by nobody
    with pytest.raises(NotFoundOnBroker):
        relay.flush()
    assert database.outbox_backlog()[0] == 3
    relay.exchange = get_event_exchange("intake")
    assert relay.flush() == 3
    assert database.outbox_backlog()[0] == 0
    with Connection(broker["AMQP_URI"]) as connection:
        queue = connection.SimpleQueue(Queue("relay-watcher", exchange, "intake.#"))
        subjects = sorted(json.loads(queue.get(timeout=15).body)["subject"] for _ in range(3))
        queue.close()
    assert subjects == ["d0", "d1", "d2"]
    database.dispose()
