"""A campus system's request, carried out the one way whichever door it came in by (the
broker: gateway/campus/inbox.py; HTTP), and answered with a `ReplyData` dict.

A request is known by its system and its CloudEvents source and id. Its final reply is
kept (`CampusRequest`), so the same request again is answered with that reply, marked
`duplicate`, and makes nothing new. Until then every service call it makes is keyed by the
request (gateway/rpc.py `CallKeys`): a request cut short by a fault (a killed worker, a
lost connection) and carried out again makes each call once, so one deposit.

Bad input never raises: it is refused in the reply with the REST API's error shape. What
raises is a fault (the broker, a service or the database could not be reached), after
which the request can be carried out again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.auth.identity import actor_for
from gateway.auth.people_events import apply_person_event
from gateway.campus.fetching import fetch
from gateway.campus.systems import System
from gateway.files.quotas import room_for_file
from gateway.files.uploads import add_staged_file, sanitise_filename
from gateway.models import CampusRequest, User
from gateway.rpc import CallKeys, Services, request_keys
from kernel.contracts.actors import Actor
from kernel.contracts.campus import (
    DEPOSIT_REQUESTED,
    DepositRequestData,
    Mode,
)
from kernel.contracts.campus_people import PERSON_EVENT_TYPES
from kernel.contracts.exceptions import Forbidden, InvalidInput, LodgeError, Unavailable
from kernel.contracts.rpc import load_or_raise
from kernel.platform.db import Database, insert_new
from kernel.platform.messaging import reply_cloudevent
from kernel.platform.observability import CORRELATION_KEY
from kernel.policy import text

log = logging.getLogger(__name__)

PERSON_EVENTS = PERSON_EVENT_TYPES
TYPES = (DEPOSIT_REQUESTED, *PERSON_EVENTS)
# the lengths the idempotency table keeps (and OriginSchema allows)
MAX_SOURCE, MAX_ID, MAX_TYPE = 500, 200, 200


@dataclass(frozen=True)
class Request:
    system: System
    type: str  # CloudEvents type
    source: str
    id: str
    data: object  # unvalidated
    subject: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class Backend:
    """What requests are carried out with: the gateway's database, and a lender of RPC
    clients (`RpcPool.client`)."""

    database: Database
    rpc_client: Callable[[], AbstractContextManager[Services]]


def web_backend() -> Backend:
    """The web app's database and RPC pool (the HTTP door)."""
    return Backend(
        current_app.extensions["lodge.database"], current_app.extensions["lodge.rpc"].client
    )


def request_ref(request: Request) -> dict[str, str]:
    return {"source": request.source, "id": request.id, "type": request.type}


def refused(ref: dict[str, str], error: LodgeError) -> dict[str, Any]:
    return _reply(ref, error={"code": error.code, "message": error.message, "fields": error.fields})


def accepted(ref: dict[str, str], **made: Any) -> dict[str, Any]:
    return _reply(ref, **made)


def _reply(ref: dict[str, str], **given: Any) -> dict[str, Any]:
    """A ReplyData: what the request made, or (`error`) why it was refused."""
    return {
        "request": ref,
        "duplicate": False,
        "deposit_id": None,
        "status": None,
        "outcome": None,
        "error": None,
        **given,
    }


def handle(request: Request, backend: Backend | None = None) -> dict[str, Any]:
    """Carry out `request` once; its reply (a `ReplyData` dict). Raises only on a fault
    (`Unavailable`, the gateway's `BrokerUnavailable`, nameko's `RpcTimeout`, a lost
    database connection): nothing of the request is kept then, so it may come again."""
    backend = backend or web_backend()
    ref = request_ref(request)
    problem = envelope_problem(request)
    if problem is not None:
        return refused(ref, problem)
    key = (request.system.id, request.source, request.id)
    with backend.database.reading() as session:
        done = session.get(CampusRequest, key)
        if done is not None:
            return {**done.reply, "duplicate": True}
    keys = request_keys.set(CallKeys("campus", *key))
    try:
        reply = accepted(ref, **carry_out(request, backend))
    except Unavailable:
        raise
    except LodgeError as err:
        reply = refused(ref, err)
    finally:
        request_keys.reset(keys)
    with backend.database.unit_of_work() as uow:
        if not insert_new(
            uow.session,
            CampusRequest,
            system_id=request.system.id,
            source=request.source,
            event_id=request.id,
            type=request.type,
            reply=reply,
            created_at=datetime.now(UTC),
        ):
            # carried out at the same time by another worker; the calls were the same
            log.info("request %s from %s was answered twice", request.id, request.system.name)
    return reply


def envelope_problem(request: Request) -> LodgeError | None:
    """What is wrong with the request's own attributes, or None."""
    wrong: dict[str, list[str]] = {}
    for name, value, most in (
        ("source", request.source, MAX_SOURCE),
        ("id", request.id, MAX_ID),
        ("type", request.type, MAX_TYPE),
    ):
        if not isinstance(value, str) or not value:
            wrong[name] = ["is required"]
        elif len(value) > most:
            wrong[name] = [f"longer than {most} characters"]
        elif (found := text.problem(value)) is not None:
            wrong[name] = [found]
    if wrong:
        return InvalidInput("The event's attributes are not usable.", fields=wrong)
    unsafe = text.refused_paths(request.data, "data")
    if unsafe:
        return InvalidInput(
            "The event's data holds characters Lodge refuses.",
            fields={path: [reason] for path, reason in unsafe.items()},
        )
    if request.type not in TYPES:
        return InvalidInput(
            "Lodge takes no events of this type.",
            fields={"type": [f"not one of {', '.join(TYPES)}"]},
        )
    return None


