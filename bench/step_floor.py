"""The floor of a pipeline step: the CPU one event costs when it is handled the way Lodge
handles every event, with nothing else done.

A deposit travels through Lodge as events and RPCs between services. However little a
step does, it is carried the same way: a message consumed, checked against its contract and
acknowledged (`ReliableEventHandler`); the step recorded as handled (`first_time`, the
idempotency row) and its next event written to the outbox in the same transaction; the
relay taking that row (`SKIP LOCKED`), publishing the event and its CloudEvent with
confirms, and deleting it. This bench runs chains of such steps through one nameko
service, on a vhost and a PostgreSQL database of their own, in two ways:

- `messaging`: the event handled by the same entrypoint, its next event dispatched by
  nameko straight away (confirmed): the floor of the messaging alone, no database;
- `guarantees`: the step as above (idempotency row, outbox, relay, CloudEvent), with
  nothing else in its transaction.

Every event is a real `intake.deposit_status_changed`, contract and all. For each way it
prints the CPU milliseconds an event costs the service's process, PostgreSQL's backends
and the machine's RabbitMQ node (by its OS process: run it on an idle machine), and sets
that beside the events a deposit takes.

    python bench/step_floor.py --chains 40 --hops 100
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

KINDS = ("messaging", "guarantees")
SERVICE = "intake"  # the events are intake's, so their real contract applies
EVENT = "deposit_status_changed"
QUEUE = f"evt-{SERVICE}-{EVENT}--{SERVICE}.step"  # lodge/topology.py's name for the handler
# what the last step of a chain sends instead: an intake event (so it has a CloudEvents
# type) that no handler in the bench's vhost consumes; only the bench's queue takes it
DONE = "deposit_withdrawn"
# a deposit's events, each relayed from an outbox with its CloudEvent: the CloudEvents per
# deposit that bench/scaleout.py counts (docs/capacity.md, "What a deposit costs"); its
# submit RPC and the events two services handle come on top
EVENTS_PER_DEPOSIT = 10
TWO_CORES_AT_40 = 2 * 1000 / 40  # ms of CPU a deposit may cost for 40 a second on two cores


def service_class(kind: str, hops: int):
    """The nameko service of one way, made on demand: its imports need the settings set."""
    from nameko.events import EventDispatcher

    from kernel.contracts.events import dedupe_key
    from kernel.platform.dependencies import Store
    from kernel.platform.messaging import handles_event

    class FloorService:
        name = SERVICE
        store = Store()
        dispatch = EventDispatcher()

        @handles_event(SERVICE, EVENT)
        def step(self, event):
            last = event["revision"] >= hops
            following = {**event, "revision": event["revision"] + 1, "event_id": uuid.uuid4().hex}
            following = json.loads(json.dumps(following, default=str))
            if kind == "messaging":
                self.dispatch(DONE if last else EVENT, following)
                return
            with self.store.unit_of_work() as uow:
                if uow.first_time(dedupe_key(SERVICE, EVENT, event)):
                    uow.emit(DONE if last else EVENT, following)

    return FloorService


def first_event(chain: int) -> dict:
    from kernel.contracts.events import new_event

    person = {"id": f"u-{chain}", "name": f"Depositor {chain}", "email": "", "locale": "en"}
    return json.loads(
        json.dumps(
            new_event(
                SERVICE,
                EVENT,
                deposit_id=uuid.uuid4().hex,
                revision=1,
                from_status="submitted",
                to_status="in_review",
                actor=person,
                title=f"Bench deposit {chain}",
                depositor=person,
            ),
            default=str,
        )
    )


def serve(kind: str, hops: int) -> None:
    """The service process, set up as `lodge service` sets one up; runs until SIGTERM."""
    import eventlet

    eventlet.monkey_patch()
    import nameko
    import psycogreen.eventlet
    from nameko.runners import ServiceRunner

    from kernel.platform.config import nameko_config

    psycogreen.eventlet.patch_psycopg()
    nameko.config.setup(nameko_config(SERVICE))
    runner = ServiceRunner()
    runner.add_service(service_class(kind, hops))
    runner.start()
    runner.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid() -> int | None:
    """The machine's RabbitMQ node (the Debian package's, at 5672), not one a test started."""
    found = subprocess.run(["pgrep", "beam.smp"], capture_output=True, text=True)
    for pid in found.stdout.split():
        with contextlib.suppress(OSError):
            if b"/var/lib/rabbitmq" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return int(pid)
    return None


def run(kind: str, args: argparse.Namespace, amqp_uri: str, database_url: str) -> dict[str, float]:
    import psycopg2
    from kombu import Connection, Exchange, Producer, Queue

    from lodge.topology import declare
    from tests.support.system import without_lodge_settings

    settings = {"LODGE_AMQP_URI": amqp_uri, f"LODGE_{SERVICE.upper()}_DATABASE_URL": database_url}
    env = without_lodge_settings(**settings)
    declare(amqp_uri, [service_class(kind, args.hops)])
    events = Exchange(f"{SERVICE}.events", type="topic", durable=True)
    total = args.chains * args.hops
    with Connection(amqp_uri) as connection, psycopg2.connect(database_url) as database:
        database.autocommit = True
        # one message a chain, when it is done: the bench adds no work to every step
        done = Queue(f"floor-done-{kind}", exchange=events, routing_key=DONE, auto_delete=True)
        done(connection.default_channel).declare()
        service = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--hops", str(args.hops)],
            env=env,
            cwd=REPO_ROOT,
        )
        try:
            wait_for_consumer(connection, service)
            broker = broker_pid()
            if broker is None:
                print("the machine's RabbitMQ node was not found: its CPU is not counted")
            before = {
                "service": cpu_seconds(service.pid),
                "postgresql": postgresql_seconds(database_url),
                "rabbitmq": cpu_seconds(broker) if broker else 0.0,
            }
            started = time.perf_counter()
            producer = Producer(connection.default_channel, exchange=events)
            for chain in range(args.chains):
                producer.publish(first_event(chain), routing_key=EVENT, serializer="json")
            finished: list[int] = []

            def chain_done(body, message) -> None:
                finished.append(1)
                message.ack()

            with connection.Consumer(done, callbacks=[chain_done], accept=["json"]):
                while len(finished) < args.chains:
                    try:
                        connection.drain_events(timeout=60)
                    except TimeoutError:
                        raise SystemExit(
                            f"{kind}: {len(finished)} of {args.chains} chains done in 60 s"
                        ) from None
            drained(connection, database, kind, total)
            elapsed = time.perf_counter() - started
            after = {
                "service": cpu_seconds(service.pid),
                "postgresql": postgresql_seconds(database_url),
                "rabbitmq": cpu_seconds(broker) if broker else 0.0,
            }
        finally:
            service.terminate()
            service.wait(timeout=60)
    per_event = {name: (after[name] - before[name]) * 1000 / total for name in before}
    per_event["events/s"] = total / elapsed
    return per_event


def drained(connection, database, kind: str, total: int) -> None:
    """Wait until the service's queue is empty and, with the guarantees, every step is
    recorded as handled (each exactly once: the idempotency rows are keyed by step)."""
    from kombu import Queue

    queue = Queue(QUEUE, no_declare=True)(connection.default_channel)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, ready, _ = queue.queue_declare(passive=True)
        handled = total
        if kind == "guarantees":
            with database.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM processed_events")
                (handled,) = cursor.fetchone()
        if not ready and handled == total:
            return
        time.sleep(0.05)
    raise SystemExit(f"{kind}: the last steps were not handled within 60 s")


def postgresql_seconds(database_url: str) -> float:
    """CPU seconds of the database's backends alive now, plus those of every backend the
    postmaster has reaped: a connection the service's pool opened and closed during the
    run counts that way (so do other databases' that ended: run it on an idle machine)."""
    backends, postmaster = backends_of(database_url)
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    alive = 0.0
    for pid in backends:
        with contextlib.suppress(OSError):  # it ended meanwhile: its time is reaped now
            alive += cpu_seconds(pid)
    return reaped + alive


def backends_of(database_url: str) -> tuple[set[int], int]:
    """The database's backends, and the postmaster's pid (the parent of every backend)."""
    import psycopg2

    from tests.support.system import PG_ADMIN_DSN

    name = database_url.rsplit("/", 1)[1]
    with psycopg2.connect(PG_ADMIN_DSN) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
        backends = {pid for (pid,) in cursor.fetchall()}
        cursor.execute("SELECT pg_backend_pid()")
        (own,) = cursor.fetchone()
    postmaster = int(Path(f"/proc/{own}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return backends, postmaster


def wait_for_consumer(connection, service: subprocess.Popen) -> None:
    from kombu import Queue

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(f"the service process ended ({service.returncode})")
        _, _, consumers = Queue(QUEUE, no_declare=True)(connection.default_channel).queue_declare(
            passive=True
        )
        if consumers:
            return
        time.sleep(0.2)
    raise SystemExit(f"nobody consumed {QUEUE} within 60 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=40, help="chains of steps at once")
    parser.add_argument("--hops", type=int, default=50, help="steps in each chain")
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.hops)
        return 0

    from sqlalchemy import create_engine

    from kernel.platform.db import MessagingBase
    from tests.support.system import (
        AMQP_HOST,
        PG_ADMIN_DSN,
        create_vhost,
        delete_vhost,
        pg_admin,
    )

    label = f"bench_floor_{os.getpid()}"
    figures = {}
    for kind in KINDS:
        name = f"{label}_{kind}"
        create_vhost(name)
        pg_admin(f'CREATE DATABASE "{name}"')
        database_url = f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
        try:
            engine = create_engine(database_url)
            MessagingBase.metadata.create_all(engine)
            engine.dispose()
            figures[kind] = run(kind, args, f"amqp://guest:guest@{AMQP_HOST}/{name}", database_url)
        finally:
            delete_vhost(name)
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report(figures, args)
    return 0


def report(figures: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    print(f"\n{args.chains} chains of {args.hops} steps; CPU ms per event")
    print(f"  {'':<12}{'service':>9}{'PostgreSQL':>12}{'RabbitMQ':>10}{'all':>8}{'events/s':>10}")
    totals = {
        kind: row["service"] + row["postgresql"] + row["rabbitmq"] for kind, row in figures.items()
    }
    for kind, row in figures.items():
        print(
            f"  {kind:<12}{row['service']:>9.2f}{row['postgresql']:>12.2f}"
            f"{row['rabbitmq']:>10.2f}{totals[kind]:>8.2f}{row['events/s']:>10.0f}"
        )
    for kind, whole in totals.items():
        print(
            f"a deposit's {EVENTS_PER_DEPOSIT} events at the floor, {kind}: "
            f"{whole * EVENTS_PER_DEPOSIT:.0f} ms of CPU with nothing else done "
            f"(40 deposits a second on two cores leaves {TWO_CORES_AT_40:.0f} ms for everything)"
        )


if __name__ == "__main__":
    sys.exit(main())
