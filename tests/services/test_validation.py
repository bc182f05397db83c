"""Validation's workers on real files, a real database and a real clamd, with the abuse corpus."""

import tarfile

import pytest
from nameko.testing.services import worker_factory

from kernel.contracts.exceptions import NotFound
from kernel.platform.config import get_settings
from services.validation.service import ValidationService
from tests.services.conftest import PDF, loaded_event, outbox
from tests.support import corpus

RULES = {
    "min_files": 1,
    "max_files": 3,
    "max_file_size": 1024,
    "max_total_size": 4096,
    "allowed_extensions": ["pdf", "txt"],
}
# anything goes but what validation itself must catch
OPEN_RULES = {
    "min_files": 1,
    "max_files": 20,
    "max_file_size": 64 * 1024**2,
    "max_total_size": 1024**3,
    "allowed_extensions": [],
    "virus_scan": True,
}


@pytest.fixture
def scanner_at(monkeypatch):
    """Point validation at a clamd socket ("" for none configured)."""

    def point(socket_path: str):
        monkeypatch.setenv("LODGE_CLAMD_SOCKET", socket_path)
        monkeypatch.setenv("LODGE_CLAMD_TIMEOUT", "30")
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()


@pytest.fixture
def validation(database_for, storage, scanner_at):
    scanner_at("")
    database = database_for("validation")
    service = worker_factory(ValidationService, store=database, storage=storage)
    service.database = database
    return service


@pytest.fixture
def scanned(validation, scanner_at, clamd):
    scanner_at(clamd.socket)
    return validation


def staged(storage, name, content, file_id):
    stored = storage.save(f"staging/d1/{file_id}", iter([content]))
    return {
        "id": file_id,
        "filename": name,
        "size": stored.size,
        "sha256": stored.sha256,
        "md5": stored.md5,
        "media_type": "application/octet-stream",
        "storage_key": stored.key,
    }


def submitted(files, revision=1, rules=RULES):
    deposit = {
        "id": "d1",
        "revision": revision,
        "title": "On Moss",
        "profile": {
            "id": "thesis",
            "version": 1,
            "file_rules": rules,
            "approval": {"mode": "manual"},
            "target_collection": "theses",
        },
        "depositor": {"id": "u1"},
        "metadata": {},
        "files": files,
    }
    return loaded_event(
        "intake", "deposit_submitted", deposit_id="d1", revision=revision, deposit=deposit
    )


def validate(service, storage, named_contents, rules=OPEN_RULES):
    files = [
        staged(storage, name, content, f"f{i}") for i, (name, content) in enumerate(named_contents)
    ]
    service.on_deposit_submitted(submitted(files, rules=rules))
    [event] = outbox(service.database, "deposit_validated")
    return event


def failing(report_file):
    return {c["check"]: c["code"] for c in report_file["checks"] if not c["passed"]}


def test_good_files_pass_and_the_report_is_kept(validation, storage):
    validation.on_deposit_submitted(
        submitted([staged(storage, "a.pdf", PDF, "f1"), staged(storage, "b.txt", b"notes\n", "f2")])
    )
    [event] = outbox(validation.database, "deposit_validated")
    assert event["passed"] is True
    assert [f["media_type"] for f in event["report"]["files"]] == ["application/pdf", "text/plain"]
    assert validation.get_report(deposit_id="d1", revision=1)["passed"] is True


def test_each_failing_file_says_why(validation, storage):
    elf = b"\x7fELF\x02\x01\x01" + b"\0" * 60
    files = [
        staged(storage, "thesis.pdf", elf, "f1"),
        staged(storage, "big.pdf", PDF * 40, "f2"),
        staged(storage, "tool.exe", b"MZ" + b"\0" * 100, "f3"),
    ]
    validation.on_deposit_submitted(submitted(files))
    [event] = outbox(validation.database, "deposit_validated")
    assert event["passed"] is False
    failing_checks = {f["filename"]: set(failing(f)) for f in event["report"]["files"]}
    assert failing_checks == {
        "thesis.pdf": {"format"},
        "big.pdf": {"size"},
        "tool.exe": {"extension", "format"},
    }


