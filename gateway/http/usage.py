"""Counting views and downloads (usage statistics) without slowing a page.

A request that counts (a landing page, the first part of a file) only checks the User-Agent
against COUNTER's robots list and appends the hit to this worker's memory. A background
thread sends what is held to inventory as one batch, every `LODGE_USAGE_FLUSH_SECONDS` or
as soon as `LODGE_USAGE_BATCH_SIZE` hits wait, over the RPC pool the requests use; inventory
applies COUNTER's rules and keeps the monthly figures. A batch has an id: one whose answer
did not come back is sent again with the same id, and inventory applies each id once, so a
retry or a crash never counts twice. A graceful stop sends what is held; a killed worker
loses at most what it held (a second's worth).

Privacy: the hit carries no address and no user agent, only a keyed hash of who (the
account if signed in, else address and user agent) under a salt of the day that every
gateway instance shares (table `usage_salts`) and that is deleted once the day is over.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime

from flask import Flask, current_app, g, request
from sqlalchemy import delete, select

from gateway.models import UsageSalt
from gateway.rpc import RpcPool
from kernel.contracts.usage import INVESTIGATION, REQUEST
from kernel.platform.config import get_settings
from kernel.platform.db import Database, insert_new, utcnow
from kernel.policy.robots import is_robot

log = logging.getLogger(__name__)

EXTENSION = "lodge.usage"
MAX_HELD = 100_000
"""Hits a worker holds while inventory cannot be reached; past that the oldest go."""


@dataclass(frozen=True)
class Seen:
    """A hit as its request saw it: `who` is hashed before it leaves the process."""

    kind: str
    item_id: str
    file_id: str | None
    who: str
    at: datetime


class UsageRecorder:
    def __init__(
        self, pool: RpcPool, database: Database, flush_seconds: float, batch_size: int
    ) -> None:
        self.pool = pool
        self.database = database
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self._held: deque[Seen] = deque(maxlen=MAX_HELD)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._sending = threading.Lock()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None
        self._unconfirmed: dict | None = None  # sent without an answer: sent again as it is
        self._salts: dict[date, bytes] = {}

    def hold(self, seen: Seen) -> None:
        if self._thread is None:
            self._start()
        self._held.append(seen)
        if len(self._held) >= self.batch_size:
            self._wake.set()

    def _start(self) -> None:
        with self._starting:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="usage-recorder", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            while self.send() and len(self._held) >= self.batch_size:
                pass

    def send(self) -> bool:
        """Send one batch (the unconfirmed one first); False if inventory did not answer."""
        with self._sending:
            try:
                if self._unconfirmed is None:
                    self._unconfirmed = self._next_batch()
                    if self._unconfirmed is None:
                        return True
                with self.pool.client() as services:
                    services.inventory.record_usage(**self._unconfirmed)
            except Exception as err:  # noqa: BLE001 - kept and sent again, whatever went wrong
                log.warning("usage: hits not recorded yet, will send them again: %s", err)
                return False
            self._unconfirmed = None
            return True

    def _next_batch(self) -> dict | None:
        taken = [self._held.popleft() for _ in range(min(len(self._held), self.batch_size))]
        if not taken:
            return None
        try:
            hits = [self._hashed(seen) for seen in taken]
        except Exception:
            self._held.extendleft(reversed(taken))  # the salt could not be read: kept
            raise
        return {"batch_id": uuid.uuid4().hex, "hits": hits}

    def stop(self, within: float = 5.0) -> None:
        """Send what is held (graceful stop), for at most `within` seconds."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(within)
        deadline = time.monotonic() + within
        while (self._held or self._unconfirmed) and time.monotonic() < deadline:
            if not self.send():
                break
        if self._held or self._unconfirmed:
            log.warning("usage: %d hits were not recorded before the stop", len(self._held))

    def _hashed(self, seen: Seen) -> dict:
        salt = self._salt(seen.at.date())
        return {
            "kind": seen.kind,
            "item_id": seen.item_id,
            "file_id": seen.file_id,
            "user": hmac.new(salt, seen.who.encode(), hashlib.sha256).hexdigest(),
            "at": seen.at.isoformat(),
        }

    def _salt(self, day: date) -> bytes:
        """The day's salt: made by the first gateway to need it, read by the others; the
        days before are deleted."""
        if day not in self._salts:
            with self.database.unit_of_work() as uow:
                insert_new(uow.session, UsageSalt, day=day, salt=os.urandom(32))
                uow.session.execute(delete(UsageSalt).where(UsageSalt.day < day))
                salt = uow.session.scalar(select(UsageSalt.salt).where(UsageSalt.day == day))
                assert salt is not None  # inserted above, or by another gateway
                self._salts = {day: salt}
        return self._salts[day]


def register(app: Flask) -> None:
    settings = get_settings().usage
    if settings.counting:
        app.extensions[EXTENSION] = UsageRecorder(
            app.extensions["lodge.rpc"],
            app.extensions["lodge.database"],
            settings.flush_seconds,
            settings.batch_size,
        )


def stop(app: object) -> None:
    """At a worker's exit (lodge/cli.py): what it holds goes to inventory first. `app` is
    what gunicorn loaded, if anything: the master also calls the hook, for a worker that
    died, and a worker whose app failed to load holds gunicorn's error app."""
    recorder = getattr(app, "extensions", {}).get(EXTENSION)
    if recorder is not None:
        with contextlib.suppress(Exception):
            recorder.stop()


def _hold(kind: str, item_id: str, file_id: str | None = None) -> None:
    recorder = current_app.extensions.get(EXTENSION)
    agent = request.headers.get("User-Agent", "")
    if recorder is None or is_robot(agent):
        return
    actor = g.get("actor")
    who = f"user:{actor.id}" if actor is not None else f"addr:{request.remote_addr}\0{agent}"
    recorder.hold(Seen(kind, item_id, file_id, who, utcnow()))


def count_view(item_id: str) -> None:
    """A landing page was shown (a COUNTER Investigation)."""
    _hold(INVESTIGATION, item_id)


def count_download(item_id: str, file_id: str) -> None:
    """A file was sent (a COUNTER Request)."""
    _hold(REQUEST, item_id, file_id)
