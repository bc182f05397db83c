"""Publishes the broker refuses (nacks), as it does for a queue whose cluster node stopped,
here made with a queue that takes nothing (`x-max-length: 0`, `reject-publish`)."""

import logging
import uuid

import pytest
from kombu import Connection, Exchange, Queue
from nameko.standalone.rpc import ClusterRpcClient

from gateway.rpc import BrokerUnavailable, RpcPool
from kernel.contracts.exceptions import NotFound
from services.intake.service import IntakeService
from tests.services.conftest import STUDENT
from tests.support.system import poll_until

RPC_EXCHANGE = Exchange("nameko-rpc", type="topic", durable=True)


def refusing_queue(connection: Connection, routing_key: str) -> None:
    Queue(
        f"refusing-{uuid.uuid4().hex[:8]}",
        exchange=RPC_EXCHANGE,
        routing_key=routing_key,
        durable=True,
        queue_arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
    )(connection.default_channel).declare()


def test_a_reply_the_broker_refuses_is_logged_and_the_service_serves_on(
    container_factory, broker, intake_db, caplog
):
    container_factory(IntakeService, broker).start()
    caller = uuid.uuid4().hex
    with Connection(broker["AMQP_URI"]) as connection:
        refusing_queue(connection, caller)
        connection.Producer().publish(
            {"args": [], "kwargs": {"actor": STUDENT, "deposit_id": "nope"}},
            exchange=RPC_EXCHANGE,
            routing_key="intake.get_deposit",
            reply_to=caller,
            correlation_id=uuid.uuid4().hex,
            serializer="json",
        )
    with caplog.at_level(logging.WARNING, logger="kernel.platform.messaging"):
        poll_until(
            lambda: any(f"the reply to {caller}" in r.getMessage() for r in caplog.records),
            timeout=15,
            description="the refused reply logged",
        )
    # nameko alone would have killed the service over it
    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=10) as rpc, pytest.raises(NotFound):
        rpc.intake.get_deposit(actor=STUDENT, deposit_id="nope")


def test_a_request_the_broker_refuses_answers_broker_unavailable(broker):
    service = f"refusing{uuid.uuid4().hex[:8]}"
    with Connection(broker["AMQP_URI"]) as connection:
        RPC_EXCHANGE(connection.default_channel).declare()
        refusing_queue(connection, f"{service}.*")
    pool = RpcPool(broker["AMQP_URI"], size=1, timeout=10)
    try:
        with pytest.raises(BrokerUnavailable, match="refused"), pool.client() as services:
            getattr(services, service).anything()
    finally:
        pool.close()