def test_a_file_changed_after_upload_fails_fixity(validation, storage):
    entry = staged(storage, "a.pdf", PDF, "f1")
    storage.save(entry["storage_key"], iter([PDF + b"tampered"]))
    validation.on_deposit_submitted(submitted([entry]))
    [event] = outbox(validation.database, "deposit_validated")
    assert failing(event["report"]["files"][0]) == {"fixity": "fixity_changed"}


def test_the_scan_pass_rehashes_the_file_too(scanned, storage):
    entry = staged(storage, "a.pdf", PDF, "f1")
    storage.save(entry["storage_key"], iter([PDF + b"tampered"]))
    scanned.on_deposit_submitted(submitted([entry], rules={**RULES, "virus_scan": True}))
    [event] = outbox(scanned.database, "deposit_validated")
    assert failing(event["report"]["files"][0]) == {"fixity": "fixity_changed"}
    assert "virus_clean" in [c["code"] for c in event["report"]["files"][0]["checks"]]


def test_too_few_files(validation):
    validation.on_deposit_submitted(submitted([]))
    [event] = outbox(validation.database, "deposit_validated")
    check = event["report"]["checks"][0]
    assert (check["check"], check["passed"], check["code"]) == (
        "file_count",
        False,
        "count_too_few",
    )
    assert check["message"] == "At least 1 file(s) are needed; the deposit has 0."


def test_a_redelivered_submission_is_checked_once(validation, storage):
    event = submitted([staged(storage, "a.pdf", PDF, "f1")])
    validation.on_deposit_submitted(event)
    validation.on_deposit_submitted(event)
    assert len(outbox(validation.database, "deposit_validated")) == 1
    with pytest.raises(NotFound):
        validation.get_report(deposit_id="d1", revision=2)


# --- viruses, with a real clamd ------------------------------------------------------------


def test_eicar_plain_and_zipped_fail_the_virus_check(scanned, storage):
    event = validate(
        scanned,
        storage,
        [
            ("readme.txt", corpus.EICAR_FILE),
            ("tools.zip", corpus.eicar_zip()),
            ("thesis.pdf", corpus.pdf(2)),
        ],
    )
    assert event["passed"] is False
    plain, zipped, clean = event["report"]["files"]
    assert failing(plain) == {"virus": "virus_found"}
    assert failing(zipped) == {"virus": "virus_found"}
    assert "Eicar-Test-Signature" in plain["checks"][-2]["message"]
    assert failing(clean) == {}
    assert {c["code"] for c in clean["checks"]} >= {"virus_clean", "fixity_ok", "format_ok"}


def test_clamd_over_tcp(validation, storage, monkeypatch, clamd):
    monkeypatch.setenv("LODGE_CLAMD_SOCKET", "")
    monkeypatch.setenv("LODGE_CLAMD_ADDRESS", clamd.address)
    get_settings.cache_clear()
    event = validate(validation, storage, [("readme.txt", corpus.EICAR_FILE)])
    assert failing(event["report"]["files"][0]) == {"virus": "virus_found"}


def test_files_over_clamds_limits_are_not_passed_as_clean(scanned, storage):
    from tests.support.clamd import MAX_FILE_SIZE, STREAM_MAX_LENGTH

    event = validate(
        scanned,
        storage,
        [("a.txt", b"a" * (MAX_FILE_SIZE + 1000)), ("b.txt", b"b" * (STREAM_MAX_LENGTH + 1000))],
    )
    assert [failing(f) for f in event["report"]["files"]] == [{"virus": "virus_too_large"}] * 2


def test_an_unreachable_clamd_fails_the_scan(validation, storage, scanner_at, tmp_path):
    scanner_at(str(tmp_path / "no-clamd-here.sock"))
    event = validate(
        validation, storage, [("a.pdf", PDF)], rules={**OPEN_RULES, "virus_scan": False}
    )
    assert event["passed"] is False
    assert failing(event["report"]["files"][0]) == {"virus": "virus_scan_failed"}


