"""Usage statistics on a running Lodge: browsers and crawlers on a landing page and its
file, then the figures on the page, the staff dashboard and the COUNTER Item Report, which
refuses hostile queries with 4xx."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import jsonschema
import pytest
import requests

from kernel.contracts.usage import METRICS
from tests.e2e.test_publication import PDF, first_file, publish
from tests.support.system import expect, poll_until, signed_in

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
REPORT = "/api/v1/staff/usage/items"

# COUNTER publishes no JSON schema for R5.1 reports that could be vendored here; this one
# states the shape of its sample IR (Project-Counter/cop5, IR_sample_r51.json) for what
# Lodge fills in
MONTHLY = {
    "type": "object",
    "patternProperties": {r"^\d{4}-\d{2}$": {"type": "integer", "minimum": 1}},
    "additionalProperties": False,
}
IR_SCHEMA = {
    "type": "object",
    "required": ["Report_Header", "Report_Items"],
    "additionalProperties": False,
    "properties": {
        "Report_Header": {
            "type": "object",
            "required": [
                "Release",
                "Report_ID",
                "Report_Name",
                "Created",
                "Created_By",
                "Institution_ID",
                "Institution_Name",
                "Report_Filters",
            ],
            "properties": {
                "Release": {"const": "5.1"},
                "Report_ID": {"const": "IR"},
                "Report_Name": {"const": "Item Report"},
                "Created": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"},
                "Institution_ID": {
                    "type": "object",
                    "properties": {"Proprietary": {"type": "array", "items": {"type": "string"}}},
                },
                "Report_Filters": {
                    "type": "object",
                    "required": ["Begin_Date", "End_Date"],
                    "properties": {
                        "Begin_Date": {"type": "string", "pattern": r"^\d{4}-\d\d-01$"},
                        "End_Date": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\d$"},
                    },
                },
            },
        },
        "Report_Items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["Item", "Platform", "Item_ID", "Attribute_Performance"],
                "properties": {
                    "Item": {"type": "string"},
                    "Authors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["Name"],
                            "properties": {"Name": {"type": "string"}},
                        },
                    },
                    "Item_ID": {
                        "type": "object",
                        "required": ["Proprietary"],
                        "properties": {"Proprietary": {"type": "string", "pattern": "^[^:]+:.+"}},
                    },
                    "Attribute_Performance": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["Data_Type", "Access_Method", "Performance"],
                            "properties": {
                                "YOP": {"type": "string", "pattern": r"^\d{4}$"},
                                "Access_Type": {"enum": ["Open", "Controlled"]},
                                "Access_Method": {"enum": ["Regular", "TDM"]},
                                "Performance": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": dict.fromkeys(METRICS, MONTHLY),
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def visitor(agent: str) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = agent
    return session


def figures_on_page(lodge_system, item_id: str) -> tuple[int, int]:
    """Views and downloads as the landing page shows them, asked as a crawler would (a
    crawler's visit counts nothing, so asking changes nothing)."""
    page = visitor(GOOGLEBOT).get(f"{lodge_system.base_url}/items/{item_id}", timeout=30)
    shown = dict(re.findall(r'data-usage="(\w+)">(\d+)<', page.text))
    return int(shown.get("views", -1)), int(shown.get("downloads", -1))


@pytest.fixture(scope="module")
def counted(lodge_system):
    """An item two browsers and two crawlers looked at; its figures once they show."""
    item = publish(lodge_system, {"title": "Tide pools of the north"})
    page = f"{lodge_system.base_url}/items/{item['id']}"
    file_url = f"{lodge_system.base_url}/api/v1/items/{item['id']}/files/{first_file(item)['id']}"
    chrome, firefox = visitor(CHROME), visitor(FIREFOX)
    # a reload within 30 s: one view; the download counts as a view too (COUNTER)
    for _ in range(2):
        expect(chrome.get(page, timeout=30), 200)
    assert chrome.get(file_url, timeout=30).content == PDF
    # neither a HEAD nor the rest of a download is a new download
    expect(chrome.head(file_url, timeout=30), 200)
    expect(chrome.get(file_url, headers={"Range": "bytes=10-"}, timeout=30), 206)
    expect(firefox.get(page, timeout=30), 200)
    for crawler in (visitor(GOOGLEBOT), requests.Session()):  # python-requests is a robot too
        expect(crawler.get(page, timeout=30), 200)
        expect(crawler.get(file_url, timeout=30), 200)
    poll_until(
        lambda: figures_on_page(lodge_system, item["id"]) == (3, 1),
        timeout=30,
        description="the landing page showing 3 views and 1 download",
    )
    return item


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def test_the_landing_page_counts_browsers_once_and_never_crawlers(lodge_system, counted):
    assert figures_on_page(lodge_system, counted["id"]) == (3, 1)


def test_the_item_report_is_counter_shaped_with_totals_and_uniques(lodge_system, counted):
    staff = lodge_system.client("staff")
    month = this_month()
    report = expect(staff.get(REPORT, params={"begin": month, "end": month}), 200)
    jsonschema.validate(report, IR_SCHEMA)
    [row] = [r for r in report["Report_Items"] if r["Item"] == "Tide pools of the north"]
    assert row["Item_ID"]["URI"] == f"{lodge_system.base_url}/items/{counted['id']}"
    assert row["Authors"] == [{"Name": "Fran Faculty"}]
    [attributes] = row["Attribute_Performance"]
    assert attributes["Access_Type"] == "Open"
    assert attributes["Performance"] == {
        "Total_Item_Investigations": {month: 3},
        "Unique_Item_Investigations": {month: 2},
        "Total_Item_Requests": {month: 1},
        "Unique_Item_Requests": {month: 1},
    }
    in_collection = expect(
        staff.get(REPORT, params={"begin": month, "end": month, "collection": "open-works"}),
        200,
    )
    other = expect(
        staff.get(REPORT, params={"begin": month, "end": month, "collection": "theses"}), 200
    )
    ids = {r["Item_ID"]["URI"] for r in in_collection["Report_Items"]}
    assert row["Item_ID"]["URI"] in ids
    assert row["Item_ID"]["URI"] not in {r["Item_ID"]["URI"] for r in other["Report_Items"]}


def test_the_dashboard_lists_the_most_viewed_and_downloaded(lodge_system, counted):
    page = signed_in(lodge_system, "staff").get(f"{lodge_system.base_url}/staff/dashboard")
    expect(page, 200)
    section = page.text[page.text.index('id="usage-heading"') :]
    assert "Most viewed" in section and "Most downloaded" in section
    assert f'href="/items/{counted["id"]}">Tide pools of the north</a>' in section


@pytest.mark.parametrize(
    "query",
    [
        {"begin": "2026-13", "end": "2026-12"},
        {"begin": "2026-1", "end": "2026-12"},
        {"begin": "next month", "end": "2026-12"},
        {"begin": "2026-05", "end": "2026-01"},  # end before begin
        {"begin": "1900-01", "end": "2026-12"},  # a huge range
        {"begin": "2026-01"},
        {"begin": "2026-01", "end": "2026-02", "page": "2"},
        {"begin": "2026-01\x00", "end": "2026-02"},
        {"begin": "2026-01", "end": "2026-02", "collection": "../../etc/passwd"},
        {"begin": "2026-01", "end": "2026-02", "collection": "x" * 5000},
        {"begin": "2026-01", "end": "2026-02", "collection": "Theses"},
        {"begin": ["2026-01", "2027-01"], "end": {"$gt": ""}},
    ],
)
def test_hostile_report_queries_are_refused_with_the_error_shape(lodge_system, query):
    response = lodge_system.client("staff").get(REPORT, params=query)
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()["error"]) >= {"code", "message"}


def test_a_forged_collection_is_not_found_and_patrons_get_no_report(lodge_system):
    month = this_month()
    staff = lodge_system.client("staff")
    missing = staff.get(REPORT, params={"begin": month, "end": month, "collection": "no-such"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    student = lodge_system.client("student")
    assert student.get(REPORT, params={"begin": month, "end": month}).status_code == 403
    assert (
        lodge_system.client().get(REPORT, params={"begin": month, "end": month}).status_code == 401
    )
