"""A campus system as the tests play it: registered in a running Lodge's gateway database
(as the staff page registers one), its broker account made by the code `lodge broker-users
--apply` runs, and a pika client that publishes CloudEvents on lodge.inbox and hears what
Lodge publishes for it on its own queue `campus.<name>.events`.

No pytest here."""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pika
import requests
from sqlalchemy import create_engine, text

from tests.support.system import AMQP_HOST, RABBIT_AUTH, LodgeSystem

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# a thesis's metadata in the demo thesis profile; each test gives its own title
THESIS = {
    "title": "A thesis",
    "creators": [{"name": "Sam Student"}],
    "abstract": "Marshes and tides.",
    "date": "2026",
    "degree": "Master",
}

DEPOSIT_REQUESTED = "org.lodge.campus.deposit.requested.v1"
STRUCTURED = "application/cloudevents+json"


def inline_file(filename: str, content: bytes) -> dict:
    return {
        "filename": filename,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "content": base64.b64encode(content).decode(),
    }


def url_file(filename: str, content: bytes, url: str) -> dict:
    return {
        "filename": filename,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "url": url,
    }


def event(data: object, type_: str = DEPOSIT_REQUESTED, **attributes: Any) -> dict:
    """A structured CloudEvent with a fresh id."""
    return {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": "https://thesis.example.edu/workflow",
        "type": type_,
        "datacontenttype": "application/json",
        "data": data,
        **attributes,
    }


