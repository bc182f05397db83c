"""Dead letters an administrator can act on.

Each service owns its dead letters. `DeadLetterDesk`, mixed into every service class,
consumes its own `lodge.dead-letter.<service>` queue and moves each message into its
`dead_letters` table (body bytes, content type, headers, reason, original queue, time,
host) before acknowledging it, so listing and filtering are queries and nothing is
browsed on the broker. Its RPCs list, show, replay and drop them, for admins only.
A replay republishes the stored bytes through `lodge.retry` to the original queue's
shortest delay queue with a zero TTL, which hands it straight back to that queue: the
normal handler runs, and its idempotency key makes a replay of something already applied
do nothing.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from functools import partial
from typing import Any

from kombu import Queue
from nameko.amqp.publish import Publisher
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import DependencyProvider
from nameko.messaging import Consumer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kernel.contracts.actors import Actor
from kernel.contracts.dead_letters import (
    DROPPED,
    PARKED,
    REPLAYED,
    STATES,
    DeadLetterCountsView,
    DeadLetterListRequest,
    DeadLetterPageView,
    DeadLetterRequest,
    DeadLetterView,
    DropDeadLetterRequest,
)
from kernel.contracts.exceptions import Conflict, NotFound
from kernel.contracts.rpc import ActorRequest, rpc_contract
from kernel.platform.config import get_settings
from kernel.platform.db import Database, DeadLetter, utcnow
from kernel.platform.dependencies import Store
from kernel.platform.messaging import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    RETRY_EXCHANGE,
    ReliableEventHandler,
    dead_letter_queue,
    retry_queues,
    rpc,
)
from kernel.platform.metrics import DEAD_LETTERS, DEAD_LETTERS_PARKED
from kernel.policy.permissions import Action, require

log = logging.getLogger(__name__)


# what a header may take in the table: a hostile sender must not fill the database
MAX_HEADER_TEXT = 4000
MAX_HEADERS = 100
MAX_HEADER_DEPTH = 4
MAX_KEY = 200
MAX_REASON = 4000
PREVIEW_CHARACTERS = 200
SHOWN_PAYLOAD_BYTES = 256 * 1024
REPLAY_HEADER = "x-lodge-replay-of"
# what a replay leaves behind: Lodge's failure headers (so the attempts start again) and
# RabbitMQ's dead-lettering record, which the broker keeps itself
NOT_REPLAYED_HEADERS = ("x-lodge-", "x-death", "x-first-death-", "x-last-death-")


def storable_text(value: str, limit: int) -> str:
    """`value` without control characters (tabs and newlines kept), at most `limit` long."""
    kept = "".join(c for c in value if c in "\t\n" or (c >= " " and c != "\x7f"))[:limit]
    # a lone surrogate cannot be stored as UTF-8
    return kept.encode("utf-8", "replace").decode("utf-8")


def safe_header(value: Any, depth: int = 0) -> Any:
    """A header value as JSON the database takes: text cleaned and capped, nesting and
    counts limited, anything else named by its type."""
    if value is None or isinstance(value, bool | int | float):
        return value  # RabbitMQ carries no NaN nor infinity
    if isinstance(value, str):
        return storable_text(value, MAX_HEADER_TEXT)
    if isinstance(value, bytes | bytearray):
        return {"base64": base64.b64encode(bytes(value[:MAX_HEADER_TEXT])).decode()}
    if isinstance(value, datetime):
        return value.isoformat()
    if depth >= MAX_HEADER_DEPTH:
        return "(nested too deep)"
    if isinstance(value, dict):
        return {
            storable_text(str(key), MAX_KEY): safe_header(item, depth + 1)
            for key, item in list(value.items())[:MAX_HEADERS]
        }
    if isinstance(value, list | tuple):
        return [safe_header(item, depth + 1) for item in value[:MAX_HEADERS]]
    return f"({type(value).__name__})"


def text_header(headers: dict, name: str, limit: int) -> str:
    value = headers.get(name)
    return storable_text(value, limit) if isinstance(value, str) else ""


def failure_time(headers: dict) -> datetime:
    """When the handler gave up, from its header; else now."""
    value = headers.get("x-lodge-failed-at")
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
        if when is not None:
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    return utcnow()


def letter_from(message) -> DeadLetter:
    """The row for a message of the dead-letter queue, whatever it holds."""
    raw = message.headers
    headers = safe_header(raw) if isinstance(raw, dict) else {}
    attempts = headers.get(ATTEMPTS_HEADER)
    body = message.body
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogateescape")
    return DeadLetter(
        body=bytes(body or b""),
        content_type=storable_text(str(message.content_type or ""), 200),
        content_encoding=storable_text(str(message.content_encoding or ""), 100),
        headers=headers,
        reason=text_header(headers, ERROR_HEADER, MAX_REASON) or "no reason given",
        queue=text_header(headers, "x-lodge-queue", 255),
        host=text_header(headers, "x-lodge-host", 255),
        attempts=attempts if isinstance(attempts, int) and 0 <= attempts < 2**31 else 0,
        failed_at=failure_time(headers),
        parked_at=utcnow(),
        state=PARKED,
        replays=0,
    )


def preview(body: bytes) -> str:
    start = body[: PREVIEW_CHARACTERS * 4].decode("utf-8", "replace")
    return storable_text(start, PREVIEW_CHARACTERS)


def summary_view(service: str, row: DeadLetter) -> dict:
    return {
        "id": row.id,
        "service": service,
        "queue": row.queue,
        "reason": row.reason,
        "state": row.state,
        "attempts": row.attempts,
        "host": row.host,
        "content_type": row.content_type,
        "size": len(row.body),
        "preview": preview(row.body),
        "failed_at": row.failed_at,
        "parked_at": row.parked_at,
        "replays": row.replays,
        "replayed_by": row.replayed_by,
        "replayed_at": row.replayed_at,
        "dropped_by": row.dropped_by,
        "dropped_at": row.dropped_at,
        "drop_note": row.drop_note,
    }


def letter_view(service: str, row: DeadLetter) -> dict:
    shown = row.body[:SHOWN_PAYLOAD_BYTES]
    try:
        payload, encoding = shown.decode("utf-8"), "text"
    except UnicodeDecodeError as err:
        # cut inside a character: the text up to it, else the bytes
        if err.start >= len(shown) - 3 and len(row.body) > SHOWN_PAYLOAD_BYTES:
            payload, encoding = shown[: err.start].decode("utf-8"), "text"
        else:
            payload, encoding = base64.b64encode(shown).decode(), "base64"
    return {
        **summary_view(service, row),
        "payload": payload,
        "payload_encoding": encoding,
        "payload_truncated": len(row.body) > SHOWN_PAYLOAD_BYTES,
        "content_encoding": row.content_encoding,
        "headers": row.headers,
    }


def who(actor: Actor) -> str:
    return (actor.username or actor.id)[:300]


def matching(request: dict):
    query = select(DeadLetter).where(DeadLetter.state == request["state"])
    if request.get("reason"):
        words = request["reason"].lower()
        escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(DeadLetter.reason).like(f"%{escaped}%", escape="\\"))
    if request.get("queue"):
        query = query.where(DeadLetter.queue == request["queue"])
    if request.get("failed_before"):
        query = query.where(DeadLetter.failed_at < request["failed_before"])
    if request.get("failed_after"):
        query = query.where(DeadLetter.failed_at >= request["failed_after"])
    return query


def count_parked(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.state == PARKED)
        )
        or 0
    )


class ParkingConsumer(Consumer):
    """Consumes the service's dead-letter queue, taking any content type and any bytes:
    the worker gets the kombu message undecoded, and the message is acknowledged once its
    row is committed (requeued if the database refused it)."""

    def __init__(self, **kwargs):
        super().__init__(queue=None, requeue_on_error=True, **kwargs)

    def setup(self):
        # declared by `lodge migrate`; consuming needs only the read permission on it
        self.queue = Queue(dead_letter_queue(self.container.service_name).name, no_declare=True)
        self.consumer_options["on_decode_error"] = self.handle_undecodable
        super().setup()

    def handle_message(self, body, message):
        # nameko's own would read call context from the headers, which may be hostile here
        def spawn_worker():
            try:
                self.container.spawn_worker(
                    self, (message,), {}, handle_result=partial(self.handle_result, message)
                )
            except ContainerBeingKilled:
                self.consumer.requeue_message(message)

        self.container.spawn_managed_thread(spawn_worker, identifier="park-dead-letter")

    def handle_undecodable(self, message, error):
        self.handle_message(None, message)


parks_dead_letters = ParkingConsumer.decorator


class DeadLetters(DependencyProvider):
    """Parks, lists, shows, replays and drops the service's dead letters, in the database
    of the service's `Store`."""

    def setup(self):
        settings = get_settings()
        self.service = self.container.service_name
        self.publisher = Publisher(settings.broker_uri(self.service), use_confirms=True)

    def start(self):
        self.database: Database = self._service_store().database
        self.replayable_queues = {
            entrypoint.queue.name
            for entrypoint in self.container.entrypoints
            if isinstance(entrypoint, ReliableEventHandler)
        }
        # the gauge starts from what is parked already
        self.refresh_gauge()

    def _service_store(self) -> Store:
        for dependency in self.container.dependencies:
            if isinstance(dependency, Store):
                return dependency
        raise LookupError("a service with dead letters needs a Store")

    def get_dependency(self, worker_ctx):
        return self

    def refresh_gauge(self) -> None:
        with self.database.reading() as session:
            DEAD_LETTERS_PARKED.labels(service=self.service).set(count_parked(session))

    def park(self, message) -> None:
        row = letter_from(message)
        with self.database.unit_of_work() as uow:
            uow.session.add(row)
            uow.session.flush()
            letter_id = row.id
        log.warning(
            "dead letter %s/%d parked from %s: %s", self.service, letter_id, row.queue, row.reason
        )
        if row.headers.get("x-first-death-reason") == "delivery_limit":
            # the broker's own dead-lettering, past the delivery limit: no handler counted it
            DEAD_LETTERS.labels(self.service, "delivery_limit").inc()
        self.refresh_gauge()

    def counts(self) -> dict:
        with self.database.reading() as session:
            query = select(DeadLetter.state, func.count()).group_by(DeadLetter.state)
            rows: dict[str, int] = dict(session.execute(query).tuples().all())
        return {state: rows.get(state, 0) for state in STATES}

    def page(self, request: dict) -> dict:
        query = matching(request)
        page, per_page = request["page"], request["per_page"]
        with self.database.reading() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(DeadLetter.failed_at.desc(), DeadLetter.id.desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            ).all()
            items = [summary_view(self.service, row) for row in rows]
        return {"items": items, "page": page, "per_page": per_page, "total": total}

    def show(self, letter_id: int) -> dict:
        with self.database.reading() as session:
            return letter_view(self.service, self._get(session, letter_id))

    def replay(self, actor: Actor, letter_id: int) -> None:
        with self.database.unit_of_work() as uow:
            row = self._get(uow.session, letter_id, lock=True)
            if row.state == DROPPED:
                raise Conflict("This dead letter was dropped; it cannot be replayed.")
            if row.queue not in self.replayable_queues:
                raise Conflict(
                    f"This dead letter came from a queue {self.service} does not consume "
                    f"({row.queue or 'none named'}); it cannot be replayed."
                )
            headers = {
                key: value
                for key, value in row.headers.items()
                if not key.startswith(NOT_REPLAYED_HEADERS)
            }
            headers[REPLAY_HEADER] = f"{self.service}/{row.id}"
            delay_queues = retry_queues(row.queue)
            if not delay_queues:
                raise Conflict(
                    "With LODGE_HANDLER_MAX_ATTEMPTS=1 there is no retry queue to replay through."
                )
            # a zero TTL makes the shortest delay queue hand it straight back to its queue
            self.publisher.publish(
                row.body,
                exchange=RETRY_EXCHANGE,
                routing_key=delay_queues[0].name,
                headers=headers,
                expiration=0,
                mandatory=True,
                content_type=row.content_type or None,
                content_encoding=row.content_encoding or None,
                serializer=None,
            )
            row.state, row.replays = REPLAYED, row.replays + 1
            row.replayed_by, row.replayed_at = who(actor), utcnow()
            queue = row.queue
        log.warning(
            "dead letter %s/%d replayed to %s by %s", self.service, letter_id, queue, who(actor)
        )
        self.refresh_gauge()

    def drop(self, actor: Actor, letter_id: int, note: str) -> None:
        with self.database.unit_of_work() as uow:
            row = self._get(uow.session, letter_id, lock=True)
            if row.state == DROPPED:
                raise Conflict("This dead letter was dropped already.")
            row.state, row.dropped_by, row.dropped_at = DROPPED, who(actor), utcnow()
            row.drop_note = note
        log.warning(
            "dead letter %s/%d dropped by %s: %s", self.service, letter_id, who(actor), note
        )
        self.refresh_gauge()

    def _get(self, session: Session, letter_id: int, lock: bool = False) -> DeadLetter:
        query = select(DeadLetter).where(DeadLetter.id == letter_id)
        row = session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise NotFound("There is no such dead letter.")
        return row


