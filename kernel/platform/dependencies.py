"""Dependency providers every service uses: its database (with the outbox relay) and file
storage."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from eventlet.event import Event as GreenEvent
from eventlet.timeout import Timeout
from nameko.extensions import DependencyProvider
from opentelemetry.trace import SpanKind

from kernel.platform.config import get_settings
from kernel.platform.db import Database, utcnow
from kernel.platform.messaging import CALL_HEADER, OutboxRelay, worker_activity
from kernel.platform.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_SECONDS
from kernel.platform.storage import get_storage

log = logging.getLogger(__name__)
CALL_CONTEXT = CALL_HEADER.removeprefix("nameko.")


class Store(DependencyProvider):
    """The service's database; its outbox is relayed by a managed green thread,
    woken by each commit that queued events and on a timer as a safety net (and for rows
    another instance left). Each round of the relay also
    measures what is left in the outbox (the outbox gauges: one query a round, whatever
    scrapes) and touches LODGE_LIVENESS_FILE, if set: a probe that finds it old knows the
    service hangs.

    nameko stops dependencies after the last worker has finished, so `stop` relays once
    more: what the final workers emitted is published now, not at the next start.

    Busy, the relay runs a round for nearly every commit that queued events; the outbox is
    measured at most every `measure_interval` (the gauges are scraped far less often), not
    at each of those rounds; idle, at every timed round."""

    poll_interval = 1.0
    measure_interval = poll_interval / 2

    def setup(self):
        settings = get_settings()
        name = self.container.service_name
        self.database = Database(settings.database_url(name), source=name)
        self.relay = OutboxRelay(self.database, name, settings.broker_uri(name))
        self.database.on_events = self.wake
        self.liveness_file = settings.processes.liveness_file
        self._wakeup = GreenEvent()
        self._running = False
        self._oldest_waiting: datetime | None = None
        self._measured_at = -self.measure_interval  # monotonic; the first round measures
        self._activities: dict = {}
        self._relaying = None

    def start(self):
        self._running = True
        self._relaying = self.container.spawn_managed_thread(
            self._relay_forever, identifier="outbox-relay"
        )

    def stop(self):
        self._running = False
        self.wake()
        if self._relaying is not None:
            self._relaying.wait()
        self._mark_gone()

    def kill(self):
        self._running = False
        self.wake()
        self._mark_gone()

    def wake(self):
        if not self._wakeup.ready():
            self._wakeup.send(True)

    def _relay_forever(self):
        while True:
            # read before the round: a stop during it still gets a round of its own
            last_round = not self._running
            try:
                self.relay.flush()
            except Exception:  # broker or database down: keep the rows, try again
                log.exception(
                    "outbox relay of %s failed; its rows wait for the next round",
                    self.container.service_name,
                )
            self._measure_outbox(due_only=not last_round)
            if last_round:
                self.relay.close()
                return
            self._mark_alive()
            with Timeout(self.poll_interval, False):
                self._wakeup.wait()
            self._wakeup = GreenEvent()

    def _measure_outbox(self, due_only: bool = False):
        """Unreadable (the database is down), the oldest row known to wait keeps ageing, so
        an outbox that cannot drain shows. `due_only`: not again within `measure_interval`."""
        if due_only and time.monotonic() - self._measured_at < self.measure_interval:
            return
        self._measured_at = time.monotonic()
        name = self.container.service_name
        try:
            waiting, self._oldest_waiting = self.database.outbox_backlog()
        except Exception:
            log.debug("cannot measure the outbox of %s", name, exc_info=True)
        else:
            OUTBOX_BACKLOG.labels(name).set(waiting)
        age = 0.0
        if self._oldest_waiting is not None:
            age = max((utcnow() - self._oldest_waiting).total_seconds(), 0.0)
        OUTBOX_OLDEST_SECONDS.labels(name).set(age)

    def _mark_alive(self):
        if self.liveness_file is None:
            return
        try:
            self.liveness_file.touch()
        except OSError:
            log.warning("cannot touch the liveness file %s", self.liveness_file, exc_info=True)

    def _mark_gone(self):
        """A stopped service relays no more; a restart in the same pod must touch the file
        anew before its startup probe passes."""
        if self.liveness_file is not None:
            self.liveness_file.unlink(missing_ok=True)

    def get_dependency(self, worker_ctx):
        return self

    # every worker's span and log ids (the Store is the one provider every service has),
    # and the RPC request it serves (ReplyingRpc): its writes are recorded with its reply
    def worker_setup(self, worker_ctx):
        self._activities[worker_ctx] = worker_activity(worker_ctx)
        self.database.serving_call(worker_ctx.context_data.get(CALL_CONTEXT))

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        activity = self._activities.get(worker_ctx)
        if activity is not None and exc_info is not None:
            activity.failed(exc_info[1])

    def worker_teardown(self, worker_ctx):
        self.database.serving_call(None)
        activity = self._activities.pop(worker_ctx, None)
        if activity is not None:
            if activity.kind != SpanKind.INTERNAL:  # a timer's round logs what it did itself
                log.info("%s done", activity.name)
            activity.end()

    # what workers use
    def unit_of_work(self):
        return self.database.unit_of_work()

    def reading(self):
        return self.database.reading()

    def apart(self):
        return self.database.apart()

    def read_beside(self, session, work):
        return self.database.read_beside(session, work)

    def tracking_writes(self):
        return self.database.tracking_writes()

    def finish_call(self, tracker, reply: str) -> None:
        self.database.finish_call(tracker, reply)


class FileStorage(DependencyProvider):
    def setup(self):
        self.storage = get_storage()

    def get_dependency(self, worker_ctx):
        return self.storage
