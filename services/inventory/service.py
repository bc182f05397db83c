"""Inventory: items in collections. Entrypoints only; the work is in records.py."""
from sqlalchemy import select

from services.common import contracts as c
from services.common.config import get_settings
from services.common.dependencies import FileStorage, Store
from services.common.messaging import handles_event, rpc
from services.common.auth import require_role
from services.inventory import oai, records
from services.inventory.models import Item
from services.inventory.schemas import collection_view, item_file_view, item_view


class InventoryService:
    name = "inventory"

    store = Store()
    storage = FileStorage()

    @handles_event("approval", "deposit_approved")
    def on_deposit_approved(self, event):
        key = c.dedupe_key("approval", "deposit_approved", event)
        deposit = event["deposit"]
        with self.store.reading() as session:
            exists = session.scalar(select(Item.id).where(Item.deposit_id == deposit["id"]))
        if not exists:
            copies = {}
            for stored in deposit["files"]:
                copy = self.storage.copy(stored["storage_key"],
                                         records.permanent_key(deposit["id"], stored["id"]))
                records.verify_copy(stored, copy)
                copies[stored["id"]] = copy
            decision = c.decision_schema.dump(event["decision"])
            with self.store.unit_of_work() as uow:
                if uow.first_time(key):
                    records.create_item(uow, get_settings().identifier_prefix, deposit, decision,
                                        copies)
        # the staging copies go only once the verified permanent copies are committed
        for stored in deposit["files"]:
            self.storage.delete(stored["storage_key"])

    @rpc
    @c.rpc_contract(c.ItemRequest, c.ItemView())
    def get_item(self, item_id):
        with self.store.reading() as session:
            return item_view(records.get_item(session, item_id))

    @rpc
    @c.rpc_contract(c.ItemFileRequest, c.StoredFileSchema())
    def get_item_file(self, item_id, file_id):
        with self.store.reading() as session:
            return item_file_view(records.get_item_file(session, item_id, file_id))

    @rpc
    @c.rpc_contract(c.NoArguments, c.CollectionSchema(many=True))
    def list_collections(self):
        with self.store.reading() as session:
            return [collection_view(collection) for collection in records.list_collections(session)]

    # --- issue 7: withdrawal and OAI-PMH -------------------------------------------

    @rpc
    @c.rpc_contract(c.WithdrawItemRequest, c.ItemView())
    def withdraw_item(self, actor, item_id, reason):
        require_role(actor, "manager")
        with self.store.unit_of_work() as uow:
            return item_view(records.withdraw_item(uow, item_id, reason))

    @rpc
    @c.rpc_contract(c.HarvestRequest, c.HarvestPageSchema())
    def harvest(self, **page):
        settings = get_settings()
        with self.store.reading() as session:
            return oai.harvest(session, **page, base_url=settings.base_url,
                               repository_name=settings.repository_name)

    @rpc
    @c.rpc_contract(c.OaiRecordRequest, c.OaiRecordSchema())
    def oai_record(self, identifier, metadata_prefix):
        settings = get_settings()
        with self.store.reading() as session:
            return oai.get_record(session, identifier, metadata_prefix, settings.base_url,
                                  settings.repository_name)

    @rpc
    @c.rpc_contract(c.NoArguments, c.RepositorySummarySchema())
    def repository_summary(self):
        with self.store.reading() as session:
            return {"earliest_datestamp": oai.earliest_datestamp(session)}
