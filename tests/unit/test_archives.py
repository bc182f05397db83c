"""Archives are listed and judged without extracting anything to disk."""
import io
import tarfile

import pytest

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
        "kind": "zip", "entry_count": 2, "expanded_size": 11, "truncated": False,
        "deferred": False, "entries": [{"name": "data/a.csv", "size": 8, "depth": 1},
                                       {"name": "README.txt", "size": 3, "depth": 1}]}


def test_a_gzipped_tar_is_listed():
    report = listing(corpus.tarred([("notes/one.txt", b"one\n"), ("two.txt", b"two\n")]))
    assert report.kind == "tar"
    assert [e["name"] for e in report.entries] == ["notes/one.txt", "two.txt"]


def test_files_that_are_no_archive_have_no_listing():
    assert listing(b"%PDF-1.4\n...") is None
    import gzip
    assert listing(gzip.compress(b"just one compressed text\n")) is None


@pytest.mark.parametrize("expand", [False, True])
def test_a_zip_bomb_is_refused_from_its_headers(expand):
    assert problem(corpus.zip_bomb(), expand=expand) == "archive_bomb"


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


@pytest.mark.parametrize("name", ["../../etc/cron.d/evil", "/etc/passwd", "docs/../../x",
                                  "C:\\Windows\\evil.dll", "..\\up.txt"])
def test_entries_pointing_outside_are_refused(name):
    assert problem(corpus.zipped([(name, b"x")])) == "archive_unsafe_path"
    assert problem(corpus.tarred([(name, b"x")])) == "archive_unsafe_path"


def test_links_are_refused():
    assert problem(corpus.zip_with_symlink(), expand=False) == "archive_link"
    assert problem(corpus.tarred([corpus.tar_link(tarfile.SYMTYPE)])) == "archive_link"
    assert problem(corpus.tarred([("a.txt", b"a"), corpus.tar_link(tarfile.LNKTYPE, "b",
                                                                   "a.txt")])) == "archive_link"


def test_device_entries_are_refused():
    device = tarfile.TarInfo("dev/sda")
    device.type = tarfile.BLKTYPE
    assert problem(corpus.tarred([device])) == "archive_special"


def test_nested_archives_are_listed_to_a_depth():
    report = listing(corpus.nested_zips(3))
    assert [e["name"] for e in report.entries][-1] == "level1.zip/level0.zip/inner.txt"
    assert problem(corpus.nested_zips(4)) == "archive_too_deep"


def test_a_tar_inside_a_zip_is_opened_too():
    inner = corpus.tarred([corpus.tar_link(tarfile.SYMTYPE)])
    assert problem(corpus.zipped([("inner.tar.gz", inner)])) == "archive_link"


def test_a_damaged_zip_is_reported():
    data = corpus.zipped([("a.txt", b"hello" * 100)])
    assert problem(data[:-30]) == "archive_damaged"


def test_the_pre_check_defers_large_compressed_tars():
    data = corpus.tarred([("a.txt", b"a")])
    report = listing(data, expand=False, limits=ArchiveLimits(quick_tar_size=10))
    assert report.deferred is True and report.entries == []


def test_long_entry_names_are_shortened_in_the_report():
    report = listing(corpus.zipped([("d" * 5000 + ".txt", b"x")]))
    assert len(report.entries[0]["name"]) == 301 and report.entries[0]["name"].endswith("…")


def test_compressed_files_that_are_no_archive_do_not_count_as_nesting():
    import gzip
    data = corpus.zipped([("data.csv.gz", gzip.compress(b"a,b\n1,2\n"))])
    assert listing(data, limits=ArchiveLimits(max_depth=1)).entry_count == 1
