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


def room_beside_uploads(policy: dict, owner_id: str) -> int:
    """Staged bytes left for a plain upload once the owner's unfinished uploads have what
    they declared (intake's upload policy counts only registered files)."""
    staged = policy["quota"]["staged_bytes"]
    reserved = sum(upload.length for upload in upload_area().unfinished(owner_id))
    return staged["limit"] - staged["used"] - reserved
