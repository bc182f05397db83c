"""An RPC request the broker delivers again (its connection broke while it ran, as when a
cluster node stops) is not carried out twice; it answers its first reply instead."""

import uuid

from kombu import Connection, Exchange, Queue
from nameko.standalone.rpc import ClusterRpcClient

from kernel.platform.messaging import CALL_HEADER
from services.intake.service import IntakeService
from tests.services.conftest import STUDENT, THESIS_METADATA

RPC_EXCHANGE = Exchange("nameko-rpc", type="topic", durable=True)


def deliver(amqp_uri: str, correlation_ids: list[str], headers: dict | None = None) -> list:
    """A create_deposit request sent once per correlation id; the replies, in order."""
    caller = uuid.uuid4().hex
    replies = Queue(
        f"replies-{caller}", exchange=RPC_EXCHANGE, routing_key=caller, auto_delete=True
    )
    with Connection(amqp_uri) as connection:
        inbox = connection.SimpleQueue(replies)
        try:
            for correlation_id in correlation_ids:
                connection.Producer().publish(
                    {
                        "args": [],
                        "kwargs": {
                            "actor": STUDENT,
                            "profile_id": "thesis",
                            "metadata": {**THESIS_METADATA, "title": f"Repeated {caller}"},
                        },
                    },
                    exchange=RPC_EXCHANGE,
                    routing_key="intake.create_deposit",
                    reply_to=caller,
                    correlation_id=correlation_id,
                    headers=headers or {},
                    serializer="json",
                )
            answers = []
            for _ in correlation_ids:
                message = inbox.get(timeout=15)
                message.ack()
                answers.append(message.payload)
            return answers
        finally:
            inbox.close()


def titles(amqp_uri: str) -> list[str]:
    with ClusterRpcClient(uri=amqp_uri, timeout=10) as rpc:
        page = rpc.intake.list_deposits(actor=STUDENT, per_page=100)
    return [deposit["title"] for deposit in page["items"]]


def test_a_request_delivered_again_creates_one_deposit(container_factory, broker, intake_db):
    container_factory(IntakeService, broker).start()
    call = str(uuid.uuid4())
    # both may run at once (four workers): either finds the other's record
    answers = deliver(broker["AMQP_URI"], [call, call])
    made, again = answers
    assert made["error"] is None and made["result"]["status"] == "draft"
    assert again == made
    assert titles(broker["AMQP_URI"]).count(made["result"]["title"]) == 1


def test_a_forged_call_header_does_not_stop_another_request(container_factory, broker, intake_db):
    """The id comes from the request itself: a caller naming another request's id in the
    header nameko turns into context data still has its own request carried out."""
    container_factory(IntakeService, broker).start()
    done = str(uuid.uuid4())
    deliver(broker["AMQP_URI"], [done])
    (answer,) = deliver(broker["AMQP_URI"], [str(uuid.uuid4())], headers={CALL_HEADER: done})
    assert answer["error"] is None and answer["result"]["status"] == "draft"
