"""One RabbitMQ account per Lodge process, allowed only its own queues and its own events.

RabbitMQ grants, per virtual host, three regular expressions over exchange and queue
names: configure (declare, delete), write (publish to an exchange, bind to a queue) and
read (consume from a queue, bind from an exchange). Topic permissions then limit the
routing keys an account may publish with (write) or bind with (read) on a topic exchange.
An account with no topic permission on an exchange may use every key there, so each
topic exchange an account can write to or read from gets one here.

What a service may touch is worked out from its class, as `lodge migrate` works out the
queues (lodge/topology.py): the events it handles, whether it serves RPC, whom it calls,
and the events its contracts say it emits. `lodge migrate` keeps the shared account
(LODGE_AMQP_URI), which declares the topology; a service's account can declare only its
own queues and the RPC exchange nameko declares at every start.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

import requests

from kernel.contracts.campus import Topic, inbox_key, system_key
from kernel.contracts.cloudevents import carries_origin
from kernel.contracts.events import EVENTS
from kernel.platform.config import broker_nodes, get_settings
from kernel.platform.messaging import (
    CLOUDEVENTS_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    INBOX_EXCHANGE,
    INBOX_PROCESS,
    RETRY_EXCHANGE,
    dead_letter_queue,
    inbox_queue,
    retry_queues,
)
from kernel.policy.text import user_pattern
from lodge import topology
from lodge.registry import SERVICE_CLASSES, service_class

RPC_EXCHANGE = "nameko-rpc"
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
METHOD = "[a-z_]+"
NOTHING = "^$"
# nameko's standalone RPC client (the gateway's) names its reply queues so
GATEWAY_REPLY_QUEUE = re.escape("rpc.reply-standalone_rpc_client-") + UUID
CAMPUS_NAME = user_pattern(r"[a-z0-9][a-z0-9-]{0,39}")
HASHING = "rabbit_password_hashing_sha256"


def one_of(patterns) -> str:
    """A regular expression matching exactly one of `patterns` (themselves regexes)."""
    patterns = sorted(set(patterns))
    return f"^({'|'.join(patterns)})$" if patterns else NOTHING


def names(*literal) -> list[str]:
    return [re.escape(name) for name in literal]


@dataclass
class Grant:
    """An account's permissions, as regex alternatives; topics: exchange → write, read."""

    configure: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    topics: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def topic(self, exchange: str, write=(), read=()) -> None:
        entry = self.topics.setdefault(exchange, {"write": [], "read": []})
        entry["write"].extend(write)
        entry["read"].extend(read)


def service_grant(service: str) -> Grant:
    """Consume its own queues (its dead letters too); publish only its own events, its own
    retries (to the delay queues the retry settings call for), its dead letters, RPC
    replies and calls to the services it uses."""
    cls = service_class(service)
    queues = topology.event_queues(cls)
    own = names(*(queue.name for queue in queues))
    serves, calls = topology.serves_rpc(cls), sorted(topology.rpc_targets(cls))
    if serves:
        own += names(f"rpc-{service}")
    if calls:
        own.append(re.escape(f"rpc.reply-{service}-") + UUID)
    rpc = names(RPC_EXCHANGE) if serves or calls else []
    emitted = [event for source, event in EVENTS if source == service]
    grant = Grant(
        configure=own + rpc,
        write=own
        + rpc
        + names(
            f"{service}.events",
            CLOUDEVENTS_EXCHANGE.name,
            RETRY_EXCHANGE.name,
            DEAD_LETTER_EXCHANGE.name,
        ),
        # its dead-letter queue is read only: `lodge migrate` declares and binds it
        read=own
        + rpc
        + names(*(queue.exchange.name for queue in queues), dead_letter_queue(service).name),
    )
    grant.topic(f"{service}.events", write=names(*emitted))
    grant.topic(
        CLOUDEVENTS_EXCHANGE.name,
        write=names(*(f"{service}.{e}" for e in emitted))
        # an event about a campus system's deposit goes out for that system too
        + [
            re.escape("system.") + CAMPUS_NAME.pattern + re.escape(f".{service}.{e}")
            for e in emitted
            if carries_origin(service, e)
        ],
    )
    grant.topic(
        RETRY_EXCHANGE.name,
        write=names(*(delay.routing_key for queue in queues for delay in retry_queues(queue.name))),
    )
    for queue in queues:
        grant.topic(queue.exchange.name, read=names(queue.routing_key))
    if rpc:
        grant.topic(
            RPC_EXCHANGE,
            write=([UUID] if serves else [])
            + [re.escape(f"{target}.") + METHOD for target in calls],
            read=(names(f"{service}.*") if serves else []) + ([UUID] if calls else []),
        )
    return grant


