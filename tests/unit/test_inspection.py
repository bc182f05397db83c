"""Inspection on a storage backend without random access (as an object store may be)."""

from kernel.platform.storage import LocalStorage, S3Storage
from services.validation import inspection
from services.validation.archives import ArchiveLimits
from services.validation.scanner import Clamd
from tests.support import corpus

RULES = {
    "min_files": 1,
    "max_files": 5,
    "max_file_size": 1024**3,
    "max_total_size": 1024**3,
    "allowed_extensions": [],
    "virus_scan": False,
}


class StreamOnlyStorage:
    """The storage interface without open(): reads stream from the start only."""

    def __init__(self, root):
        self._local = LocalStorage(root)

    def __getattr__(self, name):
        if name in ("open", "path"):
            raise AttributeError(name)
        return getattr(self._local, name)


def submitted(stored, filename: str) -> dict:
    return {
        "id": "f1",
        "filename": filename,
        "size": stored.size,
        "sha256": stored.sha256,
        "media_type": "application/octet-stream",
        "storage_key": stored.key,
    }


def test_small_files_are_copied_and_fully_pre_checked(tmp_path):
    storage = StreamOnlyStorage(tmp_path)
    stored = storage.save("staging/d/a", iter([corpus.pdf_zip_polyglot()]))
    report = inspection.precheck(storage, stored.key, "paper.pdf", RULES)
    assert [c["code"] for c in report["checks"] if not c["passed"]] == ["format_polyglot"]


def test_large_archives_wait_for_the_full_check_without_random_access(tmp_path, monkeypatch):
    monkeypatch.setattr(inspection, "QUICK_COPY", 100)
    storage = StreamOnlyStorage(tmp_path)
    data = corpus.zipped([("a.csv", b"1,2\n" * 100)])
    stored = storage.save("staging/d/a", iter([data]))
    quick = inspection.precheck(storage, stored.key, "data.zip", RULES)
    assert quick["passed"] is True and quick["archive"]["deferred"] is True
    assert [c["code"] for c in quick["checks"]][-1] == "archive_listing_deferred"
    full = inspection.full_check(storage, submitted(stored, "data.zip"), RULES, Clamd())
    assert full["passed"] is True and full["archive"]["entries"][0]["name"] == "a.csv"


def test_archives_are_never_opened_in_the_service_process(tmp_path, monkeypatch):
    from services.validation import archives

    def opened_here(*args, **kwargs):
        raise AssertionError("an archive was opened in the service process")

    monkeypatch.setattr(archives, "_Inspector", opened_here)
    storage = LocalStorage(tmp_path)
    stored = storage.save("staging/d/a", iter([corpus.compressed_zeros("gz", 200 * corpus.MiB)]))
    quick = inspection.precheck(storage, stored.key, "zeros.gz", RULES)
    assert [c["code"] for c in quick["checks"] if not c["passed"]] == ["archive_bomb"]


def test_an_archive_that_outlasts_its_time_fails_the_full_check(tmp_path):
    storage = LocalStorage(tmp_path)
    endless = corpus.compressed_zeros("bz2", 32 * corpus.MiB) * 400  # 12.5 GiB of zeros
    stored = storage.save("staging/d/a", iter([endless]))
    patient = ArchiveLimits(max_ratio=10**9, max_expanded=10**15, seconds=1)
    full = inspection.full_check(storage, submitted(stored, "zeros.bz2"), RULES, Clamd(), patient)
    assert [c["code"] for c in full["checks"] if not c["passed"]] == ["archive_unchecked"]
    assert full["archive"] is None
    # the reader that lost its child answers the next file
    fine = storage.save("staging/d/b", iter([corpus.compressed("gz", corpus.TEXT)]))
    quick = inspection.precheck(storage, fine.key, "levels.csv.gz", RULES)
    assert quick["passed"] is True and quick["checks"][-1]["code"] == "compressed_ok"


def test_archives_in_an_object_store_are_checked_from_a_copy(s3_endpoint):
    storage = S3Storage(s3_endpoint.new_bucket("inspection"), client=s3_endpoint.client())
    bomb = storage.save("staging/d/a", iter([corpus.zeros_zip(400, 512 * 1024)]))
    quick = inspection.precheck(storage, bomb.key, "small-entries.zip", RULES)
    assert [c["code"] for c in quick["checks"] if not c["passed"]] == ["archive_bomb"]
    data = corpus.compressed("zst", corpus.tarred([("levels.csv", corpus.TEXT)], mode="w"))
    stored = storage.save("staging/d/b", iter([data]))
    full = inspection.full_check(storage, submitted(stored, "data.tar.zst"), RULES, Clamd())
    assert full["passed"] is True and full["archive"]["entries"][0]["name"] == "levels.csv"
