"""Database engines, the unit of work, and the tables every service's database has.

Each service owns one database. Its unit of work commits the service's state change
together with the events that change causes (the transactional outbox) and with the
keys of the events it has handled (idempotent handlers).
"""
from __future__ import annotations

import contextlib
import threading
from datetime import datetime, timezone
from typing import Any, Iterator

from sqlalchemy import JSON, DateTime, Integer, String, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on SQLite and PostgreSQL alike."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class MessagingBase(DeclarativeBase):
    """Tables for reliable messaging; each service's migrations create them too."""


class OutboxMessage(MessagingBase):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcessedEvent(MessagingBase):
    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class UnitOfWork:
    """One transaction: the session, the events to publish, the events handled."""

    def __init__(self, session: Session, source: str):
        self.session = session
        self.source = source
        self.emitted = 0

    def emit(self, event_type: str, payload: dict) -> None:
        """Queue an event (already dumped through its contract) to publish after commit."""
        self.session.add(OutboxMessage(event_type=event_type, payload=payload))
        self.emitted += 1

    def first_time(self, key: str) -> bool:
        """Record that the event `key` is handled; False if it was handled before."""
        if self.session.get(ProcessedEvent, key) is not None:
            return False
        try:
            with self.session.begin_nested():
                self.session.add(ProcessedEvent(key=key))
        except IntegrityError:  # another instance handled it concurrently
            return False
        return True


class Database:
    """A service's engine and sessions.

    SQLite (the embedded default) allows one writer at a time. Every unit of work in a
    process takes a process-wide lock, so green threads never wait on SQLite's own
    lock while blocking the hub.
    """

    def __init__(self, url: str, source: str, **engine_kwargs):
        self.url = url
        self.source = source
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.is_sqlite = url.startswith("sqlite")
        # threading is monkey-patched in services, so this lock is green there
        self._write_lock = threading.RLock() if self.is_sqlite else None

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        with self._serialised():
            session = self.sessions()
            try:
                uow = UnitOfWork(session, self.source)
                yield uow
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        with self._serialised():
            session = self.sessions()
            try:
                yield session
            finally:
                session.rollback()
                session.close()

    @contextlib.contextmanager
    def _serialised(self):
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            yield

    def dispose(self) -> None:
        self.engine.dispose()
