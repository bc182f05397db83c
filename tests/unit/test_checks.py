"""Automatic file checks with real file headers sniffed by libmagic."""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from kernel.policy.file_rules import extension
from services.validation.checks import (
    build_report,
    deposit_checks,
    extension_check,
    file_report,
    fixity_check,
    format_check,
    size_check,
    sniff,
)

PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
# signature, then an IHDR chunk for a 1x1 RGBA image
PNG = (
    b"\x89PNG\r\n\x1a\n"
    + b"\x00\x00\x00\rIHDR"
    + b"\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    + b"\x1f\x15\xc4\x89"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
ELF_STUB = b"\x7fELF\x02\x01\x01" + b"\x00" * 57
# a 64-bit little-endian ELF executable header (e_type=2, e_machine=x86-64)
ELF_EXECUTABLE = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00\x3e\x00" + b"\x00" * 44
WINDOWS_EXE = b"MZ" + b"\x00" * 62
TEXT = b"Notes on moss, taken in the field.\nSecond line.\n"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<?xml version='1.0'?><Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


RULES = {"max_file_size": 1_000_000, "allowed_extensions": []}


def checks_by_name(report):
    return {c["check"]: c for c in report["checks"]}


def check_file(filename, size, head, rules):
    """The header-only checks, as the pre-check runs them."""
    media_type = sniff(head) if size else "application/x-empty"
    found = [size_check(size, rules)]
    refused = extension_check(filename, rules)
    if refused:
        found.append(refused)
    if size:
        found.append(format_check(filename, media_type, head))
    return file_report(filename, media_type, found)


def check(filename, content, rules=RULES, size=None):
    return check_file(filename, len(content) if size is None else size, content, rules)


# --- check_file: format ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content", "media_type"),
    [
        ("thesis.pdf", PDF, "application/pdf"),
        ("figure.png", PNG, "image/png"),
        ("photo.jpg", JPEG, "image/jpeg"),
        ("photo.JPEG", JPEG, "image/jpeg"),
        ("notes.txt", TEXT, "text/plain"),
        ("data.csv", b"a,b,c\n1,2,3\n4,5,6\n", "text/csv"),
        ("data.json", b'{"a": [1, 2, 3]}\n', "application/json"),
        ("paper.docx", _zip(), "application/zip"),
        ("data.gz", gzip.compress(b"hello"), "application/gzip"),
    ],
)
def test_files_whose_content_matches_their_extension_pass(filename, content, media_type):
    report = check(filename, content)
    assert report["filename"] == filename
    assert report["media_type"] == media_type
    assert report["passed"] is True
    checks = checks_by_name(report)
    assert set(checks) == {"size", "format"}
    assert checks["format"]["passed"] is True
    assert all(c["passed"] for c in report["checks"])


def test_elf_stub_named_pdf_fails_the_format_check():
    report = check("thesis.pdf", ELF_STUB)
    assert report["passed"] is False
    fmt = checks_by_name(report)["format"]
    assert fmt["passed"] is False
    assert fmt["message"] == (
        "This file is a program (application/octet-stream), which cannot "
        "be deposited. Upload the PDF file itself."
    )
    assert checks_by_name(report)["size"]["passed"] is True


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("thesis.pdf", ELF_EXECUTABLE),
        ("notes.txt", ELF_EXECUTABLE),
        ("setup.exe", WINDOWS_EXE),
    ],
)
def test_programs_are_refused_whatever_their_name(filename, content):
    report = check(filename, content)
    assert report["passed"] is False
    fmt = checks_by_name(report)["format"]
    assert fmt["passed"] is False
    assert fmt["message"].startswith(
        (
            "This file is a program",
            "This file is a Windows program",
            "Files ending in .exe are programs",
        )
    )


def test_pdf_named_png_fails_the_format_check():
    report = check("figure.png", PDF)
    assert report["media_type"] == "application/pdf"
    assert checks_by_name(report)["format"] == {
        "check": "format",
        "passed": False,
        "code": "format_mismatch",
        "params": {"ext": "png", "media_type": "application/pdf"},
        "message": "The file is named .png but its content is application/pdf. "
        "Rename it or upload the right file.",
    }


def test_file_without_extension_cannot_be_confirmed():
    report = check("README", TEXT)
    assert report["passed"] is False
    assert checks_by_name(report)["format"]["message"].startswith(
        "The file name has no extension, so its format cannot be confirmed."
    )


def test_unknown_extension_fails_the_format_check():
    report = check("notes.qqqz", TEXT)
    assert checks_by_name(report)["format"]["passed"] is False


# --- check_file: size -------------------------------------------------------------------


def test_empty_file_fails_and_is_not_sniffed():
    report = check_file("notes.txt", 0, b"", RULES)
    assert report["passed"] is False
    assert report["media_type"] == "application/x-empty"
    [size] = report["checks"]
    assert (size["check"], size["passed"], size["code"]) == ("size", False, "size_empty")
    assert size["message"].startswith("The file is empty.")


def test_file_over_the_size_limit_fails():
    rules = {"max_file_size": 100, "allowed_extensions": []}
    report = check("notes.txt", TEXT, rules=rules, size=101)
    assert report["passed"] is False
    size = checks_by_name(report)["size"]
    assert size["passed"] is False
    assert size["message"].startswith(
        "The file is 101 bytes; this deposit accepts files up to 100 bytes."
    )
    # the other checks still run, so the depositor learns everything at once
    assert checks_by_name(report)["format"]["passed"] is True


