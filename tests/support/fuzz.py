"""schemathesis against a running Lodge's /api/v1/openapi.json: examples, coverage, fuzzing
and stateful phases (following the document's OpenAPI links), checking for server errors.
Used by the test suite (a bounded run) and bench/fuzz.sh (a longer campaign)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PHASES = "examples,coverage,fuzzing,stateful"


@dataclass
class FuzzRun:
    returncode: int
    cases: int
    output: str

    @property
    def server_errors(self) -> list[str]:
        return re.findall(r"^.*Server error.*$", self.output, flags=re.MULTILINE)


def run_schemathesis(
    base_url: str,
    token: str,
    report_dir: Path,
    *,
    max_examples: int,
    max_time: int | None = None,
    # one thread: this machine's CPython 3.11.7 keeps ast.parse's recursion count per
    # interpreter, not per thread, and hypothesis parses lambdas while it builds
    # strategies, so two threads fail with "AST constructor recursion depth mismatch"
    workers: int = 1,
    seed: int | None = None,
    timeout: float = 1800,
) -> FuzzRun:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{base_url}/api/v1/openapi.json",
        "--checks",
        "not_a_server_error",
        "--phases",
        PHASES,
        "--max-examples",
        str(max_examples),
        "--workers",
        str(workers),
        "--header",
        f"Authorization: Bearer {token}",
        "--request-timeout",
        "60",
        "--no-color",
        "--output-sanitize",
        "true",
        "--generation-database",
        "none",
        "--continue-on-failure",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
    ]
    if max_time:
        command += ["--max-time", str(max_time)]
    if seed is not None:
        command += ["--seed", str(seed)]
    report_dir.mkdir(parents=True, exist_ok=True)
    # schemathesis keeps a cache in its working folder; keep it with the report
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("fuzz_hooks.py"))}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=report_dir, env=env
    )
    output = result.stdout + result.stderr
    generated = re.search(r"(\d+) generated", output)
    return FuzzRun(result.returncode, int(generated.group(1)) if generated else 0, output)
