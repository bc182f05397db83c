"""Validation: automatic checks on submitted deposits. Entrypoints only; checks are in checks.py."""

from sqlalchemy import select

from kernel.contracts.events import dedupe_key, new_event
from kernel.contracts.exceptions import NotFound
from kernel.contracts.rpc import rpc_contract
from kernel.contracts.validation import (
    CheckFileRequest,
    DepositReportRequest,
    FileReportSchema,
    PrechecksRequest,
    PrechecksView,
    ValidationReportSchema,
    validation_report_schema,
)
from kernel.platform.dead_letters import DeadLetterDesk
from kernel.platform.dependencies import FileStorage, Store
from kernel.platform.messaging import handles_event, rpc
from services.validation import inspection
from services.validation.models import Precheck, ValidationReport
from services.validation.scanner import Clamd


class ValidationService(DeadLetterDesk):
    name = "validation"

    store = Store()
    storage = FileStorage()

    @handles_event("intake", "deposit_submitted")
    def on_deposit_submitted(self, event):
        key = dedupe_key("intake", "deposit_submitted", event)
        with self.store.reading() as session:  # a redelivery need not scan again
            if (
                session.scalar(
                    select(ValidationReport.id).where(
                        ValidationReport.deposit_id == event["deposit_id"],
                        ValidationReport.revision == event["revision"],
                    )
                )
                is not None
            ):
                return
        report, deposit = inspection.validate_deposit(
            self.storage, event["deposit"], Clamd.from_settings()
        )
        with self.store.unit_of_work() as uow:
            if not uow.first_time(key):
                return
            dumped = validation_report_schema.dump(report)
            uow.session.add(
                ValidationReport(
                    deposit_id=deposit["id"],
                    revision=deposit["revision"],
                    passed=report["passed"],
                    report=dumped,
                )
            )
            uow.emit(
                "deposit_validated",
                new_event(
                    "validation",
                    "deposit_validated",
                    deposit_id=deposit["id"],
                    revision=deposit["revision"],
                    passed=report["passed"],
                    report=dumped,
                    deposit=deposit,
                ),
            )

    @rpc
    @rpc_contract(DepositReportRequest, ValidationReportSchema())
    def get_report(self, deposit_id, revision):
        with self.store.reading() as session:
            row = session.scalar(
                select(ValidationReport).where(
                    ValidationReport.deposit_id == deposit_id, ValidationReport.revision == revision
                )
            )
            if row is None:
                raise NotFound("No report yet for that revision.")
            return validation_report_schema.load(row.report)

    @rpc
    @rpc_contract(CheckFileRequest, FileReportSchema())
    def check_file(self, storage_key, filename, file_rules, file_id):
        """The quick pre-check at upload time (see inspection.py for what it runs)."""
        if not self.storage.exists(storage_key):
            raise NotFound("There is no such uploaded file.")
        report = inspection.precheck(self.storage, storage_key, filename, file_rules)
        if file_id is not None:
            report["file_id"] = file_id
            with self.store.unit_of_work() as uow:
                uow.session.merge(Precheck(file_id=file_id, report=FileReportSchema().dump(report)))
        return report

    @rpc
    @rpc_contract(PrechecksRequest, PrechecksView())
    def prechecks(self, file_ids):
        """The kept pre-checks of these files (those that have one)."""
        with self.store.reading() as session:
            rows = session.scalars(select(Precheck).where(Precheck.file_id.in_(file_ids)))
            return {"prechecks": {row.file_id: row.report for row in rows}}
