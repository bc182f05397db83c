"""Automatic checks on a deposit's files, in words a depositor understands. No framework here."""
from __future__ import annotations

import mimetypes
from datetime import datetime, timezone
from pathlib import PurePosixPath

import magic

SNIFF_BYTES = 64 * 1024

# Sniffed types that may stand behind an extension, where libmagic names them differently
# from the mimetypes table or reports the container format.
COMPATIBLE = {
    "txt": {"text/"}, "csv": {"text/", "application/csv"}, "tsv": {"text/"},
    "md": {"text/"}, "tex": {"text/"}, "json": {"application/json", "text/"},
    "xml": {"text/xml", "application/xml", "text/"}, "html": {"text/html", "text/"},
    "docx": {"application/vnd.openxmlformats-officedocument", "application/zip"},
    "xlsx": {"application/vnd.openxmlformats-officedocument", "application/zip"},
    "pptx": {"application/vnd.openxmlformats-officedocument", "application/zip"},
    "odt": {"application/vnd.oasis.opendocument", "application/zip"},
    "ods": {"application/vnd.oasis.opendocument", "application/zip"},
    "epub": {"application/epub+zip", "application/zip"},
    "mp3": {"audio/mpeg"}, "wav": {"audio/x-wav", "audio/wav", "audio/vnd.wave"},
    "m4a": {"audio/", "video/mp4"}, "mp4": {"video/mp4", "audio/mp4"},
    "ogg": {"audio/ogg", "video/ogg", "application/ogg"}, "flac": {"audio/flac", "audio/x-flac"},
    "tif": {"image/tiff"}, "tiff": {"image/tiff"}, "jpg": {"image/jpeg"}, "jpeg": {"image/jpeg"},
    "gz": {"application/gzip", "application/x-gzip"}, "tgz": {"application/gzip"},
}
EXECUTABLE = {
    "application/x-executable", "application/x-dosexec", "application/x-sharedlib",
    "application/x-mach-binary", "application/x-pie-executable", "application/vnd.microsoft.portable-executable",
}


def extension(filename: str) -> str:
    return PurePosixPath(filename).suffix.lower().lstrip(".")


def sniff(head: bytes) -> str:
    return magic.from_buffer(head, mime=True) if head else "application/x-empty"


def _check(name: str, passed: bool, message: str) -> dict:
    return {"check": name, "passed": passed, "message": message}


def format_agrees(filename: str, media_type: str) -> tuple[bool, str]:
    ext = extension(filename)
    if media_type in EXECUTABLE:
        return False, f"The file is a program ({media_type}), which cannot be deposited."
    if not ext:
        return False, "The file name has no extension, so its format cannot be confirmed."
    expected = COMPATIBLE.get(ext)
    if expected is None:
        guessed, _ = mimetypes.guess_type(f"x.{ext}", strict=False)
        expected = {guessed} if guessed else set()
    if any(media_type.startswith(prefix) for prefix in expected):
        return True, f"The content is {media_type}, as .{ext} promises."
    return False, (f"The file is named .{ext} but its content is {media_type}. "
                   f"Rename it or upload the right file.")


def check_file(filename: str, size: int, head: bytes, rules: dict) -> dict:
    """Checks that need only the first bytes: size, extension and format."""
    media_type = sniff(head) if size else "application/x-empty"
    checks = []
    if size == 0:
        checks.append(_check("size", False, "The file is empty."))
    elif size > rules["max_file_size"]:
        checks.append(_check("size", False, f"The file is {size} bytes; the limit is "
                                            f"{rules['max_file_size']} bytes."))
    else:
        checks.append(_check("size", True, f"The size ({size} bytes) is within the limit."))
    allowed = [ext.lower().lstrip(".") for ext in rules["allowed_extensions"]]
    ext = extension(filename)
    if allowed and ext not in allowed:
        checks.append(_check("extension", False, f"Files of type .{ext} are not accepted here; "
                                                 f"accepted: {', '.join('.' + a for a in allowed)}."))
    if size:
        agrees, message = format_agrees(filename, media_type)
        checks.append(_check("format", agrees, message))
    return {"filename": filename, "media_type": media_type,
            "passed": all(c["passed"] for c in checks), "checks": checks}


def fixity_check(expected_sha256: str, actual_sha256: str | None) -> dict:
    if actual_sha256 is None:
        return _check("fixity", False, "The uploaded file could not be found; upload it again.")
    if actual_sha256 != expected_sha256:
        return _check("fixity", False, "The file changed after upload (its checksum differs); "
                                       "upload it again.")
    return _check("fixity", True, "The checksum matches the upload.")


def deposit_checks(files: list[dict], rules: dict) -> list[dict]:
    """Checks on the deposit as a whole: how many files, and how much in all."""
    count, total = len(files), sum(f["size"] for f in files)
    checks = []
    if count < rules["min_files"]:
        checks.append(_check("file_count", False, f"At least {rules['min_files']} file(s) are "
                                                  f"needed; the deposit has {count}."))
    elif count > rules["max_files"]:
        checks.append(_check("file_count", False, f"At most {rules['max_files']} file(s) are "
                                                  f"allowed; the deposit has {count}."))
    else:
        checks.append(_check("file_count", True, f"{count} file(s), as the profile allows."))
    if total > rules["max_total_size"]:
        checks.append(_check("total_size", False, f"The files add up to {total} bytes; the limit "
                                                  f"is {rules['max_total_size']} bytes."))
    return checks


def build_report(revision: int, deposit_level: list[dict], file_reports: list[dict]) -> dict:
    passed = all(c["passed"] for c in deposit_level) and all(f["passed"] for f in file_reports)
    return {"revision": revision, "passed": passed, "checks": deposit_level,
            "files": file_reports, "checked_at": datetime.now(timezone.utc)}
