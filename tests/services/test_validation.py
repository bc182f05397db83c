"""Validation's workers on real files and a real database."""
import pytest
from nameko.testing.services import worker_factory

from services.common.exceptions import NotFound
from services.validation.service import ValidationService
from tests.services.conftest import PDF, loaded_event, outbox

RULES = {"min_files": 1, "max_files": 3, "max_file_size": 1024, "max_total_size": 4096,
         "allowed_extensions": ["pdf", "txt"]}


@pytest.fixture
def validation(database_for, storage):
    database = database_for("validation")
    service = worker_factory(ValidationService, store=database, storage=storage)
    service.database = database
    return service


def staged(storage, name, content, file_id):
    stored = storage.save(f"staging/d1/{file_id}", iter([content]))
    return {"id": file_id, "filename": name, "size": stored.size, "sha256": stored.sha256,
            "md5": stored.md5, "media_type": "application/octet-stream", "storage_key": stored.key}


def submitted(files, revision=1):
    deposit = {"id": "d1", "revision": revision, "title": "On Moss",
               "profile": {"id": "thesis", "version": 1, "file_rules": RULES,
                           "approval": {"mode": "manual"}, "target_collection": "theses"},
               "depositor": {"id": "u1"}, "metadata": {}, "files": files}
    return loaded_event("intake", "deposit_submitted", deposit_id="d1", revision=revision,
                        deposit=deposit)


def test_good_files_pass_and_the_report_is_kept(validation, storage):
    validation.on_deposit_submitted(submitted([staged(storage, "a.pdf", PDF, "f1"),
                                               staged(storage, "b.txt", b"notes\n", "f2")]))
    [event] = outbox(validation.database, "deposit_validated")
    assert event["passed"] is True
    assert [f["media_type"] for f in event["report"]["files"]] == ["application/pdf", "text/plain"]
    assert validation.get_report(deposit_id="d1", revision=1)["passed"] is True


def test_each_failing_file_says_why(validation, storage):
    elf = b"\x7fELF\x02\x01\x01" + b"\0" * 60
    files = [staged(storage, "thesis.pdf", elf, "f1"), staged(storage, "big.pdf", PDF * 40, "f2"),
             staged(storage, "tool.exe", b"MZ" + b"\0" * 100, "f3")]
    validation.on_deposit_submitted(submitted(files))
    [event] = outbox(validation.database, "deposit_validated")
    assert event["passed"] is False
    failing = {f["filename"]: {c["check"] for c in f["checks"] if not c["passed"]}
               for f in event["report"]["files"]}
    assert failing == {"thesis.pdf": {"format"}, "big.pdf": {"size"},
                       "tool.exe": {"extension", "format"}}


def test_a_file_changed_after_upload_fails_fixity(validation, storage):
    entry = staged(storage, "a.pdf", PDF, "f1")
    storage.save(entry["storage_key"], iter([PDF + b"tampered"]))
    validation.on_deposit_submitted(submitted([entry]))
    [event] = outbox(validation.database, "deposit_validated")
    checks = {c["check"]: c["passed"] for c in event["report"]["files"][0]["checks"]}
    assert checks["fixity"] is False


def test_too_few_files(validation):
    validation.on_deposit_submitted(submitted([]))
    [event] = outbox(validation.database, "deposit_validated")
    assert event["report"]["checks"][0] == {
        "check": "file_count", "passed": False,
        "message": "At least 1 file(s) are needed; the deposit has 0."}


def test_a_redelivered_submission_is_checked_once(validation, storage):
    event = submitted([staged(storage, "a.pdf", PDF, "f1")])
    validation.on_deposit_submitted(event)
    validation.on_deposit_submitted(event)
    assert len(outbox(validation.database, "deposit_validated")) == 1
    with pytest.raises(NotFound):
        validation.get_report(deposit_id="d1", revision=2)


def test_pre_check_at_upload(validation, storage):
    entry = staged(storage, "notes.pdf", b"just text\n", "f1")
    result = validation.check_file(storage_key=entry["storage_key"], filename="notes.pdf",
                                   file_rules=RULES)
    assert result["passed"] is False and result["media_type"] == "text/plain"