@dataclass
class CampusSystem:
    """One registered system of one Lodge; `start()` connects and listens."""

    lodge: LodgeSystem
    name: str
    modes: dict[str, str]  # profile id → draft | submit | mediated
    roles: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)
    sends_people: bool = False  # the campus identity system
    broker_user: str = ""
    password: str = ""
    heard: queue.Queue = field(default_factory=queue.Queue)
    system_id: str = ""

    def add_account(self, username: str) -> None:
        """A patron's account in the gateway's database, as a sign-in makes one."""
        engine = create_engine(self.lodge.database_url("gateway"))
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, username, name, email, groups, roles, locale, "
                    "created_at) VALUES (:id, :username, :name, :email, '[\"student\"]', "
                    "'[\"patron\"]', 'en', CURRENT_TIMESTAMP)"
                ),
                {
                    "id": uuid.uuid4().hex,
                    "username": username,
                    "name": username,
                    "email": f"{username}@example.edu",
                },
            )
        engine.dispose()

    def register(self) -> CampusSystem:
        """Its rows in the gateway's database, then its broker account."""
        from lodge.broker_users import Account, apply, system_grant

        self.broker_user = f"campus-{self.name}-{self.lodge.run_id}"
        self.password = uuid.uuid4().hex
        self.system_id = uuid.uuid4().hex
        user_id = uuid.uuid4().hex
        engine = create_engine(self.lodge.database_url("gateway"))
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, username, name, email, groups, roles, locale, "
                    "created_at) VALUES (:id, :username, :name, :email, '[]', :roles, 'en', "
                    "CURRENT_TIMESTAMP)"
                ),
                {
                    "id": user_id,
                    "username": f"system-{self.name}",
                    "name": f"The {self.name} system",
                    "email": f"{self.name}@systems.example.edu",
                    "roles": json.dumps(self.roles),
                },
            )
            connection.execute(
                text(
                    "INSERT INTO campus_systems (id, name, label, user_id, broker_user, "
                    "allowed_hosts, sends_people, created_at) VALUES (:id, :name, :label, "
                    ":user_id, :broker_user, :allowed_hosts, :sends_people, CURRENT_TIMESTAMP)"
                ),
                {
                    "id": self.system_id,
                    "name": self.name,
                    "label": self.name,
                    "user_id": user_id,
                    "broker_user": self.broker_user,
                    "allowed_hosts": json.dumps(self.allowed_hosts),
                    "sends_people": self.sends_people,
                },
            )
            for profile_id, mode in self.modes.items():
                connection.execute(
                    text(
                        "INSERT INTO campus_system_profiles (system_id, profile_id, mode) "
                        "VALUES (:system_id, :profile_id, :mode)"
                    ),
                    {"system_id": self.system_id, "profile_id": profile_id, "mode": mode},
                )
        engine.dispose()
        account = Account(
            f"system:{self.name}", self.broker_user, self.password, False, system_grant(self.name)
        )
        apply(self.lodge.amqp_uri, self.lodge.rabbit_api, [account])
        self.lodge.broker_users.append(self.broker_user)  # deleted with the Lodge
        return self

    # --- the broker, as the system's own pika client ----------------------------------

    def connect(self, user: str | None = None, password: str | None = None):
        host, port = AMQP_HOST.split(":")
        return pika.BlockingConnection(
            pika.ConnectionParameters(
                host=host,
                port=int(port),
                virtual_host=self.lodge.vhost,
                credentials=pika.PlainCredentials(
                    user or self.broker_user, password or self.password
                ),
                # a broker shared by busy test runs can take seconds to shake hands
                stack_timeout=60,
                connection_attempts=3,
            )
        )

    def start(self) -> CampusSystem:
        """Declare and bind its queue, then hear it in a thread of its own."""
        ready = threading.Event()
        self._stop = threading.Event()

        def listen():
            connection = self.connect()
            channel = connection.channel()
            name = f"campus.{self.name}.events"
            channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(name, "lodge.events", routing_key=f"system.{self.name}.#")
            ready.set()
            for method, properties, body in channel.consume(name, inactivity_timeout=0.2):
                if self._stop.is_set():
                    break
                if method is None:
                    continue
                self.heard.put((method.routing_key, properties, json.loads(body)))
                channel.basic_ack(method.delivery_tag)
            connection.close()

        self._listener = threading.Thread(target=listen, daemon=True)
        self._listener.start()
        if not ready.wait(30):
            raise RuntimeError(f"{self.name} could not declare its queue")
        self._publisher = self.connect()
        self._channel = self._publisher.channel()
        self._channel.confirm_delivery()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._listener.join(10)
        if self._publisher.is_open:
            self._publisher.close()

    def publish(
        self,
        body: bytes | dict,
        topic: str = "deposit",
        content_type: str | None = STRUCTURED,
        headers: dict | None = None,
        correlation_id: str | None = None,
        user_id: str | None = None,
        routing_key: str | None = None,
    ) -> None:
        """As a campus system sends: with its user_id, on its own routing key."""
        self._channel.basic_publish(
            "lodge.inbox",
            routing_key or f"{self.name}.{topic}",
            body if isinstance(body, bytes) else json.dumps(body).encode(),
            pika.BasicProperties(
                content_type=content_type,
                headers=headers,
                correlation_id=correlation_id,
                user_id=self.broker_user if user_id is None else (user_id or None),
                delivery_mode=2,
            ),
            mandatory=True,
        )

    def reply_to(self, correlation_id: str, timeout: float = 120.0) -> tuple[Any, dict]:
        """The reply with this correlation id (AMQP property); (properties, event)."""
        return self.next_heard(
            lambda key, properties, _: (
                key == f"system.{self.name}.reply" and properties.correlation_id == correlation_id
            ),
            timeout,
        )[1:]

    def next_heard(self, wanted, timeout: float = 120.0) -> tuple[str, Any, dict]:
        """The first message heard (in order, skipping others) for which `wanted(key,
        properties, event)` holds; the skipped ones are kept for later."""
        skipped = []
        try:
            while True:
                try:
                    found = self.heard.get(timeout=timeout)
                except queue.Empty:
                    raise AssertionError(
                        f"{self.name} heard nothing wanted within {timeout:.0f} s; "
                        f"it heard {[(key, ev.get('type')) for key, _, ev in skipped]}"
                    ) from None
                if wanted(*found):
                    return found
                skipped.append(found)
        finally:
            for item in skipped:
                self.heard.put(item)

    def request(self, event_: dict, **publish: Any) -> dict:
        """Publish a structured event and wait for its reply's data."""
        self.publish(event_, **publish)
        return self.reply_to(publish.get("correlation_id") or event_["id"])[1]["data"]


def inbox_dead_letters(lodge: LodgeSystem) -> list[dict]:
    """The inbox's dead letters, read and left in their queue (requeued)."""
    response = requests.post(
        f"{lodge.rabbit_api}/queues/{quote(lodge.vhost, safe='')}/lodge.dead-letter.inbox/get",
        auth=RABBIT_AUTH,
        json={"count": 1000, "ackmode": "ack_requeue_true", "encoding": "auto"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()
