"""How long validation's two passes take on large files, on local storage.

    .venv/bin/python bench/validation.py [--size-mib 1024]

Prints, for a large PDF-named binary and a zip of many entries: the pre-check (what the
gateway waits for at upload) and the full check without a virus scanner (archive expansion,
re-hash, technical metadata), in seconds and MB/s. The clamd scan adds its own time; it is
left out so the figure is Lodge's own.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernel.platform.storage import LocalStorage
from services.validation import inspection
from services.validation.scanner import Clamd

RULES = {
    "min_files": 1,
    "max_files": 10,
    "max_file_size": 64 * 1024**3,
    "max_total_size": 64 * 1024**3,
    "allowed_extensions": [],
    "virus_scan": False,
}


def big_file(storage: LocalStorage, size: int):
    block = os.urandom(1024 * 1024)
    head = b"%PDF-1.7\n" + block[9:]
    return storage.save("staging/bench/big", iter([head] + [block] * (size // len(block) - 1)))


def many_entries(storage: LocalStorage, root: Path, entries: int):
    path = root / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(entries):
            archive.writestr(f"data/part-{i:05d}.csv", f"id,value\n{i},{i * 7}\n" * 50)
    data = path.read_bytes()
    return storage.save("staging/bench/many", iter([data]))


def timed(label: str, size: int, run) -> None:
    start = time.perf_counter()
    report = run()
    took = time.perf_counter() - start
    failed = [c["code"] for c in report["checks"] if not c["passed"]]
    print(f"{label:<44} {took:8.3f} s  {size / took / 1e6:9.1f} MB/s  failed: {failed or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--entries", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lodge-bench-validation-") as scratch:
        root = Path(scratch)
        storage = LocalStorage(root / "storage")
        scanner = Clamd()  # none configured: Lodge's own work only
        for name, stored in (
            ("report.pdf", big_file(storage, args.size_mib * 1024**2)),
            ("data.zip", many_entries(storage, root, args.entries)),
        ):
            record = {
                "id": name,
                "filename": name,
                "size": stored.size,
                "sha256": stored.sha256,
                "media_type": "application/octet-stream",
                "storage_key": stored.key,
            }
            print(f"{name}: {stored.size / 1e6:.1f} MB")
            timed(
                "  pre-check (at upload)",
                stored.size,
                lambda key=stored.key, name=name: inspection.precheck(storage, key, name, RULES),
            )
            timed(
                "  full check (no clamd)",
                stored.size,
                lambda record=record: inspection.full_check(storage, record, RULES, scanner),
            )


if __name__ == "__main__":
    main()