def gateway_grant() -> Grant:
    """Call any service's RPC methods and hear the replies; nothing else."""
    own = names(RPC_EXCHANGE) + [GATEWAY_REPLY_QUEUE]
    grant = Grant(configure=own, write=own, read=own)
    grant.topic(
        RPC_EXCHANGE,
        read=[UUID],
        write=[
            re.escape(f"{service}.") + METHOD
            for service in SERVICE_CLASSES
            if topology.serves_rpc(service_class(service))
        ],
    )
    return grant


def inbox_grant() -> Grant:
    """The gateway's RPC calls (it carries out requests as the gateway does), and: consume
    the inbox's queue, publish replies (`system.<name>.reply` on lodge.events) and the
    inbox's dead letters."""
    calls = gateway_grant()
    grant = Grant(
        configure=list(calls.configure),
        write=calls.write + names(CLOUDEVENTS_EXCHANGE.name, DEAD_LETTER_EXCHANGE.name),
        read=calls.read + names(inbox_queue().name),
        topics=calls.topics,
    )
    grant.topic(
        CLOUDEVENTS_EXCHANGE.name,
        write=[re.escape("system.") + CAMPUS_NAME.pattern + re.escape(".reply")],
    )
    return grant


def campus_grant(name: str) -> Grant:
    """A campus system: its own queues `campus.<name>.*`, bound to lodge.events with any
    key, consumed; it publishes nothing of Lodge's."""
    own = [re.escape(f"campus.{name}.") + ".+"]
    grant = Grant(configure=own, write=own, read=own + names(CLOUDEVENTS_EXCHANGE.name))
    grant.topic(CLOUDEVENTS_EXCHANGE.name, read=[".*"])
    return grant


def system_grant(name: str) -> Grant:
    """A registered campus system: publish its requests on lodge.inbox with its own keys
    `<name>.<topic>` only; its own queues `campus.<name>.*`, bound to lodge.events only with
    keys `system.<name>.…` (its replies and its deposits' lifecycle), consumed."""
    own = [re.escape(f"campus.{name}.") + ".+"]
    grant = Grant(
        configure=own,
        write=own + names(INBOX_EXCHANGE.name),
        read=own + names(CLOUDEVENTS_EXCHANGE.name),
    )
    grant.topic(INBOX_EXCHANGE.name, write=names(*(inbox_key(name, topic) for topic in Topic)))
    grant.topic(CLOUDEVENTS_EXCHANGE.name, read=[re.escape(system_key(name, "")) + ".+"])
    return grant


@dataclass(frozen=True)
class RegisteredSystem:
    """A campus system as the gateway's database registers it, for its broker account."""

    name: str
    broker_user: str


def registered_systems(database_url: str) -> list[RegisteredSystem]:
    """The active campus systems; none before the gateway's database has their table
    (`lodge migrate` makes it, and may run after the accounts are made)."""
    from sqlalchemy import inspect, select

    from gateway.models import CampusSystem
    from kernel.platform.db import Database

    database = Database(database_url, source="broker-users")
    try:
        with database.reading() as session:
            if not inspect(session.connection()).has_table(CampusSystem.__tablename__):
                return []
            rows = session.execute(
                select(CampusSystem.name, CampusSystem.broker_user)
                .where(CampusSystem.deactivated_at.is_(None))
                .order_by(CampusSystem.name)
            ).all()
            return [RegisteredSystem(name, broker_user) for name, broker_user in rows]
    finally:
        database.dispose()


@dataclass
class Account:
    label: str  # the process, campus:<name> (a reader) or system:<name> (a registered one)
    user: str
    password: str
    generated: bool  # made up here, so shown once and never reset on an existing user
    grant: Grant


