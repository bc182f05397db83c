#!/usr/bin/env bash
# A longer schemathesis campaign against a Lodge of its own (PostgreSQL, RabbitMQ on
# localhost): FUZZ_SECONDS of fuzzing and stateful sequences (default 900), FUZZ_EXAMPLES
# cases per operation and phase (default 500). Prints what it ran and any server error.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python - <<'PY'
import os, sys, time
from tests.support.fuzz import run_schemathesis
from tests.support.system import ARTIFACTS_DIR, LodgeSystem

seconds = int(os.environ.get("FUZZ_SECONDS", "900"))
examples = int(os.environ.get("FUZZ_EXAMPLES", "500"))
with LodgeSystem("postgresql", label="fuzz", start_timeout=180) as system:
    started = time.monotonic()
    run = run_schemathesis(system.base_url, system.token("admin"),
                           ARTIFACTS_DIR / "schemathesis-campaign", max_examples=examples,
                           max_time=seconds, timeout=seconds + 1800)
    elapsed = time.monotonic() - started
    print(run.output[-6000:])
    print(f"fuzz: {run.cases} cases in {elapsed:.0f} s ({run.cases / elapsed:.1f}/s), "
          f"{len(run.server_errors)} server errors, exit {run.returncode}")
    if "unhandled error" in system.log_text():
        print("the gateway logged unhandled errors; see", system.log_path)
sys.exit(0 if run.returncode == 0 else 1)
PY