def test_a_required_scan_without_a_scanner_fails(validation, storage):
    event = validate(validation, storage, [("a.pdf", PDF)])
    assert failing(event["report"]["files"][0]) == {"virus": "virus_scan_failed"}


def test_without_a_scanner_an_unrequired_scan_is_reported_as_not_done(validation, storage):
    event = validate(
        validation, storage, [("a.pdf", PDF)], rules={**OPEN_RULES, "virus_scan": False}
    )
    assert event["passed"] is True
    codes = [c["code"] for c in event["report"]["files"][0]["checks"]]
    assert "virus_not_scanned" in codes and "virus_clean" not in codes


# --- the rest of the abuse corpus ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("paper.pdf", corpus.pdf_zip_polyglot, {"format": "format_polyglot"}),
        ("figure.png", lambda: corpus.pdf(1), {"format": "format_mismatch"}),
        ("thesis.pdf", corpus.windows_program, {"format": "format_program_windows"}),
        ("thesis.pdf.exe", corpus.windows_program, {"format": "format_double_extension"}),
        ("empty.txt", lambda: b"", {"size": "size_empty"}),
        ("bomb.zip", corpus.zip_bomb, {"archive": "archive_bomb"}),
        (
            "links.tar",
            lambda: corpus.tarred([corpus.tar_link(tarfile.SYMTYPE)], mode="w"),
            {"archive": "archive_link"},
        ),
    ],
)
def test_the_abuse_corpus_is_caught(scanned, storage, name, make, expected):
    event = validate(scanned, storage, [(name, make())])
    assert event["passed"] is False
    assert failing(event["report"]["files"][0]) == expected


UNSCANNED = {**OPEN_RULES, "virus_scan": False}


@pytest.mark.parametrize("case", corpus.ABUSE, ids=lambda case: case.filename)
def test_every_archive_of_the_abuse_corpus_fails_validation(validation, storage, case):
    data = case.make()
    event = validate(validation, storage, [(case.filename, data)], rules=UNSCANNED)
    assert event["passed"] is False
    assert failing(event["report"]["files"][0]) == {"archive": case.code}
    entry = staged(storage, case.filename, data, "f9")
    quick = validation.check_file(
        storage_key=entry["storage_key"], filename=case.filename, file_rules=UNSCANNED
    )
    assert failing(quick) == ({} if case.full_only else {"archive": case.code})


@pytest.mark.parametrize("case", corpus.BENIGN, ids=lambda case: case.filename)
def test_ordinary_archives_and_compressed_files_pass_validation(validation, storage, case):
    event = validate(validation, storage, [(case.filename, case.make())], rules=UNSCANNED)
    assert event["passed"] is True, event["report"]
    [archive] = [c for c in event["report"]["files"][0]["checks"] if c["check"] == "archive"]
    assert archive["code"] == case.code


def test_the_windows_program_named_pdf_is_explained_plainly(validation, storage):
    event = validate(
        validation,
        storage,
        [("thesis.pdf", corpus.windows_program())],
        rules={**OPEN_RULES, "virus_scan": False},
    )
    [check] = [c for c in event["report"]["files"][0]["checks"] if not c["passed"]]
    assert check["message"] == (
        "This file is a Windows program, not a PDF file. Upload the PDF file itself."
    )


# --- technical metadata and the archive listing --------------------------------------------


