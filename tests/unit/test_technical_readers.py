"""The warm reader that parses deposited files: one process serves file after file, each
parsed in a forked child it kills when the child outlives its time."""

from __future__ import annotations

import os
from pathlib import Path

from services.validation.technical import ReaderPool
from tests.support import corpus


def readers_of_this_process() -> set[int]:
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"services.validation.technical" in command:
            found.add(int(pid))
    return found


def test_one_reader_parses_file_after_file_and_outlives_a_child_it_killed(tmp_path):
    pool, before = ReaderPool(1), readers_of_this_process()
    slow, fine = tmp_path / "slow.pdf", tmp_path / "fine.pdf"
    slow.write_bytes(corpus.pdf_page_tree(100_000))
    fine.write_bytes(corpus.pdf(2))

    answers = [
        pool.ask({"kind": "pdf", "path": str(fine), "seconds": 30}),
        pool.ask({"kind": "pdf", "path": str(slow), "seconds": 0.2}),
        pool.ask({"kind": "pdf", "path": str(fine), "seconds": 30}),
    ]

    assert answers[0]["result"]["pages"] == answers[2]["result"]["pages"] == 2
    assert answers[1] == {"error": "it took too long"}
    assert len(readers_of_this_process() - before) == 1  # one warm reader, not one per file


def test_given_time_the_slow_file_is_read(tmp_path):
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(corpus.pdf_page_tree(20_000))
    answer = ReaderPool(1).ask({"kind": "pdf", "path": str(slow), "seconds": 30})
    assert answer["result"]["pages"] == 20_000


def test_a_parser_error_is_a_note(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    answer = ReaderPool(1).ask({"kind": "image", "path": str(broken), "seconds": 30})
    assert set(answer) == {"error"} and answer["error"]
