"""COUNTER's rules, without a database: robots, double clicks, unique counts per session,
months, and a batch applied twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kernel.contracts.usage import INVESTIGATION, REQUEST, months_between
from kernel.policy.robots import is_robot
from services.inventory.usage import Hit, Ledger, count

BROWSERS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
)
CRAWLERS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Wget/1.21.2",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "",
    None,
)
START = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)
USER, OTHER = "a" * 64, "b" * 64


@pytest.mark.parametrize("agent", BROWSERS)
def test_browsers_are_people(agent):
    assert not is_robot(agent)


@pytest.mark.parametrize("agent", CRAWLERS)
def test_crawlers_and_empty_user_agents_are_robots(agent):
    assert is_robot(agent)


def view(seconds: float, user: str = USER, item: str = "i1") -> Hit:
    return Hit(INVESTIGATION, item, None, user, START + timedelta(seconds=seconds))


def download(seconds: float, file_id: str = "f1", user: str = USER, item: str = "i1") -> Hit:
    return Hit(REQUEST, item, file_id, user, START + timedelta(seconds=seconds))


def figures(ledger: Ledger, item: str = "i1", month: str = "2026-03") -> dict[str, int]:
    return {column: n for column, n in ledger.changes[(item, month)].items() if n}


def test_a_view_is_an_investigation_and_a_download_both():
    ledger = Ledger()
    assert count(ledger, [view(0), download(60)]) == 2
    assert figures(ledger) == {
        "total_investigations": 2,
        "unique_investigations": 1,
        "total_requests": 1,
        "unique_requests": 1,
    }


def test_clicks_within_30_seconds_count_once_and_the_last_is_kept():
    ledger = Ledger()
    # 0, 20, 45 (25 after the last), 50: one run of reloads; 81 is 31 s after 50
    assert count(ledger, [view(0), view(20), view(45), view(50), view(81)]) == 2
    assert figures(ledger)["total_investigations"] == 2
    assert ledger.clicks[(USER, "item:i1")] == START + timedelta(seconds=81)


def test_exactly_30_seconds_apart_is_a_double_click_and_31_is_not():
    ledger = Ledger()
    assert count(ledger, [view(0), view(30)]) == 1
    ledger = Ledger()
    assert count(ledger, [view(0), view(31)]) == 2


def test_double_clicks_are_per_user_and_per_file():
    ledger = Ledger()
    hits = [view(0), view(1, user=OTHER), download(2, "f1"), download(3, "f2"), download(4, "f1")]
    assert count(ledger, hits) == 4
    assert figures(ledger)["total_requests"] == 2
    assert figures(ledger)["total_investigations"] == 4


def test_hits_in_any_order_count_as_in_time_order():
    ledger = Ledger()
    assert count(ledger, [view(50), view(0), view(20)]) == 1


def test_a_late_earlier_click_of_a_pair_is_not_counted_again():
    ledger = Ledger()
    count(ledger, [view(20)])
    assert count(ledger, [view(5)]) == 0  # arrived in a later batch, but came first
    assert figures(ledger)["total_investigations"] == 1


def test_an_item_counts_once_per_session_an_hour_of_one_user():
    ledger = Ledger()
    # 23:00 to 23:59 is one session; two views a minute apart are two investigations
    count(ledger, [view(0), view(60), view(3000), view(0, user=OTHER)])
    assert figures(ledger)["total_investigations"] == 4
    assert figures(ledger)["unique_investigations"] == 2


def test_the_next_hour_is_a_new_session():
    ledger = Ledger()
    count(ledger, [view(0), view(3600 + 60, item="i1")])
    assert figures(ledger)["unique_investigations"] == 1
    assert figures(ledger, month="2026-04")["unique_investigations"] == 1


def test_usage_counts_in_the_month_of_its_time_and_a_kept_later_click_moves_it():
    ledger = Ledger()
    # 23:59:50 on 31 March, reloaded at 00:00:10 on 1 April: one view, in April
    count(ledger, [view(3590), view(3610)])
    assert figures(ledger) == {}  # counted in March, then taken back
    assert figures(ledger, month="2026-04") == {
        "total_investigations": 1,
        "unique_investigations": 1,
    }


def test_a_removed_double_click_takes_its_unique_count_only_when_it_was_the_last():
    ledger = Ledger()
    # the first view of the session at 23:59:40 is replaced by one at 00:00:05
    count(ledger, [view(3580), view(3605), view(1000)])
    assert figures(ledger)["total_investigations"] == 1  # 23:16:40 stays
    assert figures(ledger)["unique_investigations"] == 1
    assert figures(ledger, month="2026-04")["total_investigations"] == 1


def test_report_spans_count_both_ends():
    assert months_between("2026-01", "2026-12") == 12
    assert months_between("2025-12", "2026-01") == 2
    assert months_between("2026-02", "2026-01") == 0
