"""Who may have an item's files."""
from datetime import date, timedelta

from gateway.access import files_visible

SIGNED_IN = {"id": "u1"}


def item(access, embargo_until=None):
    return {"access": access, "embargo_until": embargo_until}


def test_open_files_are_for_everyone():
    assert files_visible(item("open"), None)


def test_campus_files_need_a_signed_in_user():
    assert not files_visible(item("campus"), None)
    assert files_visible(item("campus"), SIGNED_IN)


def test_embargoed_files_open_on_the_date():
    tomorrow, today = date.today() + timedelta(days=1), date.today()
    assert not files_visible(item("embargo", tomorrow.isoformat()), SIGNED_IN)
    assert files_visible(item("embargo", today.isoformat()), None)


def test_an_unknown_policy_shows_nothing():
    assert not files_visible(item("secret"), SIGNED_IN)
