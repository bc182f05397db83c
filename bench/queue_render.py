"""Review queue page, the gateway's own part: how long the gateway takes to build the staff
queue page (/staff/queue) from the services' answers, stubbed in process, so only its own
work is timed: the request's hooks, the filters and 25 task rows rendered. The rest of the
page's time is the services' (bench/review_queue.py times the whole page at scale).

Renders the page N times per language through the real Flask app (test client), signed in
as an approver, and prints p50/p95 in milliseconds. Run it from a checkout to measure that
checkout's code; to compare with a commit before:

    python bench/queue_render.py --requests 300
    git worktree add /tmp/before COMMIT && cd /tmp/before && python $OLDPWD/bench/queue_render.py
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path.cwd()  # the checkout whose code is measured
sys.path.insert(0, str(REPO_ROOT))
# the services' stand-ins come from this bench's own checkout, whichever is measured
STUBS = Path(__file__).resolve().parents[1] / "tests" / "support" / "stub_services.py"

PER_PAGE = 25
PASSWORD = secrets.token_urlsafe(16)  # a throw-away account in a scratch database


def task(n: int) -> dict:
    return {
        "deposit_id": f"d{n:031d}",
        "revision": 1,
        "state": "claimed" if n % 3 == 0 else "open",
        "title": f"A thesis on peat bogs, part {n}",
        "profile_id": "thesis",
        "collection": "theses",
        "depositor": {"id": f"u-{n}", "name": f"Depositor {n:04d}", "email": "", "locale": "en"},
        "assignee": {"id": "u-alex", "name": "Alex Approver"} if n % 3 == 0 else None,
        "created_at": "2026-12-01T10:00:00+00:00",
        "due_at": "2026-12-15T10:00:00+00:00" if n % 2 else None,
        "overdue": n % 5 == 0,
        "own_deposit": False,
    }


def answers() -> dict:
    counts = {"mine": 3, "unassigned": 700, "others": 20, "all": 723, "overdue": 12}
    queue = {
        "items": [task(n) for n in range(PER_PAGE)],
        "page": 1,
        "per_page": PER_PAGE,
        "total": 723,
        "counts": counts,
        "count_limit": 1000,
        "has_more": True,
        "reasons": [
            {"code": f"r{n}", "label": f"Reason {n}", "kind": kind, "is_default": n == 0}
            for kind in ("decline", "return")
            for n in range(4)
        ],
    }
    return {
        "approval.queue": queue,
        "intake.list_profiles": [{"id": "thesis", "name": "Thesis"}],
        "inventory.list_collections": [{"id": "theses", "name": "Theses"}],
        "inventory.fixity_failures": 0,
        "letters.save_recipient": None,  # at sign-in
    }


def main() -> None:
    import os
    import time

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    arguments = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="queue-render-"))
    os.environ.update(
        {
            "LODGE_DATA_DIR": str(scratch),
            "LODGE_GATEWAY_DATABASE_URL": f"sqlite:///{scratch / 'gateway.db'}",
            "LODGE_AMQP_URI": "amqp://guest:guest@127.0.0.1:1/",  # never reached
            "LODGE_SECRET_KEY": "queue-render-" + "x" * 40,
        }
    )
    from bench.workload import percentile
    from gateway.app import create_app
    from gateway.auth import identity
    from kernel.platform.config import get_settings
    from lodge.migrations import upgrade

    spec = importlib.util.spec_from_file_location("stub_services", STUBS)
    assert spec is not None and spec.loader is not None
    stubs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stubs)
    Pool = stubs.Pool

    upgrade("gateway", get_settings().database_url("gateway"))
    app = create_app({"TESTING": True, "SESSION_COOKIE_SECURE": False})
    with app.extensions["lodge.database"].unit_of_work() as uow:
        for locale in ("en", "de"):
            identity.create_user(
                uow.session, f"alex-{locale}", "Alex", "a@x.edu", PASSWORD, [], ["approver"], locale
            )
    print(f"{arguments.requests} renders per row, ms (p50 / p95)")
    for locale in ("en", "de"):
        app.extensions["lodge.rpc"] = Pool(answers())
        client = app.test_client()
        login = client.get("/login").get_data(as_text=True)
        found = re.search(r'name="csrf-token" content="([^"]+)"', login)
        assert found is not None, "no CSRF token on the sign-in page"
        token = found.group(1)
        client.post(
            "/login",
            data={"username": f"alex-{locale}", "password": PASSWORD, "csrf_token": token},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        )
        timings = []
        for _ in range(arguments.requests + 20):  # the first 20 warm up
            started = time.perf_counter()
            response = client.get("/staff/queue")
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
            html = response.get_data(as_text=True)
            assert html.count('name="deposit_id"') == PER_PAGE and f'lang="{locale}"' in html
        timings = timings[20:]
        p50, p95 = statistics.median(timings), percentile(timings, 95)
        print(f"  queue page, {PER_PAGE} tasks, {locale:<3} {p50:6.1f} / {p95:6.1f}")


if __name__ == "__main__":
    main()
