"""Inventory: items in collections. Entrypoints only; the work is in records.py and the
modules beside it (collections, search, access, fixity, identifiers)."""

import logging
from datetime import date

from nameko.timer import timer
from sqlalchemy import select

from kernel.contracts.actors import Actor
from kernel.contracts.approval import decision_schema
from kernel.contracts.events import dedupe_key
from kernel.contracts.exceptions import Conflict, Forbidden, RefusedMessage
from kernel.contracts.inventory import (
    BagExportView,
    CollectionIdRequest,
    CollectionRequest,
    CollectionSummaryView,
    CollectionView,
    CorrectionView,
    CorrectItemRequest,
    DoiRegistrationView,
    DoiRequest,
    FileProvenanceView,
    FixityAuditView,
    FixityReportView,
    ItemEventsRequest,
    ItemFileRequest,
    ItemPageRequest,
    ItemRequest,
    ItemView,
    ResolvedView,
    ResolveRequest,
    SaveCollectionRequest,
    SearchPageView,
    SearchRequest,
    StoredFileView,
    WithdrawItemRequest,
)
from kernel.contracts.oai import (
    HarvestPageView,
    HarvestRequest,
    OaiRecordRequest,
    OaiRecordView,
    RepositorySummaryView,
)
from kernel.contracts.rpc import ActorRequest, NoArguments, rpc_contract
from kernel.contracts.sitemaps import (
    SitemapPageView,
    SitemapPartRequest,
    SitemapStateView,
    SitemapSummaryRequest,
    SitemapSummaryView,
)
from kernel.contracts.usage import (
    CollectionTopItemsView,
    RecordedUsageView,
    RecordUsageRequest,
    TopItemsRequest,
    UsageReportRequest,
    UsageReportView,
)
from kernel.platform.config import get_settings
from kernel.platform.db import utcnow
from kernel.platform.dead_letters import DeadLetterDesk
from kernel.platform.dependencies import FileStorage, Store
from kernel.platform.messaging import handles_event, rpc
from kernel.policy.permissions import Action, can, require
from services.inventory import (
    access,
    bags,
    collections,
    corrections,
    dois,
    fixity,
    identifiers,
    oai,
    records,
    renderings,
    search,
    sitemaps,
    usage,
)
from services.inventory.models import Item
from services.inventory.schemas import (
    collection_view,
    correction_view,
    item_file_view,
    item_summary,
    item_view,
)

log = logging.getLogger(__name__)
SETTINGS = get_settings()
identifiers.check_prefix(SETTINGS.identifiers.prefix)  # a bad prefix stops the service at start


def require_staff(actor: Actor) -> None:
    if not can(actor, Action.SEE_ALL_DEPOSITS):
        raise Forbidden("This is for library staff.")


