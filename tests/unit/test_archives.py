"""Archives and compressed files are listed and judged without extracting anything to disk,
with limits for each entry and for the whole file, at every level together."""

import dataclasses
import gzip
import io
import zipfile

import pytest

from services.validation import technical
from services.validation.archives import ArchiveLimits, ArchiveProblem, inspect
from tests.support import corpus


def listing(data: bytes, expand: bool = True, limits: ArchiveLimits = ArchiveLimits()):
    return inspect(io.BytesIO(data), len(data), data[:65536], limits, expand)


def problem(data: bytes, expand: bool = True, limits: ArchiveLimits = ArchiveLimits()):
    with pytest.raises(ArchiveProblem) as raised:
        listing(data, expand, limits)
    return raised.value.code


def test_a_zip_is_listed_with_sizes():
    report = listing(corpus.zipped([("data/a.csv", b"a,b\n1,2\n"), ("README.txt", b"hi\n")]))
    assert report.as_report() == {
        "kind": "zip",
        "entry_count": 2,
        "expanded_size": 11,
        "truncated": False,
        "deferred": False,
        "entries": [
            {"name": "data/a.csv", "size": 8, "depth": 1},
            {"name": "README.txt", "size": 3, "depth": 1},
        ],
    }


def test_a_gzipped_tar_is_listed():
    report = listing(corpus.tarred([("notes/one.txt", b"one\n"), ("two.txt", b"two\n")]))
    assert report.kind == "tar"
    assert [e["name"] for e in report.entries] == ["notes/one.txt", "two.txt"]


def test_files_that_are_no_archive_have_no_listing():
    assert listing(b"%PDF-1.4\n...") is None


def test_a_single_compressed_file_is_inflated_and_measured():
    report = listing(gzip.compress(b"just one compressed text\n"))
    assert (report.kind, report.entry_count, report.expanded_size) == ("compressed", 0, 25)


def in_capped_child(data: bytes, tmp_path, expand: bool) -> dict:
    path = tmp_path / "upload"
    path.write_bytes(data)
    return technical.inspect_archive(str(path), dataclasses.asdict(ArchiveLimits()), expand, 60)


@pytest.mark.parametrize("case", corpus.ABUSE, ids=lambda case: case.filename)
def test_every_case_of_the_abuse_corpus_is_caught_in_the_capped_child(case, tmp_path):
    data = case.make()
    assert in_capped_child(data, tmp_path, True)["problem"]["code"] == case.code
    quick = in_capped_child(data, tmp_path, False)  # the pre-check at upload, from headers
    assert quick.get("problem", {}).get("code") == (None if case.full_only else case.code)


@pytest.mark.parametrize("case", corpus.BENIGN, ids=lambda case: case.filename)
def test_ordinary_archives_and_compressed_files_pass(case, tmp_path):
    data = case.make()
    for expand in (False, True):
        report = in_capped_child(data, tmp_path, expand)["listing"]
        assert not report["deferred"] and report["expanded_size"] > 0
        assert (report["kind"] == "compressed") == (case.code == "compressed_ok")


def test_many_small_entries_are_judged_as_a_whole():
    data = corpus.zeros_zip(400, 512 * 1024)  # 0.25 MB holding 200 MiB, no entry over 1 MiB
    assert len(data) < 260_000
    assert problem(data, expand=False) == "archive_bomb"
    whole = ArchiveLimits(max_ratio=10**6)
    assert listing(data, limits=whole).expanded_size == 400 * 512 * 1024  # the ratio, no other


def test_real_inflated_bytes_count_at_every_level():
    data = corpus.zipped(
        [
            ("a.csv.gz", gzip.compress(b"x" * 6000)),
            ("b.tar.gz", corpus.tarred([("b.txt", b"y" * 6000)])),
        ]
    )
    assert listing(data, limits=ArchiveLimits(max_expanded=20_000)).entry_count == 3
    assert problem(data, limits=ArchiveLimits(max_expanded=15_000)) == "archive_bomb"


