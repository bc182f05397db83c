"""What validation tells a depositor, by message code.

Validation reports each check with a `code` and `params` and the English `message`
rendered from this table. The web front renders the same code in the reader's language
(`gettext(MESSAGES[code]) % params`), so German lives in its catalogue and the
service stays language-free. Templates use %(name)s so babel checks the parameters.
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Marks a message for the catalogue; translated where it is shown."""
    return message


MESSAGES: dict[str, str] = {
    # size and count
    "size_empty": N_("The file is empty. Upload the file again; it may not have saved properly."),
    "size_over": N_(
        "The file is %(size)s; this deposit accepts files up to %(limit)s. "
        "Upload a smaller version or ask the library about large files."
    ),
    "size_ok": N_("The size (%(size)s) is within the limit."),
    "count_too_few": N_("At least %(minimum)s file(s) are needed; the deposit has %(count)s."),
    "count_too_many": N_(
        "At most %(maximum)s file(s) are allowed; the deposit has %(count)s. "
        "Remove the files you do not need."
    ),
    "count_ok": N_("%(count)s file(s), as the profile allows."),
    "total_over": N_("The files add up to %(total)s; the limit is %(limit)s."),
    # extension and format
    "extension_not_accepted": N_(
        "Files of type .%(ext)s are not accepted here; accepted: %(accepted)s."
    ),
    "extension_missing": N_(
        "The file name has no extension, so its format cannot be confirmed. "
        "Rename it with the right ending, like .pdf."
    ),
    "format_ok": N_("The content is %(media_type)s, as .%(ext)s promises."),
    "format_mismatch": N_(
        "The file is named .%(ext)s but its content is %(media_type)s. "
        "Rename it or upload the right file."
    ),
    "format_program_windows": N_(
        "This file is a Windows program, not a %(expected)s file. "
        "Upload the %(expected)s file itself."
    ),
    "format_program": N_(
        "This file is a program (%(media_type)s), which cannot be deposited. "
        "Upload the %(expected)s file itself."
    ),
    "format_double_extension": N_(
        "The name ends in .%(ext)s after .%(inner)s: this looks like a "
        "program disguised as a document. Programs cannot be deposited."
    ),
    "format_program_extension": N_(
        "Files ending in .%(ext)s are programs and cannot be deposited."
    ),
    "format_polyglot": N_(
        "This file is a PDF and a ZIP archive at the same time. Such files can "
        "hide content; save the document again as a plain PDF and upload that."
    ),
    "format_not_allowed": N_(
        "Files whose content is %(media_type)s are not accepted here; accepted: %(accepted)s."
    ),
    # archives
    "archive_ok": N_("The archive holds %(count)s entries, %(expanded)s when unpacked."),
    "archive_too_many_entries": N_(
        "The archive holds more than %(limit)s entries. Pack fewer files per archive."
    ),
    "archive_bomb": N_(
        "The archive unpacks to far more than it looks (%(detail)s). This is how "
        "'zip bombs' work, so it cannot be accepted. Upload an ordinary archive."
    ),
    "archive_unsafe_path": N_(
        'The archive entry "%(name)s" points outside the archive (an '
        "absolute path or ..). Pack the files again from their folder."
    ),
    "archive_link": N_(
        'The archive entry "%(name)s" is a link. Archives with links cannot be '
        "accepted; pack the files themselves."
    ),
    "archive_special": N_('The archive entry "%(name)s" is a device or pipe, not a file.'),
    "archive_encrypted": N_(
        'The archive entry "%(name)s" is password protected, so it cannot be '
        "checked. Upload it without a password."
    ),
    "archive_too_deep": N_(
        "The archive holds archives more than %(limit)s levels deep. Unpack "
        "the inner archives and pack the files once."
    ),
    "archive_damaged": N_(
        "The archive is damaged and cannot be read (%(detail)s). Create it again and upload it."
    ),
    "archive_overlapping": N_(
        'The archive entry "%(name)s" shares its packed bytes with '
        "another entry. This is how some 'zip bombs' work, so it cannot be "
        "accepted. Create the archive again with an ordinary program."
    ),
    "archive_unchecked": N_(
        "The archive could not be checked within Lodge's limits (%(detail)s). "
        "Pack its files in smaller archives."
    ),
    "compressed_ok": N_("The compressed file unpacks to %(expanded)s."),
    "archive_listing_deferred": N_(
        "The archive is large; its contents are checked after you submit."
    ),
    # viruses
    "virus_clean": N_("No viruses were found."),
    "virus_found": N_(
        "A virus was found in this file (%(signature)s). Do not open it; remove "
        "it, clean your computer and upload a clean copy."
    ),
    "virus_too_large": N_(
        "The file is too large or too deeply packed for the virus scanner, so "
        "it could not be checked. Split it into smaller files."
    ),
    "virus_scan_failed": N_(
        "The virus scan could not run, so the file cannot be accepted yet. "
        "Submit again later or contact the library."
    ),
    "virus_not_scanned": N_("Not scanned for viruses: this repository runs no virus scanner."),
    # fixity
    "fixity_ok": N_("The checksum matches the upload."),
    "fixity_missing": N_("The uploaded file could not be found; upload it again."),
    "fixity_changed": N_("The file changed after upload (its checksum differs); upload it again."),
    # technical metadata
    "technical_unreadable": N_(
        "Lodge could not read the file's technical details (%(detail)s). "
        "The file may be damaged; check that it opens on your computer."
    ),
}


def render(code: str, params: dict[str, Any] | None = None) -> str:
    return MESSAGES[code] % (params or {})


def human_size(size: int) -> str:
    """Sizes as people write them: 1.5 MB (decimal units, as file managers show); exact
    bytes below 10,000, so a limit and a size just over it never read the same."""
    if size < 10_000:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"
