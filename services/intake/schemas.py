"""Intake's models as the contracts' view dictionaries."""

from kernel.contracts.actors import Actor
from services.intake.deposits import allowed_actions
from services.intake.models import Deposit, DepositFile, ProfileVersion


def file_view(record: DepositFile) -> dict:
    return {
        "id": record.id,
        "filename": record.filename,
        "size": record.size,
        "sha256": record.sha256,
        "md5": record.md5,
        "media_type": record.media_type,
        "storage_key": record.storage_key,
    }


def deposit_summary(deposit: Deposit) -> dict:
    return {
        "id": deposit.id,
        "profile_id": deposit.profile_id,
        "status": deposit.status,
        "revision": deposit.revision,
        "title": deposit.title,
        "depositor": deposit.depositor,
        "item_id": deposit.item_id,
        "updated_at": deposit.updated_at,
        "mediated_by": deposit.mediated_by,
    }


def deposit_view(deposit: Deposit, actor: Actor) -> dict:
    """The deposit as `actor` sees it, with the actions open to them now."""
    return {
        **deposit_summary(deposit),
        "profile_version": deposit.profile_version,
        "metadata": deposit.meta,
        "files": [file_view(f) for f in deposit.files],
        "history": [
            {
                "revision": h.revision,
                "from_status": h.from_status,
                "to_status": h.to_status,
                "actor": h.actor,
                "reason_code": h.reason_code,
                "reason_label": h.reason_label,
                "note": h.note,
                "at": h.at,
            }
            for h in deposit.history
        ],
        "validation_report": deposit.validation_report,
        "item_identifier": deposit.item_identifier,
        "item_doi": deposit.item_doi,
        "access": {"policy": deposit.access_policy, "embargo_until": deposit.embargo_until},
        "terms_accepted_at": deposit.terms_accepted_at,
        "terms_version": deposit.terms_version,
        "allowed_actions": allowed_actions(actor, deposit),
        "created_at": deposit.created_at,
        "new_version_of": deposit.new_version_of,
        "origin": deposit.origin,
    }


def deposit_page(page: dict) -> dict:
    return {**page, "items": [deposit_summary(d) for d in page["items"]]}


def version_view(version: ProfileVersion) -> dict:
    return {
        "version": version.version,
        "created_by": version.created_by,
        "created_at": version.created_at,
    }