def test_technical_metadata_goes_into_the_report_and_on_to_inventory(scanned, storage):
    event = validate(
        scanned,
        storage,
        [
            ("thesis.pdf", corpus.pdf(3, pdfa="2b")),
            ("locked.pdf", corpus.pdf(1, password="secret")),
            ("talk.wav", corpus.wav(seconds=2.0)),
            ("figure.png", corpus.png(40, 30)),
            ("data.zip", corpus.zipped([("a.csv", b"a,b\n")])),
        ],
    )
    assert event["passed"] is True, event["report"]
    reports = {f["filename"]: f for f in event["report"]["files"]}
    assert reports["thesis.pdf"]["technical"] == {
        "pages": 3,
        "encrypted": False,
        "pdfa": "PDF/A-2b",
        "pdf_version": "1.3",
    }
    assert reports["locked.pdf"]["technical"]["encrypted"] is True
    wav = reports["talk.wav"]["technical"]
    assert (wav["duration_seconds"], wav["sample_rate"], wav["channels"]) == (2.0, 8000, 1)
    assert (
        reports["figure.png"]["technical"]["width"],
        reports["figure.png"]["technical"]["height"],
    ) == (40, 30)
    assert reports["data.zip"]["archive"]["entries"] == [{"name": "a.csv", "size": 4, "depth": 1}]
    carried = {f["filename"]: f["technical"] for f in event["deposit"]["files"]}
    assert carried["thesis.pdf"]["pages"] == 3 and carried["data.zip"] == {}


def test_a_hostile_pdf_becomes_a_note_not_a_crash(validation, storage):
    broken = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\n" + b"\xff" * 5000
    event = validate(
        validation, storage, [("broken.pdf", broken)], rules={**OPEN_RULES, "virus_scan": False}
    )
    [file_report] = event["report"]["files"]
    note = next(c for c in file_report["checks"] if c["check"] == "technical")
    assert note["code"] == "technical_unreadable" and note["passed"] is True
    assert note["message"].startswith("Lodge could not read the file's technical details")
    assert file_report["technical"] == {}


# --- the pre-check at upload ------------------------------------------------------------


def test_pre_check_at_upload(validation, storage):
    entry = staged(storage, "notes.pdf", b"just text\n", "f1")
    result = validation.check_file(
        storage_key=entry["storage_key"], filename="notes.pdf", file_rules=RULES
    )
    assert result["passed"] is False and result["media_type"] == "text/plain"
    assert result["checks"][-1]["code"] == "format_mismatch"


def test_pre_check_lists_archives_and_catches_bombs_but_does_not_scan(validation, storage):
    rules = {**OPEN_RULES, "allowed_extensions": ["zip"]}
    listed = staged(storage, "data.zip", corpus.zipped([("a.csv", b"1,2\n")]), "f1")
    result = validation.check_file(
        storage_key=listed["storage_key"], filename="data.zip", file_rules=rules
    )
    assert result["passed"] is True
    assert result["archive"]["entry_count"] == 1
    assert "virus" not in {c["check"] for c in result["checks"]}
    bomb = staged(storage, "bomb.zip", corpus.zip_bomb(), "f2")
    result = validation.check_file(
        storage_key=bomb["storage_key"], filename="bomb.zip", file_rules=rules
    )
    assert failing(result) == {"archive": "archive_bomb"}


def test_pre_check_of_a_missing_file_is_not_found(validation):
    with pytest.raises(NotFound):
        validation.check_file(storage_key="staging/d1/nothing", filename="a.pdf", file_rules=RULES)


def test_pre_checks_are_kept_per_file_for_the_editor(validation, storage):
    bad = staged(storage, "thesis.pdf", corpus.windows_program(), "f1")
    good = staged(storage, "notes.txt", b"notes\n", "f2")
    for entry in (bad, good):
        validation.check_file(
            storage_key=entry["storage_key"],
            filename=entry["filename"],
            file_rules=RULES,
            file_id=entry["id"],
        )
    validation.check_file(
        storage_key=good["storage_key"], filename="notes.txt", file_rules=RULES, file_id="f2"
    )  # checked again: still one
    kept = validation.prechecks(file_ids=["f1", "f2", "unknown"])["prechecks"]
    assert set(kept) == {"f1", "f2"}
    assert kept["f1"]["passed"] is False and kept["f2"]["passed"] is True
    assert failing(kept["f1"]) == {"format": "format_program_windows"}
