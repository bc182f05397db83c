from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.platform.db import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class ValidationReport(Base):
    """One report per deposit revision, with a result per file."""

    __tablename__ = "validation_reports"
    __table_args__ = (UniqueConstraint("deposit_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deposit_id: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Precheck(Base):
    """The pre-check of one uploaded file, so the editor shows it again after a reload."""

    __tablename__ = "prechecks"

    file_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
