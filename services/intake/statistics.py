"""Figures for the staff dashboard, computed in SQL on PostgreSQL and SQLite alike.

The history is the one source: a submission is a step to `submitted`, a decision a step
from `in_review` to approved, returned or declined. Only the weeks asked for are read
(index on to_status, at), so the cost follows recent activity, not the archive's size.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from kernel.contracts.deposits import DECIDED, Status
from services.intake.models import Deposit, HistoryEntry

# decisions no approver made: they would hide how long people wait for one
SYSTEM_REASONS = ("automatic", "staff_mediated", "system_mediated")


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week_of(column: SQLColumnExpression[datetime], dialect: str) -> ColumnElement[Any]:
    """The Monday (UTC) of the week a timestamp falls in."""
    if dialect == "postgresql":
        return func.date_trunc("week", func.timezone("UTC", column))
    return func.date(column, "weekday 0", "-6 days")


def _seconds_between(
    start: SQLColumnExpression[datetime], end: SQLColumnExpression[datetime], dialect: str
) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _is_decision(step: type[HistoryEntry]) -> ColumnElement[bool]:
    return and_(step.from_status == Status.IN_REVIEW, step.to_status.in_(DECIDED))


def deposit_statistics(session: Session, weeks: int, today: date | None = None) -> dict[str, Any]:
    dialect = session.get_bind().dialect.name
    first_week = week_start(today or datetime.now(UTC).date()) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first_week, time.min, tzinfo=UTC)

    by_status = dict(
        session.execute(select(Deposit.status, func.count()).group_by(Deposit.status))
        .tuples()
        .all()
    )

    week = _week_of(HistoryEntry.at, dialect).label("week")
    rows = session.execute(
        select(week, HistoryEntry.to_status, func.count())
        .where(
            HistoryEntry.at >= since,
            or_(HistoryEntry.to_status == Status.SUBMITTED, _is_decision(HistoryEntry)),
        )
        .group_by(week, HistoryEntry.to_status)
    ).all()
    counts = {
        first_week + timedelta(weeks=n): dict.fromkeys(
            ("submitted", "approved", "returned", "declined"), 0
        )
        for n in range(weeks)
    }
    for week_value, status, count in rows:
        bucket = counts.get(_as_date(week_value))
        if bucket is not None:
            bucket[status] = count

    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "weeks": [{"week": day, **figures} for day, figures in sorted(counts.items())],
        "turnaround": _turnaround(session, since, dialect),
        "mediated": _mediated(session, since),
        "since": first_week,
        "computed_at": datetime.now(UTC),
    }


MEDIATED_SHOWN = 25


def _mediated(session: Session, since: datetime) -> dict[str, Any]:
    """Deposits staff made for patrons since `since`, newest first, with who made them
    (the partial index on created_at holds only those)."""
    made = (Deposit.mediator_id.is_not(None), Deposit.created_at >= since)
    total = session.scalar(select(func.count()).select_from(Deposit).where(*made))
    rows = session.scalars(
        select(Deposit).where(*made).order_by(Deposit.created_at.desc()).limit(MEDIATED_SHOWN)
    ).all()
    return {
        "total": total,
        "items": [
            {
                "deposit_id": d.id,
                "title": d.title,
                "status": d.status,
                "profile_id": d.profile_id,
                "depositor": d.depositor,
                "mediated_by": d.mediated_by,
                "created_at": d.created_at,
            }
            for d in rows
        ],
    }


def _turnaround(session: Session, since: datetime, dialect: str) -> list[dict[str, Any]]:
    """Median time from submission to an approver's decision, per profile.

    A median needs no percentile function: rank each profile's durations and average
    the middle one or two (window functions, in PostgreSQL and SQLite alike)."""
    decided, submitted = aliased(HistoryEntry), aliased(HistoryEntry)
    durations = (
        select(
            Deposit.profile_id.label("profile_id"),
            _seconds_between(submitted.at, decided.at, dialect).label("seconds"),
        )
        .select_from(decided)
        .join(
            submitted,
            and_(
                submitted.deposit_id == decided.deposit_id,
                submitted.revision == decided.revision,
                submitted.to_status == Status.SUBMITTED,
            ),
        )
        .join(Deposit, Deposit.id == decided.deposit_id)
        .where(
            decided.at >= since,
            _is_decision(decided),
            or_(decided.reason_code.is_(None), decided.reason_code.not_in(SYSTEM_REASONS)),
        )
    ).cte("durations")
    ranked = select(
        durations.c.profile_id,
        durations.c.seconds,
        func.row_number()
        .over(partition_by=durations.c.profile_id, order_by=durations.c.seconds)
        .label("position"),
        func.count().over(partition_by=durations.c.profile_id).label("decisions"),
    ).cte("ranked")
    middle = or_(
        ranked.c.position == (ranked.c.decisions + 1) // 2,
        ranked.c.position == (ranked.c.decisions + 2) // 2,
    )
    rows = session.execute(
        select(ranked.c.profile_id, func.max(ranked.c.decisions), func.avg(ranked.c.seconds))
        .where(middle)
        .group_by(ranked.c.profile_id)
        .order_by(ranked.c.profile_id)
    ).all()
    return [
        {"profile_id": profile_id, "decisions": int(decisions), "median_seconds": float(median)}
        for profile_id, decisions, median in rows
    ]
