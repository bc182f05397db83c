"""Inventory's models as the contracts' view dictionaries."""

from services.inventory import search, versions
from services.inventory.models import Collection, Item, ItemCorrection, ItemFile


def item_file_view(item_file: ItemFile) -> dict:
    return {
        "id": item_file.id,
        "filename": item_file.filename,
        "size": item_file.size,
        "sha256": item_file.sha256,
        "media_type": item_file.media_type,
        "storage_key": item_file.storage_key,
        "technical": item_file.technical,
    }


def item_view(item: Item) -> dict:
    return {
        "id": item.id,
        "identifier": item.identifier,
        "deposit_id": item.deposit_id,
        "collection": item.collection_id,
        "access": item.access,
        "embargo_until": item.embargo_until,
        "record": item.record,
        "resource_type": item.resource_type,
        "created_at": item.created_at,
        "creators": item.creators,
        "withdrawn_at": item.withdrawn_at,
        "withdrawal_reason": item.withdrawal_reason,
        "doi": item.doi,
        "embargo_lifted_at": item.embargo_lifted_at,
        "representations": [
            {
                "id": r.id,
                "usage": r.usage,
                "label": r.label,
                "files": [item_file_view(f) for f in r.files],
            }
            for r in item.representations
        ],
        **versions.view(item),
    }


def collection_view(collection: Collection, item_count: int = 0) -> dict:
    return {
        "id": collection.id,
        "name": collection.name,
        "parent_id": collection.parent_id,
        "description": collection.description,
        "set_spec": collection.set_spec,
        "item_count": min(item_count, search.RESULT_CAP),
        "item_count_exact": item_count <= search.RESULT_CAP,
    }


def item_summary(item: Item) -> dict:
    record = item.record
    return {
        "id": item.id,
        "identifier": item.identifier,
        "title": (record.get("title") or [""])[0],
        "creators": [search.without_orcid(name) for name in record.get("creator", [])],
        "year": item.year,
        "collection": item.collection_id,
        "access": item.access,
        "embargo_until": item.embargo_until,
        "description": (record.get("description") or [""])[0][:400],
    }


def correction_view(correction: ItemCorrection) -> dict:
    return {
        "id": correction.id,
        "item_id": correction.item_id,
        "actor": correction.actor,
        "at": correction.at,
        "reason": correction.reason,
        "changes": correction.changes,
    }
