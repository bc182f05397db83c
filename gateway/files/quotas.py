"""A patron's room for unfinished work: intake's drafts and staged bytes, and this gateway's
unfinished resumable uploads, whose declared lengths count as staged already."""

from __future__ import annotations

from flask import current_app

from gateway.files.resumable import UploadArea
from kernel.contracts.actors import Actor
from kernel.platform.config import get_settings


def upload_area() -> UploadArea:
    area = current_app.extensions.get("lodge.uploads")
    if area is None:
        settings = get_settings()
        area = UploadArea(settings.storage.upload_dir, settings.storage.upload_expiry_seconds)
        current_app.extensions["lodge.uploads"] = area
    return area


def quota_usage(services, actor: Actor) -> dict:
    """{"drafts", "staged_bytes", "uploads"}: each {"used", "limit"}."""
    usage = services.intake.quota_usage(actor=actor)
    unfinished = upload_area().unfinished(actor.id)
    usage["staged_bytes"]["used"] += sum(upload.length for upload in unfinished)
    usage["uploads"] = {"used": len(unfinished), "limit": get_settings().quotas.uploads}
    return usage


def reserved_by_uploads(owner_id: str) -> int:
    """The bytes the owner's unfinished resumable uploads declared: staged already, as far
    as room goes (intake's upload policy counts only registered files)."""
    return sum(upload.length for upload in upload_area().unfinished(owner_id))


def room_for_file(policy: dict, reserved: int = 0) -> int:
    """The most bytes one more file of a deposit may have (intake's `upload_policy`): the
    profile's limit, and the staged bytes left beside `reserved` ones."""
    staged = policy["quota"]["staged_bytes"]
    return max(min(policy["max_file_size"], staged["limit"] - staged["used"] - reserved), 0)
