"""Intake: deposit profiles and deposits. Entrypoints only; the work is in deposits.py."""

import logging

from nameko.timer import timer

from kernel.contracts.actors import SYSTEM, Actor
from kernel.contracts.approval import ReviewMetadataRequest, decision_schema
from kernel.contracts.deposits import (
    AddFileRequest,
    CreateDepositRequest,
    DepositActionRequest,
    DepositPageView,
    DepositRequest,
    DepositStatisticsRequest,
    DepositStatisticsView,
    DepositView,
    FileRequest,
    FileSchema,
    ListDepositsRequest,
    NewVersionRequest,
    SearchDepositsRequest,
    UpdateDepositRequest,
)
from kernel.contracts.events import dedupe_key
from kernel.contracts.exceptions import Forbidden, InvalidInput
from kernel.contracts.profiles import (
    ListProfilesRequest,
    ProfileRequest,
    ProfileVersionView,
    ProfileView,
    SaveProfileRequest,
)
from kernel.contracts.quotas import QuotaUsageView
from kernel.contracts.rpc import ActorRequest, rpc_contract
from kernel.contracts.validation import validation_report_schema
from kernel.platform.config import get_settings
from kernel.platform.db import utcnow
from kernel.platform.dead_letters import DeadLetterDesk
from kernel.platform.dependencies import FileStorage, Store
from kernel.platform.messaging import ServiceRpc, handles_event, rpc
from kernel.policy.permissions import Action, can, require
from services.intake import deposits, expiry, lifecycle, quotas, statistics, versions
from services.intake.schemas import deposit_page, deposit_view, file_view, version_view

log = logging.getLogger(__name__)


