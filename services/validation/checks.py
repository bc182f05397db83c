"""Automatic checks on a deposit's files, each a message code a depositor can read.

Plain functions of bytes and numbers; inspection.py feeds them from storage. Every check is
`{"check", "passed", "code", "params", "message"}`: the message is the English rendering of
the code (kernel/contracts/validation_messages.py), which the gateway translates.
"""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime
from typing import Any

import magic

from kernel.contracts.validation_messages import human_size, render
from kernel.policy.file_rules import extension, extension_refusal
from services.validation.scanner import CLEAN, INFECTED, TOO_LARGE, ScanOutcome

SNIFF_BYTES = 64 * 1024

# Sniffed types that may stand behind an extension, where libmagic names them differently
# from the mimetypes table or reports the container format.
COMPATIBLE = {
    "txt": {"text/"},
    "csv": {"text/", "application/csv"},
    "tsv": {"text/"},
    "md": {"text/"},
    "tex": {"text/"},
    "json": {"application/json", "text/"},
    "xml": {"text/xml", "application/xml", "text/"},
    "html": {"text/html", "text/"},
    "docx": {"application/vnd.openxmlformats-officedocument", "application/zip"},
    "xlsx": {"application/vnd.openxmlformats-officedocument", "application/zip"},
    "pptx": {"application/vnd.openxmlformats-officedocument", "application/zip"},
    "odt": {"application/vnd.oasis.opendocument", "application/zip"},
    "ods": {"application/vnd.oasis.opendocument", "application/zip"},
    "epub": {"application/epub+zip", "application/zip"},
    "mp3": {"audio/mpeg"},
    "wav": {"audio/x-wav", "audio/wav", "audio/vnd.wave"},
    "m4a": {"audio/", "video/mp4"},
    "mp4": {"video/mp4", "audio/mp4"},
    "ogg": {"audio/ogg", "video/ogg", "application/ogg"},
    "flac": {"audio/flac", "audio/x-flac"},
    "tif": {"image/tiff"},
    "tiff": {"image/tiff"},
    "jpg": {"image/jpeg"},
    "jpeg": {"image/jpeg"},
    "gz": {"application/gzip", "application/x-gzip"},
    "tgz": {"application/gzip"},
    "bz2": {"application/x-bzip2"},
    "tbz2": {"application/x-bzip2"},
    "xz": {"application/x-xz"},
    "txz": {"application/x-xz"},
    "zst": {"application/zstd"},
    "tar": {"application/x-tar"},
}
EXECUTABLE = {
    "application/x-executable",
    "application/x-dosexec",
    "application/x-sharedlib",
    "application/x-mach-binary",
    "application/x-pie-executable",
    "application/vnd.microsoft.portable-executable",
}
# endings that make a file run when opened; a document never needs one
PROGRAM_EXTENSIONS = {
    "exe",
    "com",
    "scr",
    "pif",
    "bat",
    "cmd",
    "msi",
    "msp",
    "cpl",
    "dll",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "ps1",
    "hta",
    "jar",
    "lnk",
    "reg",
    "app",
    "apk",
    "sh",
    "run",
    "elf",
}


def sniff(head: bytes) -> str:
    return magic.from_buffer(head, mime=True) if head else "application/x-empty"


def result(name: str, passed: bool, code: str, /, **params: Any) -> dict[str, Any]:
    return {
        "check": name,
        "passed": passed,
        "code": code,
        "params": params,
        "message": render(code, params),
    }


def size_check(size: int, rules: dict[str, Any]) -> dict[str, Any]:
    if size == 0:
        return result("size", False, "size_empty")
    if size > rules["max_file_size"]:
        return result(
            "size",
            False,
            "size_over",
            size=human_size(size),
            limit=human_size(rules["max_file_size"]),
        )
    return result("size", True, "size_ok", size=human_size(size))


def extension_check(filename: str, rules: dict[str, Any]) -> dict[str, Any] | None:
    refusal = extension_refusal(filename, rules)
    return result("extension", False, refusal["code"], **refusal["params"]) if refusal else None


def _expected_name(ext: str) -> str:
    return ext.upper() if ext else "document"


