"""Two instances of a service relay one outbox (PostgreSQL): each row goes out once."""

from kombu import Connection, Exchange, Queue
from sqlalchemy import func, select

from kernel.platform.db import Database, OutboxMessage
from kernel.platform.messaging import OutboxRelay
from lodge.migrations import upgrade
from tests.support.outbox import queue_status_changes

ROWS = 600  # three of a relay's batches


def test_a_relay_skips_the_rows_another_is_publishing(broker, postgres_database):
    url = postgres_database("relays")
    upgrade("intake", url)
    queue_status_changes(Database(url, "intake"), ROWS)
    with Connection(broker["AMQP_URI"]) as connection:
        relayed = Queue("relayed", Exchange("intake.events", type="topic", passive=True), "#")(
            connection.channel()
        )
        relayed.declare()
        # one Database each, as two processes have: their own pools and transactions
        first, second = (
            OutboxRelay(Database(url, "intake"), "intake", broker["AMQP_URI"]) for _ in "ab"
        )
        busy = Database(url, "intake")
        with busy.unit_of_work() as uow:
            # the first relay's batch, locked as while it waits for its confirms
            held = uow.session.scalars(
                select(OutboxMessage.id)
                .order_by(OutboxMessage.id)
                .limit(OutboxRelay.batch_size)
                .with_for_update()
            ).all()
            assert second.flush() == ROWS - len(held)
        assert first.flush() == len(held)
        assert first.flush() == second.flush() == 0

        deposits = []
        while (message := relayed.get(no_ack=True)) is not None:
            deposits.append(message.payload["deposit_id"])
        assert sorted(deposits) == sorted(f"d{number}" for number in range(ROWS))
        first.close()
        second.close()
    with Database(url, "intake").reading() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
