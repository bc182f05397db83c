"""schemathesis fuzzes the REST API of a Lodge of its own (its requests create and change
profiles, deposits and reviews, so it never shares one with other tests): at least 2,000
generated cases, stateful sequences included, and not one server error."""

import pytest

from tests.support.fuzz import run_schemathesis
from tests.support.system import ARTIFACTS_DIR, LodgeSystem

MIN_CASES = 2000
EXAMPLES_PER_OPERATION = 100  # the run ends when every phase has made its cases...
BUDGET_SECONDS = 60  # ...or at this cap, on a machine too loaded to finish them


@pytest.fixture(scope="module")
def fuzzed_system():
    with LodgeSystem("postgresql", label="fuzz", start_timeout=180) as system:
        yield system


@pytest.mark.timeout(BUDGET_SECONDS + 600)
def test_schemathesis_finds_no_server_error(fuzzed_system):
    token = fuzzed_system.token("admin")  # every scope and role: the widest surface
    run = run_schemathesis(
        fuzzed_system.base_url,
        token,
        ARTIFACTS_DIR / "schemathesis",
        max_examples=EXAMPLES_PER_OPERATION,
        max_time=BUDGET_SECONDS,
        seed=8,
        timeout=BUDGET_SECONDS + 240,
    )
    assert run.cases >= MIN_CASES, run.output[-3000:]
    assert run.returncode == 0 and not run.server_errors, run.output[-8000:]
    log = fuzzed_system.log_text()
    assert "unhandled error" not in log and "service error" not in log, log[-8000:]
