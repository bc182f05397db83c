"""Landing page benchmark: how long the gateway takes to render an item's page, citation
included, with the inventory's answers stubbed in process (so only the gateway's own work
is timed: the template, the meta tags, JSON-LD, Signposting and the citation).

Renders the page N times per citation style through the real Flask app (test client) and
prints p50/p95 in milliseconds: with the parsed CSL styles and rendered citations kept (a
page seen before), with only the styles kept (a citation rendered afresh, as for an item's
first view), and with nothing kept (each render parses its style and locale too).
Run it from a checkout to measure that checkout's code; to compare with a commit before:

    python bench/landing_render.py --requests 200
    git worktree add /tmp/before COMMIT && cd /tmp/before && python $OLDPWD/bench/landing_render.py
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO_ROOT = Path.cwd()  # the checkout whose code is measured
sys.path.insert(0, str(REPO_ROOT))

ITEM = {
    "id": "0123456789abcdef0123456789abcdef",
    "identifier": "ark:/99999/lodge-0123456789abcdef",
    "deposit_id": "d1",
    "collection": "open-works",
    "access": "open",
    "embargo_until": None,
    "resource_type": "master-thesis",
    "created_at": "2026-05-01T00:00:00+00:00",
    "withdrawn_at": None,
    "doi": "10.5072/lodge.1",
    "creators": [
        {"name": "Sam Student", "orcid": "0000-0002-1825-0097"},
        {"name": "Fran Faculty", "orcid": None},
    ],
    "record": {
        "title": ["Carbon in northern peat bogs"],
        "creator": ["Sam Student", "Fran Faculty"],
        "date": ["2026-05-01"],
        "type": ["Master"],
        "subject": ["peat", "carbon"],
        "description": ["Ten years of cores from three northern mires."],
        "language": ["en"],
    },
    "representations": [
        {
            "id": "r1",
            "usage": "original",
            "label": "Original",
            "files": [
                {
                    "id": "f1",
                    "filename": "thesis.pdf",
                    "size": 123456,
                    "sha256": "0" * 64,
                    "media_type": "application/pdf",
                    "technical": None,
                }
            ],
        }
    ],
}
COLLECTION = {"id": "open-works", "name": "Open works", "parent_id": None, "description": ""}


@contextlib.contextmanager
def stub_rpc():
    inventory = SimpleNamespace(
        get_item=lambda item_id, with_usage=False, with_collection=False: {
            **ITEM,
            "collection_name": COLLECTION["name"],
        },
    )
    yield SimpleNamespace(inventory=inventory)


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * share))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    arguments = parser.parse_args()
    from gateway.app import create_app
    from gateway.http import usage
    from gateway.web import public
    from kernel.platform.config import get_settings
    from lodge.migrations import upgrade

    # the settings of the environment (the embedded defaults: SQLite under var/), as
    # `make run` has them; the broker is never reached
    upgrade("gateway", get_settings().database_url("gateway"))
    public.rpc = stub_rpc
    app = create_app({"TESTING": True})
    # only rendering is timed: no usage recorder, which would try to reach inventory
    app.extensions.pop(usage.EXTENSION, None)
    client = app.test_client()
    path = f"/items/{ITEM['id']}"
    try:
        from gateway.presenters import citations
    except ImportError:  # a checkout from before the CSL citations: one hand-built string
        citations = None  # type: ignore[assignment]
    styles = [style.key for style in citations.STYLES] if citations else [None]
    print(f"{arguments.requests} renders per row, ms (p50 / p95)")
    modes = ("kept", "style kept", "nothing kept") if citations else ("kept",)
    for style in styles:
        for mode in modes:
            timings = []
            for _ in range(arguments.requests):
                if mode != "kept":
                    citations._rendered.cache_clear()  # a citation not rendered before
                if mode == "nothing kept":
                    citations._parsed.cache_clear()
                started = time.perf_counter()
                response = client.get(path, query_string={"style": style} if style else None)
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code
            label = f"{style or 'hand-built'} ({mode})"
            p50, p95 = statistics.median(timings), percentile(timings, 0.95)
            print(f"  {label:<32} {p50:6.1f} / {p95:6.1f}")


if __name__ == "__main__":
    main()
