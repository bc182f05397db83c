"""End-to-end fixtures: one complete Lodge (PostgreSQL) in processes of its own per session.

Every test in tests/e2e is marked `e2e`, so `-m "not e2e"` skips them all.
A failing test's report ends with the tail of the Lodge log.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent
if str(E2E_DIR.parents[1]) not in sys.path:  # `pytest` as well as `python -m pytest`
    sys.path.insert(0, str(E2E_DIR.parents[1]))

from tests.support.system import LodgeSystem  # noqa: E402
LOG_TAIL_LINES = 120


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def lodge_system(request):
    keep = True if request.config.getoption("--keep-artifacts", default=False) else None
    system = LodgeSystem("postgresql", label="e2e", keep_artifacts=keep)
    system.start()
    yield system
    system.stop()
    if system.leftovers:
        print(f"\nLodge processes that outlived `lodge run`: {system.leftovers}")
    if system.artifact_path:
        print(f"\nLodge log kept at {system.artifact_path}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed or "lodge_system" not in getattr(item, "fixturenames", ()):
        return
    system = getattr(item, "funcargs", {}).get("lodge_system")
    if isinstance(system, LodgeSystem):
        report.sections.append((f"Lodge log (last {LOG_TAIL_LINES} lines)",
                                system.log_tail(LOG_TAIL_LINES)))