class InventoryService(DeadLetterDesk):
    name = "inventory"

    store = Store()
    storage = FileStorage()

    @handles_event("approval", "deposit_approved")
    def on_deposit_approved(self, event):
        key = dedupe_key("approval", "deposit_approved", event)
        deposit = event["deposit"]
        records.check_staged(deposit)
        settings = get_settings()
        with self.store.reading() as session:
            exists = session.scalar(select(Item.id).where(Item.deposit_id == deposit["id"]))
        if not exists:
            copies = {
                stored["id"]: records.copy_to_permanent(self.storage, deposit["id"], stored)
                for stored in deposit["files"]
            }
            decision = decision_schema.dump(event["decision"])
            with self.store.unit_of_work() as uow:
                if uow.first_time(key):
                    records.create_item(
                        uow,
                        settings.identifiers.prefix,
                        deposit,
                        decision,
                        copies,
                        doi_prefix=settings.datacite.prefix if settings.datacite.enabled else None,
                    )
        # the staging copies go only once the verified permanent copies are committed
        for stored in deposit["files"]:
            self.storage.delete(stored["storage_key"])

    # --- DOIs ----------------------------------------------------------------------

    @handles_event("inventory", "doi_sync_requested")
    def on_doi_sync_requested(self, event):
        """Send DataCite the item's current metadata; a failure raises, so the message
        retries through the delay queues and then waits as a dead letter."""
        settings = get_settings()
        if not settings.datacite.enabled:
            raise RefusedMessage(f"DOI {event['doi']}: DataCite is off (LODGE_DATACITE_ENABLED)")
        dois.sync(
            self.store.database,
            dois.DataCite(settings.datacite),
            event["doi"],
            settings.site.base_url,
            settings.site.repository_name,
        )

    @rpc
    @rpc_contract(ItemRequest)
    def datacite_metadata(self, item_id):
        """The item's DataCite metadata (kernel 4 JSON attributes), as its DOI carries it."""
        settings = get_settings()
        with self.store.reading() as session:
            item = records.get_item(session, item_id)
            return dois.item_metadata(
                session, item, item.doi, settings.site.base_url, settings.site.repository_name
            )

    @rpc
    @rpc_contract(ItemEventsRequest, DoiRegistrationView(many=True))
    def doi_registrations(self, actor, item_id):
        """The item's DOIs and how their registration stands, for the staff."""
        require_staff(Actor.from_wire(actor))
        with self.store.reading() as session:
            records.get_item(session, item_id)
            return [dois.registration_view(row) for row in dois.registrations_of(session, item_id)]

    @rpc
    @rpc_contract(DoiRequest, DoiRegistrationView())
    def retry_doi(self, actor, doi):
        """Ask again for the DOI's registration (a manager, after a failure)."""
        require(Actor.from_wire(actor), Action.MANAGE_DOIS)
        with self.store.unit_of_work() as uow:
            row = dois.registration(uow.session, doi)
            dois.request_sync(uow, records.get_item(uow.session, row.item_id))
            return dois.registration_view(row)

    @rpc
    @rpc_contract(ItemPageRequest, ItemView())
    def get_item(self, item_id, with_usage, with_collection):
        with self.store.reading() as session:
            item = records.get_item(session, item_id)
            view = item_view(item)
            if with_usage:
                view["usage"] = usage.item_totals(session, item_id)
            if with_collection:
                view["collection_name"] = collections.get(session, item.collection_id).name
            return view

    @rpc
    @rpc_contract(ItemFileRequest, StoredFileView())
    def get_item_file(self, item_id, file_id):
        with self.store.reading() as session:
            return item_file_view(records.get_item_file(session, item_id, file_id))

    @rpc
    @rpc_contract(ResolveRequest, ResolvedView())
    def resolve_identifier(self, identifier):
        with self.store.reading() as session:
            item = records.resolve(session, identifier)
            return {"item_id": item.id, "identifier": item.identifier}

    # --- search and browse ---------------------------------------------------------

    @rpc
    @rpc_contract(SearchRequest, SearchPageView())
    def search_items(self, query, year, collection, page, per_page):
        with self.store.reading() as session:
            set_spec = collections.get(session, collection).set_spec if collection else None
            found = search.results(
                session, query, year, set_spec, page, per_page, beside=self.store.read_beside
            )
            return {
                **found,
                "items": [item_summary(item) for item in found["items"]],
                "page": page,
                "per_page": per_page,
                "years": [{"year": y, "count": n} for y, n in found["years"]],
            }

    # --- collections ---------------------------------------------------------------

    @rpc
    @rpc_contract(NoArguments, CollectionSummaryView(many=True))
    def list_collections(self):
        with self.store.reading() as session:
            counts = collections.item_counts(session)
            return [
                collection_view(collection, counts.get(collection.id, 0))
                for collection in collections.all_collections(session)
            ]

    # --- withdrawal and OAI-PMH ----------------------------------------------------

    @rpc
    @rpc_contract(WithdrawItemRequest, ItemView())
    def withdraw_item(self, actor, item_id, reason):
        actor = Actor.from_wire(actor)
        require(actor, Action.WITHDRAW_ITEMS)
        with self.store.unit_of_work() as uow:
            return item_view(records.withdraw_item(uow, actor, item_id, reason))

    # --- corrections ----------------------------------------------------------------

    @rpc
    @rpc_contract(CorrectItemRequest, ItemView())
    def correct_item(self, actor, item_id, record, creators, reason):
        """A manager's correction of an archived item's metadata, with its reason."""
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            item = corrections.correct(uow, actor, item_id, record, creators, reason)
            uow.session.flush()
            return item_view(item)

    @rpc
    @rpc_contract(ItemEventsRequest, CorrectionView(many=True))
    def item_corrections(self, actor, item_id):
        """The item's corrections, newest first: for staff."""
        require_staff(Actor.from_wire(actor))
        with self.store.reading() as session:
            item = records.get_item(session, item_id)
            return [correction_view(c) for c in corrections.history(session, item)]

    @rpc
    @rpc_contract(HarvestRequest, HarvestPageView())
    def harvest(self, **page):
        settings = get_settings()
        with self.store.reading() as session:
            found, fresh = oai.harvest(
                session,
                **page,
                base_url=settings.site.base_url,
                repository_name=settings.site.repository_name,
            )
        renderings.keep(self.store, fresh)
        return found

    @rpc
    @rpc_contract(OaiRecordRequest, OaiRecordView())
    def oai_record(self, identifier, metadata_prefix):
        settings = get_settings()
        with self.store.reading() as session:
            found, fresh = oai.get_record(
                session,
                identifier,
                metadata_prefix,
                settings.site.base_url,
                settings.site.repository_name,
            )
        renderings.keep(self.store, fresh)
        return found

    @rpc
    @rpc_contract(NoArguments, RepositorySummaryView())
    def repository_summary(self):
        with self.store.reading() as session:
            return {"earliest_datestamp": oai.earliest_datestamp(session)}

    # --- sitemaps ------------------------------------------------------------------

    @rpc
    @rpc_contract(NoArguments, SitemapStateView())
    def sitemap_state(self):
        with self.store.reading() as session:
            return sitemaps.state(session)

    @rpc
    @rpc_contract(SitemapSummaryRequest, SitemapSummaryView())
    def sitemap_summary(self, part_size):
        with self.store.reading() as session:
            return sitemaps.summary(session, part_size)

    @rpc
    @rpc_contract(SitemapPartRequest, SitemapPageView())
    def sitemap_part(self, part, part_size):
        with self.store.reading() as session:
            return sitemaps.part(session, part, part_size)

    @rpc
    @rpc_contract(CollectionIdRequest, CollectionView())
    def get_collection(self, collection_id):
        with self.store.reading() as session:
            collection = collections.get(session, collection_id)
            counts = collections.item_counts(session)
            children = [
                child
                for child in collections.all_collections(session)
                if child.parent_id == collection.id
            ]
            return {
                **collection_view(collection, counts.get(collection.id, 0)),
                "ancestors": [
                    collection_view(a) for a in collections.ancestors(session, collection)
                ],
                "children": [collection_view(child, counts.get(child.id, 0)) for child in children],
            }

    @rpc
    @rpc_contract(SaveCollectionRequest, CollectionSummaryView())
    def save_collection(self, actor, collection_id, name, description, parent_id, create):
        with self.store.unit_of_work() as uow:
            collection = collections.save(
                uow.session,
                Actor.from_wire(actor),
                collection_id,
                name,
                description,
                parent_id,
                create,
            )
            uow.session.flush()
            return collection_view(collection)

    @rpc
    @rpc_contract(CollectionRequest)
    def delete_collection(self, actor, collection_id):
        with self.store.unit_of_work() as uow:
            collections.delete(uow.session, Actor.from_wire(actor), collection_id)

    # --- access --------------------------------------------------------------------

    @timer(interval=SETTINGS.timers.embargo_interval)
    def lift_embargoes(self):
        """Open items whose embargo has ended; each one emits `embargo_lifted`."""
        while True:
            with self.store.unit_of_work() as uow:
                lifted = access.lift_expired_embargoes(uow, date.today())
            if lifted:
                log.info("lifted the embargo of %d items", len(lifted))
            if len(lifted) < access.BATCH:
                return

    # --- fixity --------------------------------------------------------------------

    @timer(interval=SETTINGS.timers.fixity_interval)
    def audit_fixity(self):
        """Re-hash the files checked longest ago; the next tick if an audit is running."""
        try:
            return self._audit()
        except Conflict:
            log.info("fixity audit skipped: one is running already")
            return None

    @rpc
    @rpc_contract(ActorRequest, FixityAuditView())
    def run_fixity_audit(self, actor):
        """The audit on demand, from the staff fixity page; Conflict while one runs."""
        require_staff(Actor.from_wire(actor))
        return self._audit()

    def _audit(self):
        outcome = fixity.audit(
            self.store.database, self.storage, get_settings().timers.fixity_batch_size
        )
        if outcome["failed"]:
            log.warning("fixity audit: %(failed)d of %(checked)d files failed", outcome)
        return outcome

    @rpc
    @rpc_contract(ActorRequest, FixityReportView())
    def fixity_report(self, actor):
        require_staff(Actor.from_wire(actor))
        with self.store.reading() as session:
            return fixity.report(session)

    @rpc
    @rpc_contract(ActorRequest)
    def fixity_failures(self, actor):
        """How many files fail their fixity check: the staff pages' alert."""
        require_staff(Actor.from_wire(actor))
        with self.store.reading() as session:
            return fixity.failing_count(session)

    @rpc
    @rpc_contract(ItemEventsRequest, FileProvenanceView(many=True))
    def file_events(self, actor, item_id):
        require_staff(Actor.from_wire(actor))
        with self.store.reading() as session:
            return fixity.file_events(session, records.get_item(session, item_id))

    # --- preservation export -------------------------------------------------------

    @timer(interval=SETTINGS.preservation.bag_export_interval)
    def export_bags(self):
        """A batch of BagIt bags: the items staff asked for, and with LODGE_BAG_EXPORT_SCHEDULED
        every item new or changed since its last export; the next tick if a run is going."""
        settings = get_settings()
        try:
            outcome = bags.run(
                self.store.database,
                self.storage,
                bags.target_for(settings.preservation.bag_target, settings.storage),
                settings.preservation.bag_export_batch_size,
                settings.preservation.bag_export_scheduled,
                settings.site.base_url,
                settings.site.repository_name,
            )
        except Conflict:
            log.info("bag export skipped: one is running already")
            return None
        if outcome["exported"] or outcome["failed"]:
            log.info("bag export: %(exported)d exported, %(failed)d failed", outcome)
        return outcome

    @rpc
    @rpc_contract(ItemEventsRequest, BagExportView())
    def bag_export(self, actor, item_id):
        """When the item was last exported, where to, and whether an export is asked for."""
        require_staff(Actor.from_wire(actor))
        with self.store.reading() as session:
            return bags.status(session, records.get_item(session, item_id).id)

    @rpc
    @rpc_contract(ItemEventsRequest, BagExportView())
    def request_bag_export(self, actor, item_id):
        """Export the item at the bag export's next run (the bag export timer)."""
        actor = Actor.from_wire(actor)
        require(actor, Action.EXPORT_BAGS)
        with self.store.unit_of_work() as uow:
            return bags.request(uow.session, actor, records.get_item(uow.session, item_id).id)

    # --- usage statistics (COUNTER) -------------------------------------------------

    @rpc
    @rpc_contract(RecordUsageRequest, RecordedUsageView())
    def record_usage(self, batch_id, hits):
        """A gateway's batch of views and downloads, applied once by its id."""
        with self.store.unit_of_work() as uow:
            return usage.record(uow, batch_id, hits)

    @rpc
    @rpc_contract(UsageReportRequest, UsageReportView())
    def usage_report(self, actor, begin, end, collection):
        require(Actor.from_wire(actor), Action.SEE_USAGE)
        with self.store.reading() as session:
            return usage.report(session, begin, end, collection)

    @rpc
    @rpc_contract(TopItemsRequest, CollectionTopItemsView(many=True))
    def top_items(self, actor, limit):
        require(Actor.from_wire(actor), Action.SEE_USAGE)
        with self.store.reading() as session:
            return usage.top_items(session, limit)

    @timer(interval=usage.FORGET_EVERY_SECONDS)
    def forget_old_usage_state(self):
        """What the double-click and session rules no longer look back at."""
        with self.store.unit_of_work() as uow:
            usage.forget_old_state(uow.session, utcnow())