def test_the_pre_check_inflates_within_its_budget_and_leaves_the_rest():
    data = corpus.compressed("gz", corpus.TEXT * 20)
    small = ArchiveLimits(quick_expanded=100_000)
    assert listing(data, expand=False, limits=small).deferred is True
    assert listing(data, expand=True, limits=small).expanded_size == len(corpus.TEXT) * 20
    assert listing(data, expand=False, limits=ArchiveLimits(quick_size=1000)).deferred is True


def test_compressed_layers_count_as_levels_only_around_something_more():
    assert listing(corpus.nested_compressed(3)).kind == "compressed"
    assert (
        problem(corpus.nested_compressed(2), limits=ArchiveLimits(max_depth=1))
        == "archive_too_deep"
    )


def test_a_zip_whose_headers_lie_is_caught_while_expanding():
    data = corpus.zip_with_lying_header()
    assert listing(data, expand=False).entries[0]["size"] == 10  # the header alone is fooled
    assert problem(data, expand=True) == "archive_damaged"


def test_the_expanded_total_is_counted_while_expanding():
    small = ArchiveLimits(max_expanded=10_000)
    data = corpus.zipped([("a.txt", b"x" * 6000), ("b.txt", b"y" * 6000)])
    assert problem(data, limits=small) == "archive_bomb"


def test_too_many_entries():
    data = corpus.zipped([(f"f{i}.txt", b"x") for i in range(12)])
    assert problem(data, limits=ArchiveLimits(max_entries=10)) == "archive_too_many_entries"


@pytest.mark.parametrize(
    "name",
    ["../../etc/cron.d/evil", "/etc/passwd", "docs/../../x", "C:\\Windows\\evil.dll", "..\\up.txt"],
)
def test_entries_pointing_outside_are_refused(name):
    assert problem(corpus.zipped([(name, b"x")])) == "archive_unsafe_path"
    assert problem(corpus.tarred([(name, b"x")])) == "archive_unsafe_path"


def test_nested_archives_are_listed_to_a_depth():
    report = listing(corpus.nested_zips(3))
    assert [e["name"] for e in report.entries][-1] == "level1.zip/level0.zip/inner.txt"
    assert problem(corpus.nested_zips(4)) == "archive_too_deep"


def test_the_pre_check_defers_large_compressed_tars():
    data = corpus.tarred([("a.txt", b"a")])
    report = listing(data, expand=False, limits=ArchiveLimits(quick_size=10))
    assert report.deferred is True and report.entries == []


def test_long_entry_names_are_shortened_in_the_report():
    report = listing(corpus.zipped([("d" * 5000 + ".txt", b"x")]))
    assert len(report.entries[0]["name"]) == 301 and report.entries[0]["name"].endswith("…")


def test_compressed_files_that_are_no_archive_do_not_count_as_nesting():
    data = corpus.zipped([("data.csv.gz", gzip.compress(b"a,b\n1,2\n"))])
    assert listing(data, limits=ArchiveLimits(max_depth=1)).entry_count == 1


@pytest.mark.parametrize(
    "text", [b"BZh,level\n1,2\n", b"\x1f\x8b\x00 not deflate", b"PK is a name"]
)
def test_text_that_starts_like_a_compressed_file_is_no_archive(text):
    assert listing(text) is None


def test_compressed_entries_are_inflated_as_they_flow_whatever_their_size():
    small_memory = ArchiveLimits(max_nested_size=1000)  # no inner file is held in memory
    zeros = corpus.compressed_zeros("gz", 16 * corpus.MiB)
    assert (
        problem(corpus.zipped([("zeros.gz", zeros)], zipfile.ZIP_STORED), limits=small_memory)
        == "archive_bomb"
    )
    run = corpus.zipped([("run.tar.gz", corpus.tarred([("levels.csv", corpus.TEXT)]))])
    assert listing(run, limits=small_memory).entries[-1]["name"] == "run.tar.gz/levels.csv"


def test_entry_names_are_reported_in_characters_that_can_be_stored_and_shown():
    names = [e["name"] for e in listing(corpus.tar_with_foreign_names()).entries]
    assert names == ["caf\ufffd.txt", "tab\ufffdbed.txt", "evil\ufffdtxt.exe"]
