"""Validation's report in the reader's language.

Validation sends each check as a message code with parameters (and the English text); the
wording lives in kernel/contracts/validation_messages.py and its translations in the
gateway's catalogue (babel.cfg extracts that module). Unknown codes fall back to the text.
"""

from __future__ import annotations

import logging

from flask_babel import gettext

from gateway.rpc import rpc
from kernel.contracts.validation_messages import MESSAGES

log = logging.getLogger(__name__)


def check_text(check: dict) -> str:
    template = MESSAGES.get(check.get("code") or "")
    if template is None:
        return check.get("message", "")
    try:
        return gettext(template, **(check.get("params") or {}))
    except (KeyError, TypeError, ValueError):  # parameters that do not fit: the service's text
        return check.get("message", "")


def duration(seconds: float | int | None) -> str:
    """1:05:09 or 4:07, as players show it."""
    total = round(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def register(app) -> None:
    """The report partial works on every page, staff's too."""
    app.add_template_global(check_text, "check_text")
    app.add_template_filter(duration, "duration")


def precheck_upload(storage_key: str, filename: str, file_rules: dict, file_id: str) -> dict | None:
    """Validation's quick pre-check of a file just uploaded, its messages in the reader's
    language. The upload stands either way: if the pre-check cannot run, the full check
    after submit still will, so this answers None rather than fail the upload."""
    try:
        with rpc() as services:
            report = services.validation.check_file(
                storage_key=storage_key, filename=filename, file_rules=file_rules, file_id=file_id
            )
    except Exception:  # a pre-check is advice; the upload already succeeded
        log.warning("pre-check of %s failed", storage_key, exc_info=True)
        return None
    for check in report["checks"]:
        check["message"] = check_text(check)
    return report


def kept_prechecks(services, files: list[dict]) -> dict[str, dict]:
    """The pre-checks validation kept for these files, by file id; {} if it cannot answer."""
    if not files:
        return {}
    try:
        return services.validation.prechecks(file_ids=[f["id"] for f in files])["prechecks"]
    except Exception:  # the editor works without them
        log.warning("pre-checks could not be fetched", exc_info=True)
        return {}