def format_check(filename: str, media_type: str, head: bytes) -> dict[str, Any]:
    """Does the content agree with the name? Programs never pass, whatever their name."""
    names = filename.lower().split(".")
    ext = extension(filename)
    if ext in PROGRAM_EXTENSIONS:
        inner = names[-2] if len(names) > 2 else ""
        if inner not in PROGRAM_EXTENSIONS and (
            inner in COMPATIBLE or mimetypes.guess_type(f"x.{inner}")[0]
        ):
            return result("format", False, "format_double_extension", ext=ext, inner=inner)
        return result("format", False, "format_program_extension", ext=ext)
    if head.startswith(b"MZ") or media_type in (
        "application/x-dosexec",
        "application/vnd.microsoft.portable-executable",
    ):
        return result("format", False, "format_program_windows", expected=_expected_name(ext))
    if media_type in EXECUTABLE or head.startswith(b"\x7fELF"):
        return result(
            "format", False, "format_program", media_type=media_type, expected=_expected_name(ext)
        )
    if not ext:
        return result("format", False, "extension_missing")
    expected = COMPATIBLE.get(ext)
    if expected is None:
        guessed, _ = mimetypes.guess_type(f"x.{ext}", strict=False)
        expected = {guessed} if guessed else set()
    if any(media_type.startswith(prefix) for prefix in expected):
        return result("format", True, "format_ok", media_type=media_type, ext=ext)
    return result("format", False, "format_mismatch", ext=ext, media_type=media_type)


def is_polyglot(head: bytes, is_zip: bool) -> bool:
    """A PDF (readers accept %PDF within the first KiB) that is also a ZIP archive."""
    return is_zip and b"%PDF-" in head[:1024]


def polyglot_check() -> dict[str, Any]:
    return result("format", False, "format_polyglot")


def media_type_check(media_type: str, rules: dict[str, Any]) -> dict[str, Any] | None:
    allowed = rules.get("allowed_media_types") or []
    if allowed and media_type not in allowed:
        return result(
            "media_type",
            False,
            "format_not_allowed",
            media_type=media_type,
            accepted=", ".join(allowed),
        )
    return None


def virus_check(outcome: ScanOutcome | None) -> dict[str, Any]:
    """None means no scanner is configured and the profile does not require one."""
    if outcome is None:
        return result("virus", True, "virus_not_scanned")
    if outcome.verdict == CLEAN:
        return result("virus", True, "virus_clean")
    if outcome.verdict == INFECTED:
        return result("virus", False, "virus_found", signature=outcome.signature)
    if outcome.verdict == TOO_LARGE:
        return result("virus", False, "virus_too_large")
    return result("virus", False, "virus_scan_failed")


def fixity_check(expected_sha256: str, actual_sha256: str | None) -> dict[str, Any]:
    if actual_sha256 is None:
        return result("fixity", False, "fixity_missing")
    if actual_sha256 != expected_sha256:
        return result("fixity", False, "fixity_changed")
    return result("fixity", True, "fixity_ok")


def deposit_checks(files: list[dict[str, Any]], rules: dict[str, Any]) -> list[dict[str, Any]]:
    """Checks on the deposit as a whole: how many files, and how much in all."""
    count, total = len(files), sum(f["size"] for f in files)
    checks = []
    if count < rules["min_files"]:
        checks.append(
            result("file_count", False, "count_too_few", minimum=rules["min_files"], count=count)
        )
    elif count > rules["max_files"]:
        checks.append(
            result("file_count", False, "count_too_many", maximum=rules["max_files"], count=count)
        )
    else:
        checks.append(result("file_count", True, "count_ok", count=count))
    if total > rules["max_total_size"]:
        checks.append(
            result(
                "total_size",
                False,
                "total_over",
                total=human_size(total),
                limit=human_size(rules["max_total_size"]),
            )
        )
    return checks


def file_report(
    filename: str, media_type: str, checks: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "filename": filename,
        "media_type": media_type,
        "checks": checks,
        "passed": all(c["passed"] for c in checks),
        **extra,
    }


def build_report(
    revision: int, deposit_level: list[dict[str, Any]], file_reports: list[dict[str, Any]]
) -> dict[str, Any]:
    passed = all(c["passed"] for c in deposit_level) and all(f["passed"] for f in file_reports)
    return {
        "revision": revision,
        "passed": passed,
        "checks": deposit_level,
        "files": file_reports,
        "checked_at": datetime.now(UTC),
    }
