"""schemathesis fuzzes the REST API of the session's Lodge: at least 2,000 generated cases,
stateful sequences included, and not one server error. Its requests create and change
profiles, deposits and reviews, so it runs after every other test of that Lodge
(tests/e2e/conftest.py)."""

import pytest

from tests.support.fuzz import run_schemathesis
from tests.support.system import ARTIFACTS_DIR

MIN_CASES = 2000
EXAMPLES_PER_OPERATION = 100  # the run ends when every phase has made its cases...
BUDGET_SECONDS = 60  # ...or at this cap, on a machine too loaded to finish them


@pytest.mark.timeout(BUDGET_SECONDS + 600)
def test_schemathesis_finds_no_server_error(lodge_system):
    log_before = len(lodge_system.log_text())
    token = lodge_system.token("admin")  # every scope and role: the widest surface
    run = run_schemathesis(
        lodge_system.base_url,
        token,
        ARTIFACTS_DIR / "schemathesis",
        max_examples=EXAMPLES_PER_OPERATION,
        max_time=BUDGET_SECONDS,
        seed=8,
        timeout=BUDGET_SECONDS + 240,
    )
    assert run.cases >= MIN_CASES, run.output[-3000:]
    assert run.returncode == 0 and not run.server_errors, run.output[-8000:]
    log = lodge_system.log_text()[log_before:]
    assert "unhandled error" not in log and "service error" not in log, log[-8000:]
