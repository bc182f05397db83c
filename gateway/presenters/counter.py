"""Inventory's usage figures as a COUNTER Release 5.1 Item Report (IR) in JSON: a header,
then each item with its identifiers and, per month, the four item metrics (a month with
nothing is left out, as COUNTER's JSON does)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from kernel.contracts.usage import METRICS

RELEASE = "5.1"
# Lodge's resource types as COUNTER's Data_Types
DATA_TYPES = {
    "journal-article": "Article",
    "preprint": "Article",
    "conference-paper": "Conference_Item",
    "book": "Book",
    "book-part": "Book_Segment",
    "report": "Report",
    "thesis": "Thesis_or_Dissertation",
    "bachelor-thesis": "Thesis_or_Dissertation",
    "master-thesis": "Thesis_or_Dissertation",
    "doctoral-thesis": "Thesis_or_Dissertation",
    "dataset": "Dataset",
    "software": "Software",
    "image": "Image",
    "video": "Audiovisual",
    "sound": "Sound",
}
ATTRIBUTES = ["Authors", "YOP", "Access_Type", "Access_Method"]


def last_day(month: str) -> str:
    year, number = map(int, month.split("-"))
    return f"{month}-{calendar.monthrange(year, number)[1]:02d}"


def item_report(
    figures: dict, *, platform: str, namespace: str, landing_url, now: datetime | None = None
) -> dict:
    """`figures` as `inventory.usage_report` returns it; `landing_url(item_id)` the page's
    address. The report is of all usage ("The World"), not of one institution's."""
    created = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Report_Header": {
            "Release": RELEASE,
            "Report_ID": "IR",
            "Report_Name": "Item Report",
            "Created": created,
            "Created_By": platform,
            "Institution_ID": {"Proprietary": [f"{namespace}:0"]},
            "Institution_Name": "The World",
            "Report_Attributes": {"Attributes_To_Show": ATTRIBUTES},
            "Report_Filters": {
                "Begin_Date": f"{figures['begin']}-01",
                "End_Date": last_day(figures["end"]),
                "Metric_Type": list(METRICS),
            },
        },
        "Report_Items": [
            _item(row, platform, namespace, landing_url(row["item_id"])) for row in figures["items"]
        ],
    }


def _item(row: dict, platform: str, namespace: str, url: str) -> dict:
    identifiers = {"Proprietary": f"{namespace}:{row['identifier']}", "URI": url}
    if row.get("doi"):
        identifiers["DOI"] = row["doi"]
    performance: dict[str, dict[str, int]] = {}
    for month in row["months"]:
        for metric, count in month["figures"].items():
            if count:
                performance.setdefault(metric, {})[month["month"]] = count
    return {
        "Item": row["title"],
        "Publisher": platform,
        "Platform": platform,
        "Authors": [{"Name": name} for name in row["creators"]],
        "Item_ID": identifiers,
        "Attribute_Performance": [
            {
                "Data_Type": DATA_TYPES.get(row["resource_type"], "Other"),
                "YOP": f"{row['year']:04d}" if row.get("year") else "0001",
                "Access_Type": "Open" if row["access"] == "open" else "Controlled",
                "Access_Method": "Regular",
                "Performance": {
                    metric: performance[metric] for metric in METRICS if metric in performance
                },
            }
        ],
    }