def test_file_exactly_at_the_size_limit_passes():
    rules = {"max_file_size": len(TEXT), "allowed_extensions": []}
    report = check("notes.txt", TEXT, rules=rules)
    assert report["passed"] is True
    assert checks_by_name(report)["size"]["message"] == (
        f"The size ({len(TEXT)} bytes) is within the limit."
    )


# --- check_file: allowed extensions -------------------------------------------------


def test_extension_not_in_allowed_list_fails():
    rules = {"max_file_size": 1_000_000, "allowed_extensions": ["pdf", "txt"]}
    report = check("figure.png", PNG, rules=rules)
    assert report["passed"] is False
    ext = checks_by_name(report)["extension"]
    assert ext["passed"] is False
    assert ext["message"] == "Files of type .png are not accepted here; accepted: .pdf, .txt."


@pytest.mark.parametrize("allowed", [["pdf"], [".pdf"], ["PDF"], [".PDF", "txt"]])
def test_allowed_extensions_ignore_dots_and_case(allowed):
    rules = {"max_file_size": 1_000_000, "allowed_extensions": allowed}
    for filename in ("thesis.pdf", "THESIS.PDF"):
        report = check(filename, PDF, rules=rules)
        assert report["passed"] is True, (allowed, filename, report)
        assert "extension" not in checks_by_name(report)


def test_extension_helper():
    assert extension("a/b/Thesis.Final.PDF") == "pdf"
    assert extension("README") == ""
    assert extension("archive.tar.gz") == "gz"


# --- deposit_checks -----------------------------------------------------------------

DEPOSIT_RULES = {"min_files": 1, "max_files": 3, "max_total_size": 1000}


def files(*sizes):
    return [{"filename": f"f{i}.txt", "size": size} for i, size in enumerate(sizes)]


def test_deposit_within_limits_passes():
    [check] = deposit_checks(files(100, 200), DEPOSIT_RULES)
    assert (check["passed"], check["message"]) == (True, "2 file(s), as the profile allows.")


def test_deposit_with_too_few_files_fails():
    [check] = deposit_checks([], DEPOSIT_RULES)
    assert (check["passed"], check["code"], check["message"]) == (
        False,
        "count_too_few",
        "At least 1 file(s) are needed; the deposit has 0.",
    )


def test_deposit_with_too_many_files_fails():
    [check] = deposit_checks(files(1, 1, 1, 1), DEPOSIT_RULES)
    assert check["passed"] is False
    assert check["message"].startswith("At most 3 file(s) are allowed; the deposit has 4.")


def test_deposit_at_exact_count_and_size_limits_passes():
    checks = deposit_checks(files(500, 250, 250), DEPOSIT_RULES)
    assert [c["passed"] for c in checks] == [True]


def test_deposit_over_total_size_fails():
    checks = deposit_checks(files(500, 501), DEPOSIT_RULES)
    by_name = {c["check"]: c for c in checks}
    assert by_name["file_count"]["passed"] is True
    assert by_name["total_size"]["passed"] is False
    assert by_name["total_size"]["message"] == (
        "The files add up to 1001 bytes; the limit is 1000 bytes."
    )


def test_deposit_with_zero_min_files_may_be_empty():
    assert deposit_checks([], {**DEPOSIT_RULES, "min_files": 0})[0]["passed"] is True


# --- fixity_check -------------------------------------------------------------------

SHA = "a" * 64


def test_fixity_passes_when_checksums_match():
    assert fixity_check(SHA, SHA) == {
        "check": "fixity",
        "passed": True,
        "code": "fixity_ok",
        "params": {},
        "message": "The checksum matches the upload.",
    }


def test_fixity_fails_when_the_file_changed():
    result = fixity_check(SHA, "b" * 64)
    assert result["passed"] is False
    assert "checksum differs" in result["message"]


def test_fixity_fails_when_the_file_is_missing():
    result = fixity_check(SHA, None)
    assert result["passed"] is False
    assert "could not be found" in result["message"]


# --- build_report -------------------------------------------------------------------


def test_report_passes_only_when_every_check_passes():
    good_file = check("notes.txt", TEXT)
    bad_file = check("thesis.pdf", ELF_STUB)
    good_deposit = deposit_checks(files(10), DEPOSIT_RULES)
    bad_deposit = deposit_checks([], DEPOSIT_RULES)

    assert build_report(1, good_deposit, [good_file])["passed"] is True
    assert build_report(1, good_deposit, [good_file, bad_file])["passed"] is False
    assert build_report(1, bad_deposit, [good_file])["passed"] is False
    assert build_report(1, [], [])["passed"] is True


def test_report_carries_revision_checks_files_and_time():
    deposit_level = deposit_checks(files(10), DEPOSIT_RULES)
    file_reports = [check("notes.txt", TEXT)]
    before = datetime.now(UTC)
    report = build_report(4, deposit_level, file_reports)
    assert report["revision"] == 4
    assert report["checks"] == deposit_level
    assert report["files"] == file_reports
    assert report["checked_at"].utcoffset() == timedelta(0)
    assert before <= report["checked_at"] <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("filename", "code"),
    [
        ("thesis.pdf.exe", "format_double_extension"),
        ("photo.JPG.scr", "format_double_extension"),
        ("my.setup.exe", "format_program_extension"),
        ("install.bat", "format_program_extension"),
    ],
)
def test_program_endings_fail_and_disguises_are_named(filename, code):
    fmt = checks_by_name(check(filename, TEXT))["format"]
    assert (fmt["passed"], fmt["code"]) == (False, code)
