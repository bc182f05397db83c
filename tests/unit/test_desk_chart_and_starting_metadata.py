"""The staff desk's pure parts: the weekly chart's geometry, durations, starting metadata."""

from dataclasses import replace
from datetime import date

from gateway.presenters.charts import duration_words, nice_ceiling, weekly_bars
from gateway.web.staff.mediated import starting_metadata
from kernel.contracts.actors import Actor
from services.intake.seed import DEMO_PROFILES


def week(submitted, approved=0, returned=0, declined=0):
    return {
        "submitted": submitted,
        "approved": approved,
        "returned": returned,
        "declined": declined,
    }


def test_the_axis_ends_on_a_round_number_above_the_highest_bar():
    assert nice_ceiling(0) == (4, 1)
    assert nice_ceiling(7) == (8, 2)
    assert nice_ceiling(18) == (20, 5)
    assert nice_ceiling(930) == (1000, 250)


def test_weekly_bars_put_submissions_beside_decisions_stacked_by_outcome():
    chart = weekly_bars(
        [week(8, 5, 2, 1), week(0)],
        ["23 Nov", "30 Nov"],
        "submitted",
        ["approved", "returned", "declined"],
    )
    assert [value for _, value in chart.ticks] == [0, 2, 4, 6, 8]
    first = [b for b in chart.bars if b.label == "23 Nov"]
    assert [(b.series, b.value) for b in first] == [
        ("submitted", 8),
        ("approved", 5),
        ("returned", 2),
        ("declined", 1),
    ]
    submitted, approved, returned, declined = first
    # the submissions bar reaches the top; the decisions stack up to the same height
    assert submitted.y == chart.plot_top and submitted.height == chart.plot_bottom - chart.plot_top
    assert approved.y + approved.height == chart.plot_bottom
    assert returned.y + returned.height == approved.y
    assert declined.y == chart.plot_top
    assert submitted.x + submitted.width < approved.x
    # an empty week has a zero-height submissions bar and no decision bars
    assert [(b.series, b.height) for b in chart.bars if b.label == "30 Nov"] == [("submitted", 0)]
    assert [label for _, label in chart.labels] == ["23 Nov", "30 Nov"]


def test_durations_are_told_in_a_readable_unit():
    assert duration_words(42) == (42, "seconds")
    assert duration_words(90) == (1.5, "minutes")
    assert duration_words(3 * 3600) == (3.0, "hours")
    assert duration_words(5 * 86400) == (5.0, "days")


def test_a_mediated_deposit_starts_with_the_patron_as_creator_and_todays_date():
    patron = Actor(id="u1", username="sam", name="Sam Student")
    fields = DEMO_PROFILES["thesis"]["fields"]
    assert starting_metadata(fields, patron, date(2026, 11, 29)) == {
        "creators": [{"name": "Sam Student"}],
        "date": "2026-11-29",
    }
    single = [
        {"key": "author", "type": "person", "dc": "creator", "repeatable": False},
        {"key": "issued", "type": "date", "dc": "date", "repeatable": False},
        {"key": "other", "type": "person", "dc": "contributor", "repeatable": True},
    ]
    assert starting_metadata(single, replace(patron, name=""), date(2026, 1, 2)) == {
        "author": {"name": "sam"},
        "issued": "2026-01-02",
    }