def carry_out(request: Request, backend: Backend) -> dict[str, Any]:
    if request.type == DEPOSIT_REQUESTED:
        return deposit(request, backend)
    return person_event(request, backend, PERSON_EVENTS[request.type])


# --- deposits -------------------------------------------------------------------------


def deposit(request: Request, backend: Backend) -> dict[str, Any]:
    """Create the deposit for the patron, add its files, set its access and terms, and
    submit it if asked. A deposit that cannot be completed is withdrawn again, with the
    reason, so a refused request leaves no draft behind."""
    if not isinstance(request.data, dict):
        raise InvalidInput(
            "The event's data must be a JSON object.", fields={"data": ["not an object"]}
        )
    data = load_or_raise(DepositRequestData(), request.data)
    system = request.system
    mode = system.mode_for(data["profile_id"])
    if mode is None:
        raise Forbidden(
            "This system may not deposit with this profile.",
            fields={"profile_id": ["not registered for this system"]},
        )
    if data["submit"] and mode is Mode.DRAFT:
        raise InvalidInput(
            "This system's deposits with this profile stay drafts for the patron to submit.",
            fields={"submit": ["not allowed in draft mode"]},
        )
    for index, reference in enumerate(data["files"]):
        with at_file(index):
            reference["filename"] = sanitise_filename(reference["filename"])
    with backend.database.reading() as session:
        patron = depositor(session, data["depositor"])
        account = session.get(User, system.user_id)
        if account is None or account.deactivated_at is not None:
            raise Forbidden("This system's account is deactivated.")
        actor = actor_for(account)
    with backend.rpc_client() as services:
        made = services.intake.create_deposit(
            actor=actor,
            profile_id=data["profile_id"],
            metadata=data["metadata"],
            on_behalf_of=patron,
            origin={
                "system": system.name,
                "source": request.source,
                "event_id": request.id,
                "mode": mode.value,
            },
        )
        try:
            made = complete(services, actor, made["id"], data, system)
        except LodgeError as err:
            if not isinstance(err, Unavailable):
                services.intake.withdraw(
                    actor=actor,
                    deposit_id=made["id"],
                    note=f"The request that made it was refused: {err.message}"[:1000],
                )
            raise
    return {"deposit_id": made["id"], "status": made["status"]}


def complete(services, actor: Actor, deposit_id: str, data: dict, system: System) -> dict:
    made = None
    for index, reference in enumerate(data["files"]):
        with at_file(index):
            policy = services.intake.upload_policy(actor=actor, deposit_id=deposit_id)
            stored = fetch(
                reference,
                allowed_hosts=system.allowed_hosts,
                max_size=room_for_file(policy),
                deposit_id=deposit_id,
            )
            add_staged_file(services, actor, deposit_id, reference["filename"], stored)
    if data["access"] is not None or data["accept_terms"]:
        made = services.intake.update_deposit(
            actor=actor,
            deposit_id=deposit_id,
            metadata=None,
            accept_terms=data["accept_terms"] or None,
            access=data["access"],
        )
    if data["submit"]:
        made = services.intake.submit(actor=actor, deposit_id=deposit_id)
    return made or services.intake.get_deposit(actor=actor, deposit_id=deposit_id)


@contextlib.contextmanager
def at_file(index: int) -> Iterator[None]:
    """A refusal about one file, its field messages under `files.<index>`."""
    try:
        yield
    except LodgeError as err:
        if isinstance(err, Unavailable):
            raise
        fields = err.fields or {"file": [err.message]}
        raise type(err)(err.message, fields={"files": {str(index): fields}}) from None


def depositor(session: Session, lookup: dict[str, str]) -> Actor:
    """The active account the deposit is for: by username, by issuer and subject, or by
    e-mail address (which must name one account)."""
    if "username" in lookup:
        where, field = [User.username == lookup["username"]], "username"
    elif "subject" in lookup:
        where = [User.oidc_issuer == lookup["issuer"], User.oidc_subject == lookup["subject"]]
        field = "subject"
    else:
        where, field = [func.lower(User.email) == lookup["email"].lower()], "email"
    users = session.scalars(
        select(User).where(User.deactivated_at.is_(None), *where).limit(2)
    ).all()
    if len(users) != 1:
        problem = "names no active account" if not users else "names more than one account"
        raise InvalidInput(f"The depositor {problem}.", fields={"depositor": {field: [problem]}})
    return actor_for(users[0])


# --- people ---------------------------------------------------------------------------


def person_event(request: Request, backend: Backend, kind: str) -> dict[str, Any]:
    """A person created, changed or left, from the campus identity system only."""
    if not request.system.sends_people:
        raise Forbidden(
            "Only the campus identity system may send person events.",
            fields={"type": ["this system does not send people"]},
        )
    if not isinstance(request.data, dict):
        raise InvalidInput(
            "The event's data must be a JSON object.", fields={"data": ["not an object"]}
        )
    with backend.rpc_client() as services:
        outcome = apply_person_event(backend.database, services, kind, request.data)
    return {"outcome": outcome}


# --- replies --------------------------------------------------------------------------


def reply_event(request: Request, reply: dict[str, Any]) -> dict[str, Any]:
    """The reply as a structured CloudEvent (the event interface's envelope): `correlationid`
    is the request's correlation id (its CloudEvents id if it had none)."""
    return reply_cloudevent(reply, request.system.name, {CORRELATION_KEY: correlation_of(request)})


def correlation_of(request: Request) -> str:
    return request.correlation_id or request.id
