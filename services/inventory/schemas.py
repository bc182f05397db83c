"""Inventory's models as the contracts' view dictionaries."""
from services.inventory.models import Collection, Item, ItemFile


def item_file_view(item_file: ItemFile) -> dict:
    return {"id": item_file.id, "filename": item_file.filename, "size": item_file.size,
            "sha256": item_file.sha256, "media_type": item_file.media_type,
            "storage_key": item_file.storage_key, "technical": item_file.technical}


def item_view(item: Item) -> dict:
    return {
        "id": item.id, "identifier": item.identifier, "deposit_id": item.deposit_id,
        "collection": item.collection_id, "access": item.access,
        "embargo_until": item.embargo_until, "record": item.record,
        "created_at": item.created_at, "creators": item.creators,
        "withdrawn_at": item.withdrawn_at, "withdrawal_reason": item.withdrawal_reason,
        "representations": [{
            "id": r.id, "usage": r.usage, "label": r.label,
            "files": [item_file_view(f) for f in r.files],
        } for r in item.representations],
    }


def collection_view(collection: Collection) -> dict:
    return {"id": collection.id, "name": collection.name, "parent_id": collection.parent_id}