def vhost_of(uri: str) -> str:
    path = urlsplit(broker_nodes(uri)[0]).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def process_account(process: str, grant: Grant, shared_uri: str) -> Account:
    """From LODGE_AMQP_URI_<PROCESS> when set (user and password as the process will use
    them), else `lodge-<process>` with a new password."""
    uri = get_settings().own_broker_uri(process)
    if not uri:
        return Account(process, f"lodge-{process}", secrets.token_urlsafe(24), True, grant)
    parts = urlsplit(broker_nodes(uri)[0])
    if not parts.username or not parts.password:
        raise ValueError(f"LODGE_AMQP_URI_{process.upper()} names no user and password")
    if vhost_of(uri) != vhost_of(shared_uri):
        raise ValueError(
            f"LODGE_AMQP_URI_{process.upper()} is for virtual host "
            f"{vhost_of(uri)!r}, LODGE_AMQP_URI for {vhost_of(shared_uri)!r}"
        )
    return Account(process, unquote(parts.username), unquote(parts.password), False, grant)


def accounts(
    shared_uri: str,
    campus: tuple[str, ...] = (),
    registered: tuple[RegisteredSystem, ...] = (),
) -> list[Account]:
    found = [process_account("gateway", gateway_grant(), shared_uri)]
    found += [
        process_account(service, service_grant(service), shared_uri) for service in SERVICE_CLASSES
    ]
    found.append(process_account(INBOX_PROCESS, inbox_grant(), shared_uri))
    found += [
        Account(
            f"system:{system.name}",
            system.broker_user,
            secrets.token_urlsafe(24),
            True,
            system_grant(system.name),
        )
        for system in registered
    ]
    for name in campus:
        if not CAMPUS_NAME.fullmatch(name):
            raise ValueError(
                f"a campus consumer's name is 1-40 lower-case letters, digits and dashes: {name!r}"
            )
        found.append(
            Account(
                f"campus:{name}",
                f"campus-{name}",
                secrets.token_urlsafe(24),
                True,
                campus_grant(name),
            )
        )
    if len({account.user for account in found}) < len(found):
        raise ValueError("two processes share a broker user; give each its own")
    return found


def password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(vhost: str, found: list[Account]) -> dict:
    """RabbitMQ's definitions format (`rabbitmqctl import_definitions`); hashes only."""
    return {
        "users": [
            {
                "name": a.user,
                "password_hash": password_hash(a.password),
                "hashing_algorithm": HASHING,
                "tags": [],
            }
            for a in found
        ],
        "permissions": [
            {
                "user": a.user,
                "vhost": vhost,
                "configure": one_of(a.grant.configure),
                "write": one_of(a.grant.write),
                "read": one_of(a.grant.read),
            }
            for a in found
        ],
        "topic_permissions": [
            {
                "user": a.user,
                "vhost": vhost,
                "exchange": exchange,
                "write": one_of(keys["write"]),
                "read": one_of(keys["read"]),
            }
            for a in found
            for exchange, keys in sorted(a.grant.topics.items())
        ],
    }


def management_url(shared_uri: str) -> str:
    return f"http://{urlsplit(broker_nodes(shared_uri)[0]).hostname or '127.0.0.1'}:15672/api"


def apply(shared_uri: str, api: str, found: list[Account]) -> list[str]:
    """Create or update the accounts through the management HTTP API, as the shared
    account; an existing user keeps a password that was only generated here. Returns the
    users whose generated password was set (the caller shows it)."""
    parts = urlsplit(broker_nodes(shared_uri)[0])
    session = requests.Session()
    session.auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    vhost = quote(vhost_of(shared_uri), safe="")
    api = api.rstrip("/")
    wanted = definitions(vhost_of(shared_uri), found)
    created = []
    for account, user in zip(found, wanted["users"], strict=True):
        name = quote(account.user, safe="")
        if account.generated and session.get(f"{api}/users/{name}", timeout=30).ok:
            continue
        session.put(
            f"{api}/users/{name}",
            timeout=30,
            json={"password_hash": user["password_hash"], "hashing_algorithm": HASHING, "tags": ""},
        ).raise_for_status()
        if account.generated:
            created.append(account.user)
    # topic permissions before the vhost ones: never a moment with write and no key limit
    for entry in wanted["topic_permissions"]:
        session.put(
            f"{api}/topic-permissions/{vhost}/{quote(entry['user'], safe='')}",
            timeout=30,
            json={key: entry[key] for key in ("exchange", "write", "read")},
        ).raise_for_status()
    for entry in wanted["permissions"]:
        session.put(
            f"{api}/permissions/{vhost}/{quote(entry['user'], safe='')}",
            timeout=30,
            json={key: entry[key] for key in ("configure", "write", "read")},
        ).raise_for_status()
    return created