class DeadLetterDesk:
    """Mixed into every service class: its dead letters parked and served to admins."""

    dead_letters = DeadLetters()

    @parks_dead_letters
    def park_dead_letter(self, message):
        self.dead_letters.park(message)

    @rpc
    @rpc_contract(ActorRequest, DeadLetterCountsView())
    def count_dead_letters(self, actor):
        require(Actor.from_wire(actor), Action.MANAGE_DEAD_LETTERS)
        return self.dead_letters.counts()

    @rpc
    @rpc_contract(DeadLetterListRequest, DeadLetterPageView())
    def list_dead_letters(self, actor, **request):
        require(Actor.from_wire(actor), Action.MANAGE_DEAD_LETTERS)
        return self.dead_letters.page(request)

    @rpc
    @rpc_contract(DeadLetterRequest, DeadLetterView())
    def get_dead_letter(self, actor, letter_id):
        require(Actor.from_wire(actor), Action.MANAGE_DEAD_LETTERS)
        return self.dead_letters.show(letter_id)

    @rpc
    @rpc_contract(DeadLetterRequest, DeadLetterView())
    def replay_dead_letter(self, actor, letter_id):
        caller = Actor.from_wire(actor)
        require(caller, Action.MANAGE_DEAD_LETTERS)
        self.dead_letters.replay(caller, letter_id)
        return self.dead_letters.show(letter_id)

    @rpc
    @rpc_contract(DropDeadLetterRequest, DeadLetterView())
    def drop_dead_letter(self, actor, letter_id, note):
        caller = Actor.from_wire(actor)
        require(caller, Action.MANAGE_DEAD_LETTERS)
        self.dead_letters.drop(caller, letter_id, note)
        return self.dead_letters.show(letter_id)