class IntakeService(DeadLetterDesk):
    name = "intake"

    store = Store()
    storage = FileStorage()
    approval = ServiceRpc("approval")
    inventory = ServiceRpc("inventory")

    # --- profiles -----------------------------------------------------------

    @rpc
    @rpc_contract(ListProfilesRequest, ProfileView(many=True))
    def list_profiles(self, actor, include_inactive, mediated):
        actor = Actor.from_wire(actor)
        with self.store.reading() as session:
            return deposits.list_profiles(session, actor, include_inactive, mediated)

    @rpc
    @rpc_contract(ProfileRequest, ProfileView())
    def get_profile(self, actor, profile_id, version):
        actor = Actor.from_wire(actor)
        with self.store.reading() as session:
            return deposits.usable_profile(session, actor, profile_id, version)

    @rpc
    @rpc_contract(ProfileRequest, ProfileVersionView(many=True))
    def profile_versions(self, actor, profile_id, version):
        actor = Actor.from_wire(actor)
        require(actor, Action.MANAGE_PROFILES)
        with self.store.reading() as session:
            return [version_view(v) for v in deposits.profile_versions(session, profile_id)]

    @rpc
    @rpc_contract(SaveProfileRequest, ProfileView())
    def save_profile(self, actor, profile_id, definition, create):
        actor = Actor.from_wire(actor)
        require(actor, Action.MANAGE_PROFILES)
        if definition["target_collection"] not in {
            collection["id"] for collection in self.inventory.list_collections()
        }:
            raise InvalidInput(
                "There is no such collection.", fields={"target_collection": ["unknown collection"]}
            )
        with self.store.unit_of_work() as uow:
            return deposits.save_profile(uow, actor, profile_id, definition, create)

    # --- deposits -----------------------------------------------------------

    @rpc
    @rpc_contract(CreateDepositRequest, DepositView())
    def create_deposit(self, actor, profile_id, metadata, on_behalf_of, origin):
        # `origin` (a campus system's request) is in the contract; intake keeps it once the
        # systems work lands, until then it is taken and not stored
        del origin
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            deposit = deposits.create_deposit(
                uow,
                actor,
                profile_id,
                metadata,
                Actor.from_wire(on_behalf_of) if on_behalf_of else None,
                get_settings().quotas,
            )
            return deposit_view(deposit, actor)

    @rpc
    @rpc_contract(NewVersionRequest, DepositView())
    def start_new_version(self, actor, item_id):
        """A draft prefilled from the archived item's deposit, to become its next version."""
        actor = Actor.from_wire(actor)
        item = self.inventory.get_item(item_id=item_id)
        with self.store.unit_of_work() as uow:
            deposit = versions.start_new_version(uow, actor, item, get_settings().quotas)
            return deposit_view(deposit, actor)

    @rpc
    @rpc_contract(DepositRequest, DepositView())
    def get_deposit(self, actor, deposit_id):
        actor = Actor.from_wire(actor)
        with self.store.reading() as session:
            deposit = deposits.get_deposit(session, actor, deposit_id)
            return deposit_view(deposit, actor)

    @rpc
    @rpc_contract(ListDepositsRequest, DepositPageView())
    def list_deposits(self, actor, status, depositor_id, page, per_page):
        actor = Actor.from_wire(actor)
        with self.store.reading() as session:
            return deposit_page(
                deposits.list_deposits(session, actor, status, depositor_id, page, per_page)
            )

    @rpc
    @rpc_contract(SearchDepositsRequest, DepositPageView())
    def search_deposits(
        self, actor, status, profile_id, title, depositor_ids, depositor_id, page, per_page
    ):
        actor = Actor.from_wire(actor)
        with self.store.reading() as session:
            return deposit_page(
                deposits.search_deposits(
                    session,
                    actor,
                    status,
                    profile_id,
                    title,
                    depositor_ids,
                    depositor_id,
                    page,
                    per_page,
                )
            )

    @rpc
    @rpc_contract(DepositStatisticsRequest, DepositStatisticsView())
    def deposit_statistics(self, actor, weeks):
        actor = Actor.from_wire(actor)
        if not can(actor, Action.SEE_ALL_DEPOSITS):
            raise Forbidden("The dashboard is for staff.")
        with self.store.reading() as session:
            return statistics.deposit_statistics(session, weeks)

    @rpc
    @rpc_contract(UpdateDepositRequest, DepositView())
    def update_deposit(self, actor, deposit_id, metadata, accept_terms, access):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            deposit = deposits.update_deposit(
                uow, actor, deposit_id, metadata, accept_terms, access
            )
            return deposit_view(deposit, actor)

    @rpc
    @rpc_contract(ReviewMetadataRequest, DepositView())
    def review_metadata(self, actor, deposit_id, metadata):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            return deposit_view(deposits.review_metadata(uow, actor, deposit_id, metadata), actor)

    @rpc
    @rpc_contract(DepositRequest)
    def upload_policy(self, actor, deposit_id):
        actor = Actor.from_wire(actor)
        with self.store.reading() as session:
            return deposits.upload_policy(session, actor, deposit_id, get_settings().quotas)

    @rpc
    @rpc_contract(ActorRequest, QuotaUsageView())
    def quota_usage(self, actor):
        """The actor's own drafts and staged bytes against their limits."""
        actor = Actor.from_wire(actor)
        with self.store.reading() as session:
            return quotas.usage(session, actor.id, get_settings().quotas)

    @rpc
    @rpc_contract(AddFileRequest, FileSchema())
    def add_file(self, actor, deposit_id, file):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            return file_view(deposits.add_file(uow, actor, deposit_id, file, get_settings().quotas))

    @rpc
    @rpc_contract(FileRequest)
    def remove_file(self, actor, deposit_id, file_id):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            storage_key = deposits.remove_file(uow, actor, deposit_id, file_id)
        self.storage.delete(storage_key)

    @rpc
    @rpc_contract(DepositRequest, DepositView())
    def submit(self, actor, deposit_id):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            deposit = deposits.submit(uow, actor, deposit_id)
            return deposit_view(deposit, actor)

    @rpc
    @rpc_contract(DepositActionRequest, DepositView())
    def withdraw(self, actor, deposit_id, note):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            deposit = deposits.withdraw(uow, actor, deposit_id, note, self.approval.cancel_review)
            return deposit_view(deposit, actor)

    # --- outcomes -----------------------------------------------------------

    @handles_event("validation", "deposit_validated")
    def on_deposit_validated(self, event):
        action = lifecycle.StartReview if event["passed"] else lifecycle.FailChecks
        report = validation_report_schema.dump(event["report"])
        with self.store.unit_of_work() as uow:
            deposits.apply_outcome(
                uow,
                dedupe_key("validation", "deposit_validated", event),
                event["deposit_id"],
                event["revision"],
                action,
                SYSTEM.person_ref(),
                reason_code=None if event["passed"] else "checks_failed",
                validation_report=report,
            )

    @handles_event("approval", "deposit_approved")
    def on_deposit_approved(self, event):
        self._decided("deposit_approved", lifecycle.Approve, event)

    @handles_event("approval", "deposit_declined")
    def on_deposit_declined(self, event):
        self._decided("deposit_declined", lifecycle.Decline, event)

    @handles_event("approval", "deposit_returned")
    def on_deposit_returned(self, event):
        self._decided("deposit_returned", lifecycle.Return, event)

    def _decided(self, event_type, action, event):
        decision = event["decision"]
        with self.store.unit_of_work() as uow:
            deposits.apply_outcome(
                uow,
                dedupe_key("approval", event_type, event),
                event["deposit_id"],
                event["revision"],
                action,
                decision["actor"],
                decision["reason_code"],
                decision["note"],
                reason_label=decision.get("reason_label"),
            )

    @handles_event("inventory", "item_created")
    def on_item_created(self, event):
        decision = decision_schema.dump(event["decision"])
        with self.store.unit_of_work() as uow:
            deposits.apply_outcome(
                uow,
                dedupe_key("inventory", "item_created", event),
                event["deposit_id"],
                event["revision"],
                lifecycle.Archive,
                SYSTEM.person_ref(),
                implied_decision=decision,
                item_id=event["item_id"],
                item_identifier=event["identifier"],
                item_doi=event["doi"],
            )

    # --- abandoned drafts ---------------------------------------------------

    @timer(interval=get_settings().quotas.draft_expiry_interval)
    def expire_drafts(self):
        """Warn about drafts nearing their end, then remove those whose time is up."""
        settings, now = get_settings().quotas, utcnow()
        while True:
            with self.store.unit_of_work() as uow:
                warned = expiry.warn_untouched(uow, now, settings)
            if warned < expiry.BATCH:
                break
        while True:
            with self.store.unit_of_work() as uow:
                removed, keys = expiry.remove_abandoned(uow, now, settings)
            for key in keys:  # after commit: a file is never gone while its record stays
                self.storage.delete(key)
            if removed:
                log.info("removed %d abandoned drafts", removed)
            if removed < expiry.BATCH:
                return
